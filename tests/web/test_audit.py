"""The audit trail: every state-changing route records who changed what; the trail is sealed."""

from __future__ import annotations

import json
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from cocon import audit_read, db
from cocon.audit_model import AuditEntry
from tests.web.conftest import use_session
from tests.web.forms import csrf_token

WENHUI = "330105017"
GOOD_PROJECT = {
    "name": "胜利社区四点半课堂", "code": "T-AUDIT-1", "owner": WENHUI, "site": "330105017003",
    "category": "child_care", "year": "2023", "budget": "12万", "start_date": "", "end_date": "",
    "area_m2": "", "households_served": "", "description": "",
}  # fmt: skip


def trail(url: str) -> list[AuditEntry]:
    """Return every sealed entry of the database at url, in chain order."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            statement = select(AuditEntry).where(AuditEntry.seq.is_not(None))
            return list(session.execute(statement.order_by(AuditEntry.seq)).scalars())
    finally:
        engine.dispose()


def changes(entry: AuditEntry) -> dict:
    return json.loads(entry.changes)


# Every POST route and a request that changes something through it (or records an event).
WRITES = {
    "/login": None,  # tested below: it needs no session
    "/logout": ("/logout", {}),
    "/account": ("/account", {"current": "cocon-demo-2023", "password": "a new pass phrase"}),
    "/projects/new": ("/projects/new", GOOD_PROJECT),
    "/projects/{code:str}/edit": (
        "/projects/GS-2023-012/edit",
        {**GOOD_PROJECT, "code": "GS-2023-012", "owner": "330105008", "site": "330105008052",
         "name": "改名后的项目"},
    ),
    "/projects/{code:str}/status": ("/projects/GS-2023-012/status", {"to_status": "cancelled"}),
    "/projects/{code:str}/draw": (
        "/projects/GS-2023-026/draw", {"allocation": "GS-2023-BS", "amount": "7万"}
    ),
    "/projects/{code:str}/pay": (
        "/projects/GS-2023-002/pay",
        {"allocation": "GS-2023-WH", "paid_on": "2023-12-01", "amount": "1",
         "voucher_no": "T-AUDIT-V1", "note": ""},
    ),
    "/allocations/new": (
        "/allocations/new", {"org": WENHUI, "year": "2023", "amount": "1万", "code": "T-AUDIT-A",
                             "parent": "", "source_note": ""},
    ),
    "/allocations/{code:str}/edit": (
        "/allocations/WH-2023-OWN/edit",
        {"org": WENHUI, "year": "2023", "amount": "200万", "code": "WH-2023-OWN", "parent": "",
         "source_note": "街道自筹（调整）"},
    ),
    "/partners/new": (
        "/partners/new",
        {"credit_code": "91330105MA2B00001G", "name": "测试共建单位", "kind": "enterprise",
         "contact": "", "phone": ""},
    ),
    "/partners/{credit_code:str}/edit": (
        "/partners/91330105MA2GL3K724/edit",
        {"credit_code": "91330105MA2GL3K724", "name": "杭州运河文体", "kind": "enterprise",
         "contact": "", "phone": ""},
    ),
    "/users/new": (
        "/users/new",
        {"username": "t-audit", "display_name": "", "role": "viewer", "org": WENHUI,
         "password": "a new pass phrase"},
    ),
    "/users/{username:str}/edit": (
        "/users/wenhui-viewer/edit",
        {"display_name": "文晖只读", "role": "viewer", "org": WENHUI, "active": "1", "password": ""},
    ),
    "/projects/{code:str}/return": (
        "/projects/GS-2023-006/return", {"reason": "预算说明不完整，请补充"}
    ),
    "/projects/{code:str}/confirm-payment": None,  # the second signature: tests/web/test_review.py
    "/projects/{code:str}/payments/{voucher:str}/reverse": (
        "/projects/GS-2023-028/payments/GS2023-0061/reverse", {"reason": "凭证号录错，冲销"}
    ),
    # Every demo line inside Gongshu has payments to reverse first: tests/web/test_reversals.py
    "/projects/{code:str}/funding/{allocation:str}/reverse": None,
    "/import": None,  # tested below: the preview writes nothing but the waiting upload
    "/import/{token:str}/confirm": None,  # tested below with a real workbook
    # Made and revoked with their audit rows in tests/api/test_tokens.py (making one answers 200:
    # the page shows the token, once).
    "/account/tokens": None,
    "/account/tokens/{token_id:int}/revoke": None,
}
# The API's writes take a token, not a session: tests/api/test_api_agreement.py checks their rows.
API_PREFIX = "/api/"


def post_routes(app) -> list[str]:
    """Return the path of every POST route of the app."""
    return sorted(
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "POST" in handler.http_methods
    )


def test_every_state_changing_route_is_covered(fresh_app):
    routes = [path for path in post_routes(fresh_app.app) if not path.startswith(API_PREFIX)]
    assert [path for path in routes if path not in WRITES] == []


@pytest.mark.parametrize("route", sorted(path for path, spec in WRITES.items() if spec))
def test_every_state_changing_route_writes_the_audit_rows(fresh_client, fresh_url, route):
    path, data = WRITES[route]
    before = len(trail(fresh_url))
    token = csrf_token(fresh_client, "/account")  # one token per session, any form page
    response = fresh_client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    added = trail(fresh_url)[before:]
    assert added, f"{route} wrote no audit entry"
    assert all(entry.actor == "gongshu-admin" and entry.hash for entry in added)


def test_a_project_edit_records_each_field_before_and_after(fresh_client, fresh_url):
    path, data = WRITES["/projects/{code:str}/edit"]
    token = csrf_token(fresh_client, path)
    fresh_client.post(path, data={**data, "_csrf_token": token})
    (entry,) = [e for e in trail(fresh_url) if e.entity_code == "GS-2023-012" and e.action == "update"]
    assert changes(entry)["name"][1] == "改名后的项目"
    assert changes(entry)["budget_fen"] == [changes(entry)["budget_fen"][0], "120000.00"]
    assert entry.org_path.startswith("/33/3301/330105/330105008/")
    page = fresh_client.get("/projects/GS-2023-012?lang=en").text
    assert "改名后的项目" in page and "120000.00" in page and "History" in page


def test_sign_in_failures_and_refusals_are_recorded(fresh_app, fresh_url, backend):
    token = csrf_token(fresh_app, "/login")
    fresh_app.post("/login", data={"username": "gongshu-viewer", "password": "wrong one!", "_csrf_token": token})
    use_session(fresh_app, "gongshu-admin", backend)
    fresh_app.cookies.clear()
    from tests.web.conftest import sign_in

    sign_in(fresh_app, "gongshu-viewer")
    assert fresh_app.get("/projects/new").status_code == 403
    actions = [(e.action, e.entity_code) for e in trail(fresh_url)[-3:]]
    assert actions[0] == ("login_failed", "gongshu-viewer")
    assert actions[1] == ("login", "gongshu-viewer")
    assert actions[2] == ("denied", "GET /projects/new")


def test_an_import_records_the_file_its_hash_counts_and_rows(fresh_client, fresh_url):
    from tests.web.test_transfer import confirm_url, form_token, upload
    from tests.workbooks import project, table, xlsx_bytes

    book = xlsx_bytes({"共建项目": table("projects", [project("T-AUDIT-9")])})
    html = upload(fresh_client, book, name="审计.xlsx").text
    fresh_client.post(confirm_url(html), data={"_csrf_token": form_token(html)})
    entries = trail(fresh_url)
    imported = [e for e in entries if e.action == "import" and e.entity_code != "demo"]
    assert len(imported) == 1, [(e.entity_code, e.details) for e in imported]
    assert imported[0].entity_code == "审计.xlsx"
    import hashlib

    details = json.loads(imported[0].details)
    assert details["sha256"] == hashlib.sha256(book).hexdigest()
    assert details["sheets"]["共建项目"]["created"] == 1
    created = [e for e in entries if e.entity_code == "T-AUDIT-9" and e.action == "create"]
    assert created and changes(created[0])["code"] == [None, "T-AUDIT-9"]


def test_an_export_records_its_scope_and_filters(fresh_client, fresh_url):
    assert fresh_client.get(f"/export?org={WENHUI}&status=approved").status_code == 200
    (entry,) = [e for e in trail(fresh_url) if e.action == "export"]
    assert entry.entity_code == WENHUI and json.loads(entry.details)["status"] == "approved"


def test_the_cli_writes_as_the_operator(cli):
    import getpass

    cli.ok("demo")
    cli.ok("projects", "status", "GS-2023-012", "submitted")
    entries = trail(cli.database_url)
    assert entries[-1].actor == f"cli:{getpass.getuser()}" and entries[-1].action == "status"
    assert changes(entries[-1]) == {"status": ["draft", "submitted"]}


@pytest.mark.parametrize("statement", ["UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"])
def test_the_database_refuses_to_change_or_remove_entries(fresh_url, statement):
    engine = db.make_engine(fresh_url)
    try:
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()
    assert trail(fresh_url)  # all there


def _by_hand(url: str, statement: str) -> None:
    """Change the trail as someone with the database file would: around the triggers."""
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            if db.is_sqlite(engine):
                connection.execute(text("DROP TRIGGER audit_sealed"))
                connection.execute(text("DROP TRIGGER audit_removed"))
            else:
                connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_append_only"))
            connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("statement", "said"),
    [
        ("UPDATE audit_entry SET changes = '{}' WHERE seq = 5", "entry 5 was changed"),
        ("DELETE FROM audit_entry WHERE seq = 7", "entry 7 is missing"),
        ("UPDATE audit_entry SET prev_hash = hash WHERE seq = 9", "entry 9 does not follow"),
    ],
)
def test_audit_verify_finds_an_edited_or_removed_entry(cli, statement, said):
    cli.ok("demo")
    assert "The audit trail holds" in cli.ok("audit", "verify")
    _by_hand(cli.database_url, statement)
    result = cli("audit", "verify")
    assert result.exit_code == 1 and said in result.stderr


def test_audit_list_filters_by_org_user_and_entity(cli):
    cli.ok("demo")
    cli.ok("projects", "status", "GS-2023-012", "submitted")
    listed = cli.ok("audit", "list", "--org", "330105008", "--entity", "project", "--since", "2020-01-01")
    lines = listed.strip().splitlines()
    assert lines and all("\tproject\t" in line for line in lines)
    assert "GS-2023-012" in lines[0] and "draft → submitted" in lines[0]
    assert "GS-2023-001" not in listed  # owned by Wenhui Street, outside 330105008
    assert cli.ok("audit", "list", "--user", "nobody-at-all") == ""


def test_audit_page_is_scoped_filtered_and_downloadable(fresh_client):
    path, data = WRITES["/projects/{code:str}/edit"]
    fresh_client.post(path, data={**data, "_csrf_token": csrf_token(fresh_client, path)})
    page = fresh_client.get("/audit?entity=project&lang=en")
    assert page.status_code == 200 and "改名后的项目" in page.text
    street = fresh_client.get(f"/audit?org={WENHUI}&entity=project&lang=en").text
    assert "改名后的项目" not in street  # GS-2023-012 belongs to another street
    download = fresh_client.get("/audit.xlsx?entity=project")
    sheet = load_workbook(BytesIO(download.content)).active
    assert any("改名后的项目" in str(cell.value) for row in sheet.iter_rows() for cell in row)
    assert fresh_client.get("/audit?since=not-a-day").status_code == 400


def test_audit_page_is_for_admins_and_finance_only(client, fresh_app, backend):
    assert client.get("/audit").status_code == 200
    from tests.web.conftest import sign_in

    fresh_app.cookies.clear()
    sign_in(fresh_app, "gongshu-office")
    assert fresh_app.get("/audit").status_code == 403
    assert fresh_app.get("/audit.xlsx").status_code == 403


def test_verify_on_a_fresh_chain(fresh_url):
    engine = db.make_engine(fresh_url)
    try:
        with db.session_scope(engine) as session:
            checked, broken = audit_read.verify(session, batch=7)  # pages of the chain join up
        assert broken is None and checked == len(trail(fresh_url)) > 7
    finally:
        engine.dispose()
