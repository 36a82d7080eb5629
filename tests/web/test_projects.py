"""Project pages: the filtered list with totals, one project, the forms and status changes
(`client` reads the shared demo; `fresh_client` writes to a copy: see conftest.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cocon import db
from cocon.models import Org, Project, StatusChange
from cocon.money import format_yuan
from cocon.rules import funded
from cocon.web import projects as project_pages
from tests.web.forms import NEW_PROJECT, csrf_token, field_error

WENHUI = "330105017"


def project_codes(html: str) -> list[str]:
    """Return the project codes the list's table links to, in order."""
    return re.findall(r'<th scope="row"><a href="/projects/([^"?]+)', html)


def read(url: str, query):
    """Run query(session) on the database at url, outside the app."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return query(session)
    finally:
        engine.dispose()


def all_projects(url: str) -> list[tuple[Project, Org]]:
    """Read every project with its owner straight from the database."""
    statement = select(Project, Org).join(Org, Org.id == Project.owner_id)
    return read(url, lambda session: [tuple(row) for row in session.execute(statement)])


def find_project(url: str, code: str) -> Project | None:
    return next((p for p, _owner in all_projects(url) if p.code == code), None)


def totals_cards(html: str) -> str:
    start = html.index('<dl class="cards totals">')
    return html[start : html.index("</dl>", start)]


# --- the list -------------------------------------------------------------------------------


def test_project_list_renders_with_totals_of_the_filtered_set(client, demo_database_url):
    response = client.get("/projects?lang=en")
    assert response.status_code == 200
    rows = all_projects(demo_database_url)
    cards = totals_cards(response.text)
    assert f"<dd>{len(rows)}</dd>" in cards
    assert format_yuan(sum(p.budget_fen for p, _o in rows)) in cards
    assert format_yuan(sum(funded(p) for p, _o in rows)) in cards
    assert format_yuan(sum(p.paid_fen for p, _o in rows)) in cards
    assert len(project_codes(response.text)) == len(rows) == 36


def test_project_list_is_chinese_by_default(client):
    html = client.get("/projects").text
    assert '<html lang="zh-CN">' in html and "项目编号" in html


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("status=completed", lambda p, o: p.status == "completed"),
        ("category=elderly_care", lambda p, o: p.category == "elderly_care"),
        ("category=养老服务", lambda p, o: p.category == "elderly_care"),
        ("level=community", lambda p, o: o.level == 5),
        ("level=district", lambda p, o: o.level == 3),
        (f"under={WENHUI}", lambda p, o: o.code.startswith(WENHUI)),
        ("q=篮球", lambda p, o: "篮球" in p.name),
        ("q=GS-2023-01", lambda p, o: "GS-2023-01" in p.code),
        ("year=2023&status=draft", lambda p, o: p.status == "draft"),
    ],
)
def test_project_list_filter_narrows(client, demo_database_url, query, keep):
    html = client.get(f"/projects?{query}").text
    expected = sorted(p.code for p, o in all_projects(demo_database_url) if keep(p, o))
    assert 0 < len(expected) < 36
    assert project_codes(html) == expected
    assert f"<dd>{len(expected)}</dd>" in totals_cards(html)


def test_project_list_filter_by_partner_code_or_name(client):
    by_code = project_codes(client.get("/projects?partner=91330105ma2gl3k724").text)
    assert by_code == ["GS-2023-001", "GS-2023-011", "GS-2023-030"]
    by_name = project_codes(client.get("/projects", params={"partner": "运河文体"}).text)
    assert by_name == by_code


def test_project_list_filter_year_without_projects_is_empty(client):
    html = client.get("/projects?year=2022&lang=en").text
    assert project_codes(html) == [] and "No project matches these filters." in html
    assert "<dd>0</dd>" in totals_cards(html)


def test_project_list_bad_filters_show_errors_beside_fields(client):
    response = client.get("/projects?year=abc&under=330105008&org=330105017&lang=en")
    assert response.status_code == 400
    html = response.text
    assert "is not a year" in field_error(html, "year")
    assert "330105008" in field_error(html, "under")  # a street outside the scope
    assert 'value="330105008"' in html  # the typed value stays
    assert project_codes(html) == []


SORT_KEYS = {
    "code": lambda p: p.code,
    "name": lambda p: p.name,
    "budget": lambda p: p.budget_fen,
    "funded": funded,
    "year": lambda p: p.year,
}


@pytest.mark.parametrize(
    ("key", "way"), [("budget", "desc"), ("funded", "asc"), ("year", "asc"), ("code", "desc")]
)
def test_project_list_sorts(client, demo_database_url, key, way):
    html = client.get(f"/projects?sort={key}&dir={way}").text
    by_code = sorted((p for p, _o in all_projects(demo_database_url)), key=lambda p: p.code)
    rows = sorted(by_code, key=SORT_KEYS[key], reverse=way == "desc")  # ties stay by code
    assert project_codes(html) == [p.code for p in rows]
    assert f'aria-sort="{way}ending"' in html


def test_project_list_sorts_by_name_with_a_link_to_reverse(client):
    html = client.get("/projects?sort=name").text
    assert len(project_codes(html)) == 36  # databases collate names their own way
    assert 'href="/projects?sort=name&amp;dir=desc"' in html and 'aria-sort="ascending"' in html


def test_project_list_paginates_and_page_links_keep_filters(client, demo_database_url, monkeypatch):
    monkeypatch.setattr(project_pages, "PAGE_SIZE", 10)
    query = "/projects?status=completed&sort=budget&dir=desc"
    first, second = client.get(query).text, client.get(f"{query}&page=2").text
    completed = [p for p, _o in all_projects(demo_database_url) if p.status == "completed"]
    assert len(completed) > 10
    assert len(project_codes(first)) == 10
    assert len(project_codes(second)) == len(completed) - 10
    assert set(project_codes(second)).isdisjoint(project_codes(first))
    assert 'href="/projects?status=completed&amp;sort=budget&amp;dir=desc&amp;page=2"' in first
    assert 'href="/projects?status=completed&amp;sort=budget&amp;dir=desc"' in second  # page 1
    for html in (first, second):  # the totals are those of the whole filtered set
        assert f"<dd>{len(completed)}</dd>" in totals_cards(html)
        assert format_yuan(sum(p.budget_fen for p in completed)) in totals_cards(html)
    last = client.get(f"{query}&page=99").text
    assert '<span aria-current="page">2</span>' in last  # a page past the end shows the last


def test_project_list_stays_in_scope_and_export_link_keeps_filters(client):
    html = client.get(f"/projects?org={WENHUI}").text
    assert project_codes(html) == [f"GS-2023-00{n}" for n in range(1, 7)]
    assert f'href="/projects/GS-2023-001?org={WENHUI}"' in html
    html = client.get(f"/projects?org={WENHUI}&status=completed&q=x&page=1").text
    assert f'href="/export?org={WENHUI}&amp;status=completed&amp;q=x"' in html


# --- one project ----------------------------------------------------------------------------


def section(html: str, heading_id: str) -> str:
    start = html.index(f'aria-labelledby="{heading_id}"')
    return html[start : html.index("</section>", start)]


def test_project_detail_shows_funding_by_level_with_text(client):
    response = client.get("/projects/GS-2023-001?lang=en")
    assert response.status_code == 200
    funding = section(response.text, "funding-title")
    assert 'role="img" aria-labelledby="sources-caption"' in funding
    data = funding[funding.index('<table class="chart-data">') :]
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="num">¥([\d,]+)\.00', data)
    assert rows == [
        ("Province funds", "150,000"), ("City funds", "200,000"), ("District funds", "120,000"),
        ("Street funds", "0"), ("Community funds", "0"), ("Partner contributions", "130,000"),
    ]  # fmt: skip  (GS-2023-WH is district money passed down to Wenhui: counted by origin)
    holder = funding[funding.index('<tr class="by-holder">') :]
    holder = holder[: holder.index("</tr>")]
    amounts = re.findall(r'<td class="num">¥([\d,]+)\.00', holder)
    assert amounts == ["150,000", "200,000", "0", "120,000", "0"]  # by holder: Wenhui's street
    lines = section(response.text, "lines-title")
    wenhui = lines[lines.index("GS-2023-WH") :]
    assert 'district <span class="muted">拱墅区</span>' in wenhui[: wenhui.index("</tr>")]


def test_project_detail_shows_owner_site_lines_payments_partners(client):
    html = client.get("/projects/GS-2023-001?lang=en").text
    crumbs = html[html.index('<nav class="crumbs"') : html.index("</nav>", html.index("crumbs"))]
    positions = [crumbs.index(name) for name in ("浙江省", "杭州市", "拱墅区", "文晖街道")]
    assert positions == sorted(positions) and "GS-2023-001" in crumbs
    assert 'href="/orgs/330105017003"' in html  # the site community
    lines = section(html, "lines-title")
    assert all(code in lines for code in ("ZJ-2023", "HZ-2023", "GS-2023-WH"))
    assert "GS2023-0001" in section(html, "payments-title")
    partners = section(html, "partners-title")
    assert 'href="/partners/91330105MA2GL3K724"' in partners and "in kind (valued)" in partners


def test_project_detail_shows_status_history(client):
    html = client.get("/projects/GS-2023-001?lang=en").text
    status = section(html, "status-title")
    assert "Status history" in status and "<time datetime=" in status
    assert "completed" in status
    assert 'name="to_status"' not in status  # a completed project stays so


def test_project_detail_offers_only_allowed_transitions(client):
    status = section(client.get("/projects/GS-2023-006?lang=en").text, "status-title")
    offered = re.findall(r'name="to_status" value="([a-z_]+)"', status)
    # Wenhui's project: the district reviews it; withdrawing to draft is its owner's step.
    assert offered == ["approved", "cancelled"]
    assert 'name="_csrf_token"' in status


def test_project_outside_scope_or_unknown_is_404(client):
    # GS-2023-010 is owned by 祥符街道 (330105008), not by 文晖街道.
    assert client.get("/projects/GS-2023-010").status_code == 200
    for path in ("/projects/GS-2023-010", "/projects/GS-2023-010/edit"):
        response = client.get(f"{path}?org={WENHUI}")
        assert response.status_code == 404
        assert 'class="error"' in response.text and "杭州篮球公园" not in response.text
    response = client.get("/projects/NO-SUCH?lang=en")
    assert response.status_code == 404 and "NO-SUCH" in response.text


# --- forms ----------------------------------------------------------------------------------


def test_project_form_offers_orgs_and_categories_in_scope(client):
    html = client.get(f"/projects/new?org={WENHUI}&lang=en").text
    owner = html[html.index('id="f-owner"') : html.index("</select>", html.index('id="f-owner"'))]
    assert 'value="330105017"' in owner and 'value="330105017003"' in owner
    assert 'value="330105008"' not in owner  # another street
    site = html[html.index('id="f-site"') : html.index("</select>", html.index('id="f-site"'))]
    assert 'value="330105017003"' in site and 'value="330105017"' not in site
    assert 'value="culture_sports"' in html and 'name="_csrf_token"' in html


def _year_field(html: str) -> str:
    return re.search(r'<input[^>]*name="year"[^>]*>', html)[0]


def test_project_form_year_is_the_one_looked_at(client):
    # The demo's data are all of 2023: a new project starts there, not in the calendar year.
    assert 'value="2023"' in _year_field(client.get("/projects/new").text)
    # The year filter the user came from (the dashboard's ?year=) wins.
    assert 'value="2024"' in _year_field(client.get("/projects/new?year=2024").text)
    assert 'value="2023"' in _year_field(client.get("/allocations/new").text)


def test_project_create_redirects_and_the_project_exists(fresh_client, fresh_url):
    token = csrf_token(fresh_client, f"/projects/new?org={WENHUI}")
    response = fresh_client.post(
        f"/projects/new?org={WENHUI}",
        data={**NEW_PROJECT, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == f"/projects/330105017-2024-001?org={WENHUI}&done=created"
    project = find_project(fresh_url, "330105017-2024-001")
    assert project is not None and project.budget_fen == 12_000_000 and project.status == "draft"
    html = fresh_client.get(location + "&lang=en").text
    assert "The project was created." in html and "¥120,000.00" in html


def test_project_create_with_errors_keeps_input_and_saves_nothing(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/new")
    typed = {
        **NEW_PROJECT,
        "name": "",
        "code": "MY-001",
        "site": "330105008052",  # a community outside the owner's street
        "budget": "12万零",
        "end_date": "2024-01-01",
        "_csrf_token": token,
    }
    response = fresh_client.post("/projects/new?lang=en", data=typed)
    assert response.status_code == 400
    html = response.text
    assert field_error(html, "name") == "This field is required"
    assert "is not an amount" in field_error(html, "budget")
    assert "is not within" in field_error(html, "site")
    assert "before the start date" in field_error(html, "end_date")
    assert 'value="12万零"' in html and 'value="MY-001"' in html and "放学后托管" in html
    assert 'aria-invalid="true" aria-describedby="f-budget-hint f-budget-error"' in html
    assert 'class="error-summary"' in html
    assert len(all_projects(fresh_url)) == 36


def test_project_create_refuses_an_owner_outside_scope(fresh_client, fresh_url):
    token = csrf_token(fresh_client, f"/projects/new?org={WENHUI}")
    data = {**NEW_PROJECT, "owner": "330105008", "site": "330105008052", "_csrf_token": token}
    response = fresh_client.post(f"/projects/new?org={WENHUI}&lang=en", data=data)
    assert response.status_code == 400
    assert "330105008" in field_error(response.text, "owner")
    assert "330105008052" in field_error(response.text, "site")
    assert len(all_projects(fresh_url)) == 36


def test_project_edit_shows_values_and_saves(fresh_client, fresh_url):
    html = fresh_client.get("/projects/GS-2023-004/edit").text
    assert 'value="100,000.00"' in html and 'value="2023-06-01"' in html
    token = re.search(r'name="_csrf_token" value="([^"]+)"', html)[1]
    data = {
        **NEW_PROJECT,
        "name": "现代城社区共享客厅（二期）",
        "code": "GS-2023-004",
        "owner": WENHUI,
        "site": "330105017007",
        "year": "2023",
        "start_date": "2023-06-01",
        "end_date": "2023-12-15",
        "budget": "¥150,000",
        "_csrf_token": token,
    }
    response = fresh_client.post("/projects/GS-2023-004/edit", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/projects/GS-2023-004?done=saved"
    project = find_project(fresh_url, "GS-2023-004")
    assert project.name == "现代城社区共享客厅（二期）" and project.budget_fen == 15_000_000


def test_project_edit_with_errors_saves_nothing(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-004/edit")
    data = {**NEW_PROJECT, "code": "GS-2023-001", "year": "1999", "_csrf_token": token}
    response = fresh_client.post("/projects/GS-2023-004/edit?lang=en", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "code") == "This code cannot be used; choose another"
    assert "is not a year" in field_error(response.text, "year")
    assert find_project(fresh_url, "GS-2023-004").name == "现代城社区共享客厅"


# --- status changes -------------------------------------------------------------------------


def history(url: str, code: str) -> list[str]:
    statement = (
        select(StatusChange.to_status)
        .join(Project, Project.id == StatusChange.project_id)
        .where(Project.code == code)
        .order_by(StatusChange.id)
    )
    return read(url, lambda session: list(session.execute(statement).scalars()))


def test_project_status_change_allowed(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-006")
    response = fresh_client.post(
        "/projects/GS-2023-006/status",
        data={"to_status": "approved", "note": "区党建办审核通过", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert find_project(fresh_url, "GS-2023-006").status == "approved"
    assert history(fresh_url, "GS-2023-006")[-1] == "approved"
    html = fresh_client.get(response.headers["location"] + "&lang=en").text
    assert "The status was changed." in html and "区党建办审核通过" in html


def test_project_status_change_refused_shows_message_and_saves_nothing(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/projects/GS-2023-006")
    before = history(fresh_url, "GS-2023-006")
    response = fresh_client.post(
        "/projects/GS-2023-006/status?lang=en",
        data={"to_status": "completed", "_csrf_token": token},
    )
    assert response.status_code == 409
    assert "cannot become completed" in response.text and 'role="alert"' in response.text
    assert find_project(fresh_url, "GS-2023-006").status == "submitted"
    assert history(fresh_url, "GS-2023-006") == before


def test_project_status_change_outside_scope_is_404(fresh_client, fresh_url):
    token = csrf_token(fresh_client, f"/projects/new?org={WENHUI}")
    response = fresh_client.post(
        f"/projects/GS-2023-012/status?org={WENHUI}",
        data={"to_status": "submitted", "_csrf_token": token},
    )
    assert response.status_code == 404
    assert find_project(fresh_url, "GS-2023-012").status == "draft"


def test_project_create_without_csrf_token_is_403(fresh_client, fresh_url):
    fresh_client.get("/projects/new")  # the cookie alone is not enough
    response = fresh_client.post("/projects/new", data=NEW_PROJECT)
    assert response.status_code == 403
    assert 'class="error"' in response.text
    assert len(all_projects(fresh_url)) == 36
