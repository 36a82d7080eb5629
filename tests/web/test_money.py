"""Money pages: allocations and sub-allocations, drawing funding, recording payments
(`client` reads the shared demo; every test that posts writes to its own copy: see conftest.py).

A blocking check shows its message in the form and nothing is saved; a warning lets the save
through and shows on the page the form leads to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from cocon import db
from cocon.models import Allocation, FundingLine, Payment, Project
from cocon.web import money_allocations as allocation_pages
from tests.web.conftest import signed_client
from tests.web.forms import csrf_token, field_error

WENHUI = "330105017"
DEMO_2023 = [
    "DX-2023-OWN", "GS-2023", "GS-2023-BS", "GS-2023-DX", "GS-2023-KQ", "GS-2023-SQ",
    "GS-2023-ST", "GS-2023-WH", "GS-2023-XF", "SL-2023", "WH-2023-OWN", "XF-2023-OWN",
]  # fmt: skip


@pytest.fixture
def warn_client(fresh_url: str, backend: str) -> Iterator[TestClient]:
    """Yield a client on a fresh demo copy where over-commitment and overpayment only warn."""
    policies = {"allocation_overcommitted": "warn", "payment_over_drawn": "warn"}
    with signed_client(fresh_url, backend, check_policies=policies) as client:
        yield client


def read(url: str, query):
    """Run query(session) on the database at url, outside the app."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return query(session)
    finally:
        engine.dispose()


def allocation(url: str, code: str) -> Allocation | None:
    statement = select(Allocation).where(Allocation.code == code)
    return read(url, lambda session: session.execute(statement).scalars().first())


def money_state(url: str) -> tuple:
    """Return every money row and figure, to compare before and after a refused save."""

    def query(session):
        rows = []
        for model in (Allocation, FundingLine, Payment, Project):
            rows.append(sorted(tuple(row) for row in session.execute(select(model.__table__))))
        return tuple(tuple(r) for r in rows)

    return read(url, query)


def count(url: str, model) -> int:
    return read(url, lambda session: session.execute(select(func.count(model.id))).scalar_one())


def listed_codes(html: str) -> list[str]:
    """Return the allocation codes a table's rows link to, in order."""
    return re.findall(r'<th scope="row"><a href="/allocations/([^"?]+)', html)


def section(html: str, heading_id: str) -> str:
    start = html.index(f'aria-labelledby="{heading_id}"')
    return html[start : html.index("</section>", start)]


def options(html: str, name: str) -> list[str]:
    """Return the values a form's select offers (without the empty first one)."""
    start = html.index(f'id="f-{name}"')
    return [
        v
        for v in re.findall(
            r'<option value="([^"]*)"', html[start : html.index("</select>", start)]
        )
        if v
    ]


def summary(html: str) -> str:
    start = html.index('class="error-summary"')
    return html[start : html.index("</div>", start)]


# --- the list -------------------------------------------------------------------------------


def test_allocation_list_shows_the_year_in_scope_with_totals(client):
    response = client.get("/allocations?lang=en")
    assert response.status_code == 200
    html = response.text
    assert listed_codes(html) == DEMO_2023  # the district and below; not the city's or province's
    foot = html[html.index("<tfoot>") : html.index("</tfoot>")]
    assert "Total of 12 allocations" in foot
    for amount in ("¥3,610,000.00", "¥2,180,000.00", "¥1,370,000.00", "¥60,000.00"):
        assert amount in foot  # amount, drawn, passed down, remaining
    assert "<dd>¥2,240,000.00</dd>" in html  # held: the amounts less what was passed down
    row = html[html.index('href="/allocations/GS-2023-BS"') :]
    row = row[: row.index("</tr>")]
    assert "(sub-allocation)" in row and "¥140,000.00" in row and "¥60,000.00" in row


def test_allocation_list_stays_in_scope_and_year(client):
    html = client.get(f"/allocations?org={WENHUI}").text
    assert listed_codes(html) == ["GS-2023-WH", "SL-2023", "WH-2023-OWN"]
    assert f'href="/allocations/GS-2023-WH?org={WENHUI}"' in html
    assert client.get("/allocations?org=33").status_code == 404  # never wider than the user's org


def test_allocation_list_of_a_province_admin_holds_the_higher_levels(province_client):
    wide = province_client.get("/allocations?org=33").text
    assert {"ZJ-2023", "HZ-2023", "GS-2023"} <= set(listed_codes(wide))


def test_allocation_list_of_a_year_without_any(client):
    empty = client.get("/allocations?year=2022&lang=en").text
    assert listed_codes(empty) == [] and "No allocations in 2022." in empty
    assert client.get("/allocations?year=abc").status_code == 400


def test_allocation_list_pages_keep_the_totals_of_all(client, monkeypatch):
    monkeypatch.setattr(allocation_pages, "PAGE_SIZE", 5)
    pages = [listed_codes(client.get(f"/allocations?page={n}&lang=en").text) for n in (1, 2, 3)]
    assert pages == [DEMO_2023[:5], DEMO_2023[5:10], DEMO_2023[10:]]
    html = client.get("/allocations?year=2023&page=2").text
    assert 'href="/allocations?year=2023&amp;page=3"' in html
    assert 'href="/allocations?year=2023"' in html  # page 1
    assert "Total of 12 allocations" in html
    last = client.get("/allocations?page=99").text
    assert '<span aria-current="page">3</span>' in last  # past the end shows the last page


# --- one allocation -------------------------------------------------------------------------


def test_allocation_page_shows_subs_draws_and_figures(client):
    response = client.get("/allocations/GS-2023?lang=en")
    assert response.status_code == 200
    html = response.text
    subs = section(html, "subs-title")
    assert listed_codes(subs) == [c for c in DEMO_2023 if c.startswith("GS-2023-")]
    draws = section(html, "draws-title")
    codes = re.findall(r'href="/projects/([^"?]+)', draws)
    assert codes == ["GS-2023-007", "GS-2023-013", "GS-2023-019", "GS-2023-025", "GS-2023-028"]
    figures = section(html, "figures-title")
    assert "¥650,000.00" in figures and "¥1,350,000.00" in figures  # drawn, passed down
    assert "<dd>¥2,000,000.00</dd>" in figures and "Every check passes." in html
    assert 'href="/allocations/GS-2023/edit"' in html
    assert 'href="/allocations/new?parent=GS-2023"' in html


def test_allocation_page_checks_where_its_money_went(client):
    tree = section(client.get("/allocations/GS-2023?lang=en").text, "tree-title")
    cards = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", tree))
    assert cards == {
        "Amount": "¥2,000,000.00",
        "Passed down": "¥1,350,000.00",
        "Drawn directly": "¥650,000.00",
        "Drawn downstream": "¥1,290,000.00",
        "Unspent in its tree": "¥60,000.00",
        "Paid out of it": "¥1,486,000.00",
    }
    assert "半山街道 (GS-2023-BS) ¥60,000.00" in tree
    assert tree.count("街道 ¥") == 7  # passed down to seven streets
    street = section(client.get("/allocations/GS-2023-BS?lang=en").text, "tree-title")
    assert re.search(r"Origin: 拱墅区 \([^)]+\), allocation GS-2023\.", street)


def test_allocation_page_links_its_parent_only_within_scope(client):
    html = client.get("/allocations/GS-2023-WH?lang=en").text
    assert 'href="/allocations/GS-2023"' in html
    assert "拱墅区2023年" not in html and "区级专项资金下拨文晖街道" in html  # its own source note
    street = client.get(f"/allocations/GS-2023-WH?org={WENHUI}&lang=en").text
    assert "GS-2023" in street and 'href="/allocations/GS-2023?' not in street


def test_allocation_outside_scope_or_unknown_is_404(client):
    for path in (
        "/allocations/GS-2023",
        "/allocations/GS-2023/edit",
        "/allocations/new?parent=GS-2023",
    ):
        sep = "&" if "?" in path else "?"
        assert client.get(f"{path}{sep}org={WENHUI}").status_code == 404
    response = client.get("/allocations/NO-SUCH?lang=en")
    assert response.status_code == 404 and "NO-SUCH" in response.text


def test_org_and_project_pages_link_to_the_money_pages(client):
    org = client.get("/orgs/330105?year=2023").text
    assert 'href="/allocations/GS-2023-WH"' in org  # the allocation page has no year
    project = client.get("/projects/GS-2023-004?lang=en").text
    assert 'href="/projects/GS-2023-004/draw"' in section(project, "lines-title")
    assert 'href="/projects/GS-2023-004/pay"' in section(project, "payments-title")


# --- allocate and sub-allocate --------------------------------------------------------------

NEW = {"org": WENHUI, "year": "2024", "amount": "20万", "code": "WH-2024", "source_note": "自筹"}


def test_allocation_form_offers_the_orgs_of_scope(client):
    html = client.get(f"/allocations/new?org={WENHUI}").text
    offered = options(html, "org")
    assert offered[0] == WENHUI and "330105017003" in offered and "330105008" not in offered
    assert 'name="_csrf_token"' in html and 'id="f-parent"' in html
    sub = client.get("/allocations/new?parent=GS-2023&lang=en").text
    assert '<input type="hidden" name="parent" value="GS-2023">' in sub
    assert "330105" not in options(sub, "org") and WENHUI in options(sub, "org")
    assert 'value="2023"' in sub and "Sub-allocate from GS-2023" in sub


def test_allocate_creates_and_shows_the_allocation(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/new")
    response = fresh_client.post(
        "/allocations/new", data={**NEW, "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/allocations/WH-2024?done=created"
    saved = allocation(fresh_url, "WH-2024")
    assert saved.amount_fen == 20_000_000 and saved.year == 2024 and saved.parent_id is None
    html = fresh_client.get(response.headers["location"] + "&lang=en").text
    assert "The allocation was created." in html and "¥200,000.00" in html and "自筹" in html


def test_allocate_without_code_numbers_it(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/new")
    data = {**NEW, "code": "", "amount": "¥2,000,000", "_csrf_token": token}
    response = fresh_client.post(
        f"/allocations/new?org={WENHUI}", data=data, follow_redirects=False
    )
    assert (
        response.headers["location"] == f"/allocations/{WENHUI}-2024-A01?org={WENHUI}&done=created"
    )
    assert allocation(fresh_url, f"{WENHUI}-2024-A01").amount_fen == 200_000_000


def test_allocate_with_errors_keeps_input_and_saves_nothing(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/new")
    before = money_state(fresh_url)
    data = {**NEW, "org": "", "amount": "12..5", "code": "WH/2024", "year": "1999"}
    response = fresh_client.post("/allocations/new?lang=en", data={**data, "_csrf_token": token})
    assert response.status_code == 400
    html = response.text
    assert field_error(html, "org") == "This field is required"
    assert "'12..5' is not an amount" in field_error(html, "amount")
    assert "is not a code" in field_error(html, "code")
    assert "is not a year" in field_error(html, "year")
    assert 'value="12..5"' in html and 'value="WH/2024"' in html and "自筹" in html
    assert 'class="error-summary"' in html
    assert money_state(fresh_url) == before


def test_allocate_refuses_orgs_and_parents_outside_scope(fresh_client, fresh_url):
    token = csrf_token(fresh_client, f"/allocations/new?org={WENHUI}")
    data = {**NEW, "org": "330105008", "parent": "GS-2023", "_csrf_token": token}
    response = fresh_client.post(f"/allocations/new?org={WENHUI}&lang=en", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "org") == "No org has the code 330105008"
    assert field_error(response.text, "parent") == "No allocation has the code GS-2023"
    assert allocation(fresh_url, "WH-2024") is None


def test_allocate_taken_code_is_a_field_error(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/new")
    data = {**NEW, "code": "GS-2023-WH", "_csrf_token": token}
    response = fresh_client.post("/allocations/new?lang=en", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "code") == "This code cannot be used; choose another"
    assert allocation(fresh_url, "GS-2023-WH").year == 2023


def test_sub_allocate_from_a_parent_with_room(fresh_province_client, fresh_url):
    fresh_client = fresh_province_client
    token = csrf_token(fresh_client, "/allocations/new?parent=HZ-2023&org=3301")
    data = {
        "org": "330105",
        "year": "2023",
        "amount": "5万",
        "code": "HZ-2023-GS",
        "_csrf_token": token,
    }
    response = fresh_client.post(
        "/allocations/new?parent=HZ-2023&org=3301", data=data, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/allocations/HZ-2023-GS?org=3301&done=created"
    sub, parent = allocation(fresh_url, "HZ-2023-GS"), allocation(fresh_url, "HZ-2023")
    assert sub.parent_id == parent.id and parent.sub_allocated_fen == 5_000_000
    html = fresh_client.get("/allocations/HZ-2023?org=3301").text
    assert "HZ-2023-GS" in listed_codes(section(html, "subs-title"))


def test_sub_allocation_over_its_parent_is_blocked_and_nothing_saved(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/new?parent=GS-2023")
    before = money_state(fresh_url)
    data = {"org": WENHUI, "year": "2023", "amount": "70万", "code": "", "_csrf_token": token}
    response = fresh_client.post("/allocations/new?parent=GS-2023&lang=en", data=data)
    assert response.status_code == 409
    html = response.text
    message = field_error(html, "amount")
    assert "¥1,350,000.00 already passed down in 7 sub-allocations" in message
    assert "takes them over the parent by ¥50,000.00" in message
    assert "takes them over the parent" in summary(html)
    assert 'value="70万"' in html and '<input type="hidden" name="parent" value="GS-2023">' in html
    assert money_state(fresh_url) == before


def test_sub_allocation_must_go_below_the_parent_org(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/new?parent=GS-2023-WH")
    data = {"org": "330105008052", "year": "2023", "amount": "1000", "_csrf_token": token}
    response = fresh_client.post("/allocations/new?parent=GS-2023-WH&lang=en", data=data)
    assert response.status_code == 400
    assert "is not below it" in field_error(response.text, "parent")
    assert count(fresh_url, Allocation) == 14


def test_sub_allocation_over_parent_with_a_warning_policy_is_saved(warn_client, fresh_url):
    token = csrf_token(warn_client, "/allocations/new?parent=GS-2023")
    data = {
        "org": WENHUI,
        "year": "2023",
        "amount": "1万",
        "code": "GS-2023-WH2",
        "_csrf_token": token,
    }
    response = warn_client.post(
        "/allocations/new?parent=GS-2023", data=data, follow_redirects=False
    )
    assert response.status_code == 303
    assert allocation(fresh_url, "GS-2023-WH2").amount_fen == 1_000_000
    html = warn_client.get(response.headers["location"] + "&lang=en").text
    assert "Some checks fail now" in html
    findings = section(html, "findings-title")
    assert "GS-2023" in findings and "over by ¥10,000.00" in findings and "badge-warn" in findings


# --- edit an allocation ---------------------------------------------------------------------


def test_allocation_edit_shows_values_and_saves(fresh_client, fresh_url):
    html = fresh_client.get("/allocations/WH-2023-OWN/edit").text
    assert 'value="100,000.00"' in html and f'value="{WENHUI}" selected' in html
    token = re.search(r'name="_csrf_token" value="([^"]+)"', html)[1]
    data = {"org": WENHUI, "year": "2023", "amount": "12万", "code": "WH-2023-OWN"}
    data |= {"parent": "", "source_note": "追加", "_csrf_token": token}
    response = fresh_client.post("/allocations/WH-2023-OWN/edit", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/allocations/WH-2023-OWN?done=saved"
    saved = allocation(fresh_url, "WH-2023-OWN")
    assert saved.amount_fen == 12_000_000 and saved.source_note == "追加"


def test_allocation_edit_below_what_is_committed_is_blocked(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/WH-2023-OWN/edit")
    before = money_state(fresh_url)
    data = {
        "org": WENHUI,
        "year": "2023",
        "amount": "9万",
        "code": "WH-2023-OWN",
        "_csrf_token": token,
    }
    response = fresh_client.post("/allocations/WH-2023-OWN/edit?lang=en", data=data)
    assert response.status_code == 409
    assert "¥100,000.00 is already committed, more than the new amount ¥90,000.00" in field_error(
        response.text, "amount"
    )
    assert money_state(fresh_url) == before


def test_allocation_in_use_keeps_its_org_and_year(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/allocations/GS-2023-WH/edit")
    data = {"org": "330105008", "year": "2023", "amount": "25万", "parent": "GS-2023"}
    response = fresh_client.post(
        "/allocations/GS-2023-WH/edit?lang=en", data={**data, "_csrf_token": token}
    )
    assert response.status_code == 400
    assert "its org and year stay as they are" in field_error(response.text, "org")
    assert allocation(fresh_url, "GS-2023-WH").amount_fen == 25_000_000


def test_sub_allocation_of_a_parent_outside_scope_keeps_its_amount(fresh_client, fresh_url):
    path = f"/allocations/GS-2023-WH/edit?org={WENHUI}"
    token = csrf_token(fresh_client, path)
    data = {"org": WENHUI, "year": "2023", "amount": "30万", "parent": "", "_csrf_token": token}
    response = fresh_client.post(path + "&lang=en", data=data)
    assert response.status_code == 400
    assert "lies outside your scope" in field_error(response.text, "amount")
    data |= {"amount": "250,000.00", "source_note": "区级下拨（更正）"}
    response = fresh_client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 303
    saved = allocation(fresh_url, "GS-2023-WH")
    assert saved.source_note == "区级下拨（更正）"
    assert saved.parent_id == allocation(fresh_url, "GS-2023").id  # kept, though not shown


# --- draw funding ---------------------------------------------------------------------------


def test_draw_form_lists_the_allocations_of_the_owner_chain_within_scope(client):
    district = options(client.get("/projects/GS-2023-006/draw").text, "allocation")
    assert district == ["GS-2023", "GS-2023-WH", "WH-2023-OWN"]  # not the city's or province's
    street = options(client.get(f"/projects/GS-2023-006/draw?org={WENHUI}").text, "allocation")
    assert street == ["GS-2023-WH", "WH-2023-OWN"]  # a street does not spend the district's money


def test_draw_form_of_a_province_admin_offers_the_higher_levels(province_client):
    province = options(province_client.get("/projects/GS-2023-006/draw?org=33").text, "allocation")
    assert province == ["ZJ-2023", "HZ-2023", "GS-2023", "GS-2023-WH", "WH-2023-OWN"]


def test_draw_form_starts_from_the_current_line(client):
    html = client.get("/projects/GS-2023-004/draw?allocation=GS-2023-WH").text
    assert '<option value="GS-2023-WH" selected>' in html and 'value="30,000.00"' in html


def test_draw_saves_and_leads_to_the_funding_page(fresh_province_client, fresh_url):
    fresh_client = fresh_province_client
    token = csrf_token(fresh_client, "/projects/GS-2023-006/draw?org=3301")
    data = {"allocation": "HZ-2023", "amount": "3万", "_csrf_token": token}
    response = fresh_client.post(
        "/projects/GS-2023-006/draw?org=3301", data=data, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/projects/GS-2023-006/funding?org=3301&done=drawn"
    assert allocation(fresh_url, "HZ-2023").drawn_fen == 92_000_000
    html = fresh_client.get(response.headers["location"] + "&lang=en").text
    assert "The funding was saved." in html
    assert "HZ-2023" in listed_codes(section(html, "lines-title")) and "¥30,000.00" in html
    project = fresh_client.get("/projects/GS-2023-006?org=3301&lang=en").text
    assert "HZ-2023" in section(project, "lines-title")


def test_draw_over_the_allocation_is_blocked_and_nothing_saved(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-006/draw")
    before = money_state(fresh_url)
    data = {"allocation": "GS-2023-WH", "amount": "1万", "_csrf_token": token}
    response = fresh_client.post("/projects/GS-2023-006/draw?lang=en", data=data)
    assert response.status_code == 409
    html = response.text
    message = field_error(html, "amount")
    assert "GS-2023-WH ¥250,000.00: ¥250,000.00 already committed (4 projects" in message
    assert "this draw of ¥10,000.00 exceeds it by ¥10,000.00" in message
    assert "already committed" in summary(html)
    assert '<option value="GS-2023-WH" selected>' in html and 'value="1万"' in html
    assert money_state(fresh_url) == before


def test_draw_over_the_allocation_with_a_warning_policy_is_saved(warn_client, fresh_url):
    token = csrf_token(warn_client, "/projects/GS-2023-006/draw")
    data = {"allocation": "GS-2023-WH", "amount": "1万", "_csrf_token": token}
    response = warn_client.post("/projects/GS-2023-006/draw", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert allocation(fresh_url, "GS-2023-WH").drawn_fen == 26_000_000
    html = warn_client.get(response.headers["location"] + "&lang=en").text
    assert "The funding was saved." in html and "Some checks fail now" in html
    findings = section(html, "findings-title")
    assert "GS-2023-WH" in findings and "over by ¥10,000.00" in findings
    assert "badge-warn" in findings and "badge-block" not in findings
    listed = warn_client.get("/allocations?lang=en").text
    row = listed[listed.index('href="/allocations/GS-2023-WH"') :]
    assert "over-committed" in row[: row.index("</tr>")]


def test_draw_on_allocations_it_may_not_use(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-006/draw")
    before = money_state(fresh_url)
    cases = [
        ("", "ZJ-2023", "No allocation has the code ZJ-2023"),  # the province's: outside scope
        (f"&org={WENHUI}", "GS-2023", "No allocation has the code GS-2023"),  # the district's
        ("", "GS-2023-ST", "may draw only on allocations of 文晖街道"),  # a neighbour street's
        ("", "", "Choose an allocation"),
    ]
    for scope, code, message in cases:
        data = {"allocation": code, "amount": "1000", "_csrf_token": token}
        response = fresh_client.post(f"/projects/GS-2023-006/draw?lang=en{scope}", data=data)
        assert response.status_code == 400, code
        assert message in field_error(response.text, "allocation")
    assert money_state(fresh_url) == before


def test_draw_with_a_bad_amount_keeps_input(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-004/draw")
    before = money_state(fresh_url)
    for amount, message in (
        ("12..5", "'12..5' is not an amount"),
        ("0", "more than zero"),
        ("", "required"),
    ):
        data = {"allocation": "GS-2023-WH", "amount": amount, "_csrf_token": token}
        response = fresh_client.post("/projects/GS-2023-004/draw?lang=en", data=data)
        assert response.status_code == 400
        assert message in field_error(response.text, "amount")
        assert f'value="{amount}"' in response.text
    assert money_state(fresh_url) == before


# --- payments -------------------------------------------------------------------------------

PAY = {
    "allocation": "GS-2023-WH",
    "paid_on": "2023-12-20",
    "amount": "1万",
    "voucher_no": "GS2023-0900",
}


def test_payment_form_lists_the_lines_within_scope(client):
    html = client.get("/projects/GS-2023-004/pay").text
    assert options(html, "allocation") == ["GS-2023-WH", "WH-2023-OWN"]  # not the city's HZ-2023
    assert 'name="_csrf_token"' in html and 'type="date"' in html
    single = client.get("/projects/GS-2023-009/pay").text
    assert '<option value="GS-2023-ST" selected>' in single
    none = client.get(f"/projects/GS-2023-006/pay?lang=en&org={WENHUI}").text
    assert "Nothing to pay on" in none


def test_funding_page_shows_lines_payments_and_checks(client):
    html = client.get("/projects/GS-2023-004/funding?lang=en").text
    lines = section(html, "lines-title")
    assert listed_codes(lines) == ["GS-2023-WH", "WH-2023-OWN"]
    assert "HZ-2023" in lines and "outside your scope" in lines
    assert 'href="/projects/GS-2023-004/pay?allocation=GS-2023-WH"' in lines
    assert 'href="/projects/GS-2023-004/draw?allocation=GS-2023-WH"' in lines
    assert "¥15,000.00" in section(html, "payments-title")
    assert "findings-title" in html


def test_payment_is_recorded(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-004/pay")
    data = {**PAY, "note": "二期拨付", "_csrf_token": token}
    response = fresh_client.post("/projects/GS-2023-004/pay", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/projects/GS-2023-004/funding?done=paid"
    assert count(fresh_url, Payment) == 81
    html = fresh_client.get(response.headers["location"] + "&lang=en").text
    assert "The payment was recorded." in html and "GS2023-0900" in html and "二期拨付" in html
    assert "¥25,000.00" in section(html, "lines-title")  # paid on the line now


def test_payment_over_what_was_drawn_is_blocked_and_nothing_saved(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-004/pay")
    before = money_state(fresh_url)
    data = {**PAY, "amount": "2万", "_csrf_token": token}
    response = fresh_client.post("/projects/GS-2023-004/pay?lang=en", data=data)
    assert response.status_code == 409
    message = field_error(response.text, "amount")
    assert "¥30,000.00 drawn, ¥15,000.00 already paid" in message
    assert "exceeds it by ¥5,000.00" in message
    assert 'value="2万"' in response.text and 'value="GS2023-0900"' in response.text
    assert money_state(fresh_url) == before


def test_payment_over_drawn_with_a_warning_policy_is_saved(warn_client, fresh_url):
    token = csrf_token(warn_client, "/projects/GS-2023-004/pay")
    data = {**PAY, "amount": "2万", "_csrf_token": token}
    response = warn_client.post("/projects/GS-2023-004/pay", data=data, follow_redirects=False)
    assert response.status_code == 303
    html = warn_client.get(response.headers["location"] + "&lang=en").text
    assert "Some checks fail now" in html and "GS-2023-WH" in section(html, "findings-title")


def test_payment_errors_show_beside_their_fields(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-004/pay")
    before = money_state(fresh_url)
    cases = [
        ({"paid_on": "2023-13-01"}, "paid_on", "is not a date"),
        ({"paid_on": ""}, "paid_on", "This field is required"),
        ({"amount": "12..5"}, "amount", "'12..5' is not an amount"),
        ({"voucher_no": "GS2023-0001"}, "voucher_no", "This voucher number cannot be used"),
        ({"voucher_no": "X" * 41}, "voucher_no", "At most 40 characters"),
        ({"allocation": "GS-2023"}, "allocation", "GS-2023-004 draws nothing from GS-2023"),
        ({"allocation": "HZ-2023"}, "allocation", "No allocation has the code HZ-2023"),
    ]
    for change, field, message in cases:
        data = {**PAY, **change, "_csrf_token": token}
        response = fresh_client.post("/projects/GS-2023-004/pay?lang=en", data=data)
        assert response.status_code == 400, change
        assert message in field_error(response.text, field), change
    assert money_state(fresh_url) == before


# --- scope and CSRF on writes ---------------------------------------------------------------


def test_money_pages_of_projects_outside_scope_are_404(fresh_client, fresh_url):
    token = csrf_token(fresh_client, f"/allocations/new?org={WENHUI}")
    before = money_state(fresh_url)
    for path in ("draw", "pay", "funding"):  # GS-2023-010 belongs to another street
        assert fresh_client.get(f"/projects/GS-2023-010/{path}?org={WENHUI}").status_code == 404
    posts = [
        ("/projects/GS-2023-010/draw", {"allocation": "GS-2023-ST", "amount": "1000"}),
        ("/projects/GS-2023-010/pay", {**PAY, "allocation": "GS-2023-ST"}),
        ("/allocations/GS-2023/edit", {"org": "330105", "year": "2023", "amount": "1"}),
        ("/allocations/new?parent=GS-2023", {"org": WENHUI, "year": "2023", "amount": "1"}),
    ]
    for path, data in posts:
        sep = "&" if "?" in path else "?"
        response = fresh_client.post(
            f"{path}{sep}org={WENHUI}", data={**data, "_csrf_token": token}
        )
        assert response.status_code == 404, path
    assert money_state(fresh_url) == before


def test_money_forms_without_csrf_token_are_403(fresh_client, fresh_url):
    fresh_client.get("/allocations/new")  # the cookie alone is not enough
    before = money_state(fresh_url)
    posts = [
        ("/allocations/new", NEW),
        ("/allocations/WH-2023-OWN/edit", {**NEW, "code": "WH-2023-OWN"}),
        ("/projects/GS-2023-006/draw", {"allocation": "GS-2023", "amount": "1"}),
        ("/projects/GS-2023-004/pay", PAY),
    ]
    for path, data in posts:
        response = fresh_client.post(path, data=data)
        assert response.status_code == 403, path
    assert money_state(fresh_url) == before
