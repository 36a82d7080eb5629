"""The review flow by level on the web: submit, approve, return, four eyes, the waiting list,
the money checks before approving, the second signature on payments, the export's approval."""

from __future__ import annotations

import re
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from cocon import db
from cocon.actors import act_as, operator
from cocon.models import Payment, Project, StatusChange
from cocon.orgs import get_org
from cocon.projects import ProjectInput, change_status, get_project, save_project
from tests.web.conftest import SIGNED_IN, sign_in, signed_client
from tests.web.forms import csrf_token

WENHUI_PROJECT = "GS-2023-006"  # submitted, owned by 文晖街道 (a street)
COMMUNITY_PROJECT = "GS-2023-023"  # submitted, owned by a community of Gongshu
DRAFT_OF_ANOTHER_STREET = "GS-2023-012"  # draft, owned by 祥符街道


def read(url: str, query):
    """Run query(session) on the database at url, outside the app."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return query(session)
    finally:
        engine.dispose()


def status_of(url: str, code: str) -> str:
    return read(url, lambda session: get_project(session, code).status)


def changes(url: str, code: str) -> list[StatusChange]:
    statement = (
        select(StatusChange)
        .join(Project, Project.id == StatusChange.project_id)
        .where(Project.code == code)
        .order_by(StatusChange.id)
    )
    return read(url, lambda session: list(session.execute(statement).scalars()))


def use_session(client, username: str, backend: str):
    """Sign client in as username: by the demo's kept session if there is one, else the form."""
    client.cookies.clear()
    if username in SIGNED_IN[backend]:
        client.cookies.update(SIGNED_IN[backend][username])
    else:
        sign_in(client, username)
    return client


def post_as(client, backend: str, username: str, path: str, page: str, **data):
    """Sign client in as username, open page (then a form page for the token), post to path."""
    use_session(client, username, backend)
    assert client.get(page).status_code == 200
    token = csrf_token(client, "/account")
    return client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


def approve(client, backend: str, username: str, code: str):
    page = f"/projects/{code}?lang=en"
    return post_as(client, backend, username, f"/projects/{code}/status?lang=en", page, to_status="approved")


def give_back(client, backend: str, username: str, code: str, reason: str):
    page = f"/projects/{code}?lang=en"
    return post_as(client, backend, username, f"/projects/{code}/return?lang=en", page, reason=reason)


def add_district_project(url: str) -> None:
    """Add a submitted project owned by the district itself (GS-T-DISTRICT), as the operator."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            act_as(session, operator())
            project = save_project(
                session,
                ProjectInput(
                    code="GS-T-DISTRICT",
                    name="区级测试项目",
                    owner=get_org(session, "330105"),
                    site=get_org(session, "330105017003"),
                    category="other",
                    year=2023,
                    budget="0",
                ),
            )
            change_status(session, project, "submitted")
    finally:
        engine.dispose()


def status_buttons(html: str) -> list[str]:
    return re.findall(r'name="to_status" value="([a-z_]+)"', html)


def test_the_owner_office_submits_and_an_office_above_may_not(fresh_app, fresh_url, backend):
    response = post_as(
        fresh_app, backend, "gongshu-office", f"/projects/{DRAFT_OF_ANOTHER_STREET}/status?lang=en",
        f"/projects/{DRAFT_OF_ANOTHER_STREET}", to_status="submitted",
    )  # fmt: skip
    assert response.status_code == 403
    assert "submitted by its owner org" in response.text
    assert status_of(fresh_url, DRAFT_OF_ANOTHER_STREET) == "draft"
    give_back(fresh_app, backend, "gongshu-office", WENHUI_PROJECT, "预算请细化")
    response = post_as(
        fresh_app, backend, "wenhui-office", f"/projects/{WENHUI_PROJECT}/status",
        f"/projects/{WENHUI_PROJECT}", to_status="submitted",
    )  # fmt: skip
    assert response.status_code == 303
    last = changes(fresh_url, WENHUI_PROJECT)[-1]
    assert (last.to_status, last.changed_by) == ("submitted", "wenhui-office")
    assert last.changed_by_id is not None


def test_approval_by_the_wrong_level_or_role_is_refused(fresh_app, fresh_url, backend):
    for username in ("wenhui-office", "wenhui-finance", "wenhui-viewer", "wenhui-admin"):
        response = approve(fresh_app, backend, username, WENHUI_PROJECT)
        assert response.status_code == 403, username
    assert status_of(fresh_url, WENHUI_PROJECT) == "submitted"
    use_session(fresh_app, "wenhui-finance", backend)
    html = fresh_app.get(f"/projects/{WENHUI_PROJECT}?lang=en").text
    assert "approved" not in status_buttons(html) and "/return" not in html


def test_approval_one_level_up_works_and_is_recorded(fresh_app, fresh_url, backend):
    response = approve(fresh_app, backend, "gongshu-office", WENHUI_PROJECT)
    assert response.status_code == 303
    assert status_of(fresh_url, WENHUI_PROJECT) == "approved"
    last = changes(fresh_url, WENHUI_PROJECT)[-1]
    assert (last.to_status, last.changed_by) == ("approved", "gongshu-office")


def test_district_finance_approves_a_district_project_its_office_may_not(
    fresh_app, fresh_url, backend
):
    add_district_project(fresh_url)
    assert approve(fresh_app, backend, "gongshu-office", "GS-T-DISTRICT").status_code == 403
    assert approve(fresh_app, backend, "gongshu-admin", "GS-T-DISTRICT").status_code == 403
    assert approve(fresh_app, backend, "gongshu-finance", "GS-T-DISTRICT").status_code == 303
    assert status_of(fresh_url, "GS-T-DISTRICT") == "approved"


def test_the_last_editor_may_not_approve(fresh_app, fresh_url, backend):
    use_session(fresh_app, "gongshu-admin", backend)
    token = csrf_token(fresh_app, f"/projects/{COMMUNITY_PROJECT}/edit")
    form = fresh_app.get(f"/projects/{COMMUNITY_PROJECT}/edit").text
    values = dict(re.findall(r'<input[^>]* name="([a-z_0-9]+)"[^>]* value="([^"]*)"', form))
    values.update(re.findall(r'<select[^>]* name="([a-z_]+)".*?<option value="([^"]*)" selected', form, re.S))
    values["description"] = "修改说明"
    values["_csrf_token"] = token
    saved = fresh_app.post(f"/projects/{COMMUNITY_PROJECT}/edit", data=values, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    response = approve(fresh_app, backend, "gongshu-admin", COMMUNITY_PROJECT)
    assert response.status_code == 409 and "You last edited this project" in response.text
    assert status_of(fresh_url, COMMUNITY_PROJECT) == "submitted"
    assert approve(fresh_app, backend, "gongshu-office", COMMUNITY_PROJECT).status_code == 303


def test_return_needs_a_reason_shows_it_and_resubmitting_clears_it(fresh_app, fresh_url, backend):
    response = give_back(fresh_app, backend, "gongshu-office", WENHUI_PROJECT, "  ")
    assert response.status_code == 400
    assert status_of(fresh_url, WENHUI_PROJECT) == "submitted"
    response = give_back(fresh_app, backend, "gongshu-office", WENHUI_PROJECT, "请补充受益户数")
    assert response.status_code == 303 and "done=returned" in response.headers["location"]
    assert status_of(fresh_url, WENHUI_PROJECT) == "draft"
    last = changes(fresh_url, WENHUI_PROJECT)[-1]
    assert last.returned and last.note == "请补充受益户数" and last.changed_by == "gongshu-office"
    use_session(fresh_app, "wenhui-office", backend)
    html = fresh_app.get(f"/projects/{WENHUI_PROJECT}?lang=en").text
    assert "Returned for revision" in html and "请补充受益户数" in html
    assert "submitted" in status_buttons(html)
    response = post_as(
        fresh_app, backend, "wenhui-office", f"/projects/{WENHUI_PROJECT}/status",
        f"/projects/{WENHUI_PROJECT}", to_status="submitted",
    )  # fmt: skip
    assert response.status_code == 303
    html = fresh_app.get(f"/projects/{WENHUI_PROJECT}?lang=en").text
    assert 'class="notice returned"' not in html
    # A return applies to a submitted project only.
    assert give_back(fresh_app, backend, "gongshu-office", "GS-2023-005", "不行").status_code == 409


def test_the_timeline_names_who_did_what_and_the_reasons(fresh_app, fresh_url, backend):
    give_back(fresh_app, backend, "gongshu-office", WENHUI_PROJECT, "材料不全")
    post_as(
        fresh_app, backend, "wenhui-office", f"/projects/{WENHUI_PROJECT}/status",
        f"/projects/{WENHUI_PROJECT}", to_status="submitted", note="已补充",
    )  # fmt: skip
    approve(fresh_app, backend, "gongshu-finance", WENHUI_PROJECT)
    html = fresh_app.get(f"/projects/{WENHUI_PROJECT}?lang=en").text
    start = html.index("Status history")
    table = html[start : html.index("</table>", start)]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    text = [re.sub(r"<[^>]+>", " ", row) for row in rows]
    assert "gongshu-office" in text[-3] and "Returned for revision" in text[-3] and "材料不全" in text[-3]
    assert "wenhui-office" in text[-2] and "已补充" in text[-2]
    assert "gongshu-finance" in text[-1] and "approved" in text[-1]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", text[-1])


def test_waiting_lists_of_a_district_office_and_a_street_office(fresh_app, fresh_url, backend):
    use_session(fresh_app, "gongshu-office", backend)
    waiting = section(fresh_app.get("/?lang=en").text, "waiting-title")
    for code in ("GS-2023-006", "GS-2023-023", "GS-2023-036"):
        assert f'href="/projects/{code}' in waiting, code
    use_session(fresh_app, "wenhui-office", backend)
    assert "GS-2023-006" not in section(fresh_app.get("/?lang=en").text, "waiting-title")
    give_back(fresh_app, backend, "gongshu-office", WENHUI_PROJECT, "请修改预算")
    use_session(fresh_app, "wenhui-office", backend)
    waiting = section(fresh_app.get("/?lang=en").text, "waiting-title")
    assert 'href="/projects/GS-2023-006' in waiting and "请修改预算" in waiting
    use_session(fresh_app, "gongshu-office", backend)
    assert "GS-2023-006" not in section(fresh_app.get("/?lang=en").text, "waiting-title")


def test_the_money_checks_show_before_approving(fresh_app, backend):
    use_session(fresh_app, "gongshu-office", backend)
    html = fresh_app.get(f"/projects/{WENHUI_PROJECT}?lang=en").text
    status = section(html, "status-title")
    assert "Money checks before approving" in status
    assert "leaves a gap of ¥40,000.00" in status
    assert "approved" in status_buttons(status)


def test_second_signature_on_a_payment_above_the_threshold(fresh_url, backend):
    paid = lambda: read(fresh_url, lambda s: get_project(s, "GS-2023-004").paid_fen)  # noqa: E731
    before = paid()
    with signed_client(fresh_url, backend, payment_second_signature_fen=500000) as client:
        pay = {"allocation": "GS-2023-WH", "paid_on": "2023-12-20", "amount": "1万"}
        page = "/projects/GS-2023-004/pay"
        response = post_as(client, backend, "gongshu-finance", page, page, voucher_no="V-BIG", **pay)
        assert response.status_code == 303
        assert paid() == before
        html = client.get("/projects/GS-2023-004/funding?lang=en").text
        assert "Awaiting a second signature" in html and "Confirm payment" in html
        confirm = "/projects/GS-2023-004/confirm-payment"
        funding = "/projects/GS-2023-004/funding"
        response = post_as(client, backend, "gongshu-finance", confirm, funding, voucher_no="V-BIG")
        assert response.status_code == 409 and paid() == before
        response = post_as(client, backend, "wenhui-office", confirm, funding, voucher_no="V-BIG")
        assert response.status_code == 403 and paid() == before
        response = post_as(client, backend, "wenhui-finance", confirm, funding, voucher_no="V-BIG")
        assert response.status_code == 303 and paid() == before + 1_000_000
        payment = read(
            fresh_url,
            lambda s: s.execute(select(Payment).where(Payment.voucher_no == "V-BIG")).scalar_one(),
        )
        assert not payment.awaiting_confirmation
        assert (payment.recorded_by, payment.confirmed_by) == ("gongshu-finance", "wenhui-finance")
        small = {**pay, "amount": "3000"}
        response = post_as(client, backend, "gongshu-finance", page, page, voucher_no="V-SMALL", **small)
        assert response.status_code == 303 and paid() == before + 1_300_000


def test_the_export_names_who_approved_and_when(fresh_app, fresh_url, backend):
    approve(fresh_app, backend, "gongshu-office", WENHUI_PROJECT)
    response = fresh_app.get("/export?lang=en&year=2023")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.content))["Projects"]
    header = [cell.value for cell in sheet[1]]
    assert header[-2:] == ["Approved by", "Approved on"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    approved = changes(fresh_url, WENHUI_PROJECT)[-1].changed_at
    assert rows[WENHUI_PROJECT][-2] == "gongshu-office"
    assert rows[WENHUI_PROJECT][-1] is not None and rows[WENHUI_PROJECT][-1].year == approved.year
    assert rows["GS-2023-023"][-2:] == (None, None)


def section(html: str, title_id: str) -> str:
    """Return the section of a page whose heading has the id title_id."""
    start = html.index(f'id="{title_id}"')
    end = html.find("</section>", start)
    return html[start:end]
