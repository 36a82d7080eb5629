"""Import and export pages: the template, upload → preview → confirm, marked errors, hostile
files, the scope of every row, tokens; finance's workbook of a scope, year and filters.

`client` reads the shared demo; the tests that import get a copy of their own (`fresh_client`,
see conftest.py). Uploads wait in a folder of each test's own.
"""

from __future__ import annotations

import re
from io import BytesIO
from urllib.parse import unquote

import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, update

from cocon import db
from cocon.checks import Policies
from cocon.errors import Refused
from cocon.models import Org, Project, StatusChange
from cocon.orgs import get_org
from cocon.user_models import WaitingUpload
from cocon.users import find_user
from cocon.web import scope as web_scope
from cocon.web.uploads import UploadStore
from cocon.workbook import safety
from cocon.workbook.importer import import_source
from cocon.workbook.marking import BAD_FILL
from cocon.workbook.schema import SHEETS
from tests import hostile
from tests.conftest import snapshot
from tests.web.forms import csrf_token
from tests.workbooks import every_sheet, project, table, xlsx_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WENHUI, SHANGTANG = "330105017", "330105008"
LATE_PAYMENT = {  # 8万 drawn, 5万 paid by the first two payments: 5万 more is over what was drawn
    "voucher_no": "T-V-0003",
    "project": "T-2023-101",
    "allocation": "T-WH-2023",
    "paid_on": "2023-12-01",
    "amount": "5万",
}


@pytest.fixture
def web(client: TestClient) -> TestClient:
    """The reading client (its uploads wait in the shared demo database)."""
    return client


@pytest.fixture
def writer(fresh_client: TestClient) -> TestClient:
    """A client on a database of its own."""
    return fresh_client


def waiting(url: str, token: str | None = None) -> list[WaitingUpload]:
    """Return the uploads waiting in the database at url (the one of token)."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            statement = select(WaitingUpload)
            if token is not None:
                statement = statement.where(WaitingUpload.token == token)
            return list(session.execute(statement).scalars())
    finally:
        engine.dispose()


def upload(client: TestClient, data: bytes, org: str | None = None, name: str = "导入.xlsx"):
    """Post a workbook from the upload page (with its CSRF token) and return the response."""
    query = f"?org={org}" if org else ""
    # ?lang= on the form's page sets the cookie: the preview is in English too.
    token = csrf_token(client, f"/import?lang=en{'&org=' + org if org else ''}")
    return client.post(
        f"/import{query}",
        data={"_csrf_token": token},
        files={"workbook": (name, data, XLSX)},
    )


def form_token(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html)[1]


def confirm_url(html: str) -> str | None:
    found = re.search(r'<form class="confirm" method="post" action="([^"]+)"', html)
    return found[1].replace("&amp;", "&") if found else None


def upload_token(html: str) -> str:
    return re.search(r"/import/([A-Za-z0-9_-]{20,})/", html)[1]


def workbook(response) -> object:
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"].startswith(XLSX)
    return load_workbook(BytesIO(response.content))


def find_project(url: str, code: str) -> tuple[Project, Org] | None:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            statement = select(Project, Org).join(Org, Org.id == Project.owner_id)
            return session.execute(statement.where(Project.code == code)).first()
    finally:
        engine.dispose()


# --- the upload page and the template


def test_import_page_has_the_upload_form_the_template_and_the_csv_note(web):
    html = web.get("/import?lang=en").text
    assert 'enctype="multipart/form-data"' in html and 'name="_csrf_token"' in html
    assert 'type="file"' in html and 'accept=".xlsx' in html
    assert 'href="/import/template.xlsx"' in html
    assert "cocon import FOLDER" in html and "command line only" in html


@pytest.mark.parametrize(("language", "instructions"), [("en", "Instructions"), ("zh_CN", "说明")])
def test_template_download_is_a_workbook_in_the_language_asked(web, language, instructions):
    response = web.get(f"/import/template.xlsx?lang={language}")
    book = workbook(response)
    assert book.sheetnames[0] == instructions
    assert [sheet.title(language) for sheet in SHEETS] == [
        name for name in book.sheetnames if name in {s.title(language) for s in SHEETS}
    ]
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''" in response.headers["content-disposition"]


# --- upload, preview, confirm


def test_good_workbook_previews_then_imports_on_confirm(writer, fresh_url):
    before = snapshot(fresh_url)
    response = upload(writer, xlsx_bytes(every_sheet(status="草稿")))
    assert response.status_code == 200, response.text
    html = response.text
    assert "Nothing has been written yet" in html
    assert re.search(r"<th scope=\"row\">拨付</th>\s*<td class=\"num\">2</td>", html)
    assert re.search(r"<th scope=\"row\">共建项目</th>\s*<td class=\"num\">1</td>", html)
    assert "errors.xlsx" not in html
    assert snapshot(fresh_url) == before  # the preview wrote nothing
    token = upload_token(html)
    assert waiting(fresh_url, token)[0].content is not None
    response = writer.post(
        confirm_url(html), data={"_csrf_token": form_token(html)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/import/{token}/done"
    done = writer.get(response.headers["location"]).text
    assert "The workbook was imported: 8 created, 0 updated, 0 unchanged." in done
    found = find_project(fresh_url, "T-2023-101")
    assert found is not None and found[1].code == "330105017"
    assert waiting(fresh_url, token)[0].content is None  # the file goes once imported
    # Sent again (a double click): the first one did it, nothing happens twice.
    again = writer.post(confirm_url(html), data={"_csrf_token": form_token(html)})
    assert again.status_code == 200 and "8 created" in again.text


def test_error_in_the_last_row_listed_with_no_confirm_and_nothing_written(writer, fresh_url):
    before = snapshot(fresh_url)
    response = upload(writer, xlsx_bytes(every_sheet(payments=[LATE_PAYMENT], status="草稿")))
    assert response.status_code == 200
    html = response.text
    assert "1 problem: nothing can be imported until it is corrected" in html
    row = re.search(r'<table class="import-problems">.*?<tbody>(.*?)</tbody>', html, re.S)[1]
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:4] == ["拨付", "4", "E4 金额（元）", "5万"]
    assert "exceeds it by" in cells[4]
    assert confirm_url(html) is None and "Import now" not in html
    assert snapshot(fresh_url) == before
    marked = re.search(r'href="(/import/[^"]+/errors\.xlsx)"', html)[1]
    book = workbook(writer.get(marked))
    cell = book["拨付"]["E4"]
    assert cell.fill.fgColor.rgb == BAD_FILL.fgColor.rgb
    assert "exceeds it by" in cell.comment.text
    assert book["拨付"]["E3"].comment is None


def test_preview_shows_the_warnings_and_still_offers_to_confirm(writer):
    rows = [project("T-W", status="草稿", start_date="2022-05-01")]
    html = upload(writer, xlsx_bytes({"共建项目": table("projects", rows)})).text
    warnings = re.search(r'<section class="findings".*?</section>', html, re.S)[0]
    assert "T-W" in warnings and '<li class="finding">' in warnings
    assert confirm_url(html) is not None


def test_preview_of_a_workbook_that_changes_nothing_offers_no_import(writer, fresh_url):
    # The template as downloaded (its example rows left as they are) would change nothing.
    template = writer.get("/import/template.xlsx?lang=zh_CN").content
    before = snapshot(fresh_url)
    html = upload(writer, template, name="模板.xlsx").text
    assert "Nothing would change" in html
    assert confirm_url(html) is None and "Import now" not in html
    assert "Ignored sheets" not in html  # the instructions sheet is the template's own
    assert snapshot(fresh_url) == before


def test_hostile_files_refused_with_a_message_and_nothing_kept(writer, fresh_url, monkeypatch):
    before = snapshot(fresh_url)
    text = "项目编号,项目名称\nGS-2023-901,假项目\n".encode()
    response = upload(writer, text, name="projects.xlsx")
    assert response.status_code == 400
    assert "projects.xlsx is not an Excel workbook" in response.text
    assert 'type="file"' in response.text  # the upload form again
    monkeypatch.setattr(safety, "MAX_UNCOMPRESSED_BYTES", 2 * safety.MiB)
    response = upload(writer, hostile.zip_bomb_workbook(8 * safety.MiB), name="bomb.xlsx")
    assert response.status_code == 400
    assert "bomb.xlsx" in response.text and 'class="error-summary"' in response.text
    assert snapshot(fresh_url) == before
    assert waiting(fresh_url) == []


def test_upload_without_a_file_asks_for_one(web):
    token = csrf_token(web, "/import?lang=en")
    response = web.post("/import", data={"_csrf_token": token}, files={"other": ("x", b"")})
    assert response.status_code == 400
    assert "Choose a workbook (.xlsx) to upload." in response.text


def test_upload_larger_than_the_limit_is_413(web):
    token = csrf_token(web, "/import")
    data = bytes(safety.MAX_UPLOAD_BYTES + 2 * safety.MiB)
    response = web.post(
        "/import", data={"_csrf_token": token}, files={"workbook": ("big.xlsx", data, XLSX)}
    )
    assert response.status_code == 413
    assert "the limit is 20 MB" in response.text


def test_rows_outside_the_scope_are_refused(writer, fresh_url):
    rows = [project("T-1"), project("T-2", owner=SHANGTANG, site="330105008052")]
    before = snapshot(fresh_url)
    response = upload(writer, xlsx_bytes({"共建项目": table("projects", rows)}), org=WENHUI)
    html = response.text
    assert response.status_code == 200
    assert "There is no org 330105008 in the part of the tree you work in" in html
    assert "上塘街道" not in html
    assert "C3 牵头单位" in html and "D3 实施社区" in html
    assert confirm_url(html) is None
    assert snapshot(fresh_url) == before
    # The district holds both streets: there the same workbook is fine.
    response = upload(writer, xlsx_bytes({"共建项目": table("projects", rows)}))
    assert confirm_url(response.text) is not None


def test_token_is_bound_to_its_scope_and_unknown_tokens_are_404(writer, fresh_url):
    html = upload(writer, xlsx_bytes({"共建项目": table("projects", [project("T-1")])}), WENHUI)
    token, csrf = upload_token(html.text), form_token(html.text)
    data = {"_csrf_token": csrf}
    # Previewed in Wenhui Street: not there to confirm from the district, nor from elsewhere.
    assert writer.post(f"/import/{token}/confirm", data=data).status_code == 404
    assert writer.post(f"/import/{token}/confirm?org={SHANGTANG}", data=data).status_code == 404
    for bad in ("x" * 32, "../../etc", token[:-2] + "zz"):
        assert writer.post(f"/import/{bad}/confirm?org={WENHUI}", data=data).status_code == 404
        assert writer.get(f"/import/{bad}/errors.xlsx?org={WENHUI}").status_code == 404
    assert writer.get(f"/import/{token}/done?org={WENHUI}").status_code == 404  # not yet
    assert find_project(fresh_url, "T-1") is None
    # An hour later the token is dead too, and it goes with the next upload.
    engine = db.make_engine(fresh_url)
    with db.session_scope(engine, write=True) as session:
        session.execute(update(WaitingUpload).values(created=0))
    engine.dispose()
    assert writer.post(f"/import/{token}/confirm?org={WENHUI}", data=data).status_code == 404
    upload(writer, xlsx_bytes({"共建项目": table("projects", [project("T-2")])}), WENHUI)
    assert waiting(fresh_url, token) == []


def test_token_is_bound_to_the_user_who_uploaded(fresh_app, fresh_url, backend):
    from tests.web.conftest import PROVINCE_ADMIN, use_session

    use_session(fresh_app, "gongshu-admin", backend)
    html = upload(fresh_app, xlsx_bytes({"共建项目": table("projects", [project("T-1")])})).text
    use_session(fresh_app, PROVINCE_ADMIN, backend)  # sees Gongshu too, but did not upload it
    token = csrf_token(fresh_app, "/import?org=330105")
    url = f"/import/{upload_token(html)}/confirm?org=330105"
    assert fresh_app.post(url, data={"_csrf_token": token}).status_code == 404
    assert fresh_app.get(f"/import/{upload_token(html)}/errors.xlsx?org=330105").status_code == 404
    assert find_project(fresh_url, "T-1") is None


def test_upload_quota_drops_the_oldest_previews_and_refuses_what_cannot_fit(fresh_url):
    engine = db.make_engine(fresh_url)
    with db.session_scope(engine, write=True) as session:
        mine, theirs = (find_user(session, name).id for name in ("gongshu-admin", "wenhui-admin"))
        store = UploadStore(session, quota=300, total=500)
        *_older, third = (
            store.save(bytes(100), f"{n}.xlsx", "330105", mine).token for n in (1, 2, 3)
        )
        fourth = store.save(bytes(150), "4.xlsx", "330105", mine).token  # the two oldest go
        kept = {row.token for row in session.execute(select(WaitingUpload)).scalars()}
        assert kept == {third, fourth}
        with pytest.raises(Refused, match="larger than your upload quota"):
            store.save(bytes(301), "big.xlsx", "330105", mine)
        store.save(bytes(200), "5.xlsx", "330105017", theirs)
        with pytest.raises(Refused, match="too many workbooks waiting"):
            store.save(bytes(100), "6.xlsx", "330105017", theirs)  # 550 bytes on the server
    engine.dispose()


def test_upload_refused_when_the_server_holds_too_many(fresh_url, backend):
    from tests.web.conftest import signed_client

    book = xlsx_bytes({"共建项目": table("projects", [project("T-1")])})
    with signed_client(fresh_url, backend, upload_total_mb=0) as client:
        response = upload(client, book)
    assert response.status_code == 409
    assert "too many workbooks waiting for confirmation" in response.text
    assert waiting(fresh_url) == []


def test_confirm_without_csrf_token_is_refused(writer, fresh_url):
    html = upload(writer, xlsx_bytes({"共建项目": table("projects", [project("T-1")])})).text
    response = writer.post(confirm_url(html), data={})
    assert response.status_code == 403
    assert find_project(fresh_url, "T-1") is None


def test_confirm_rechecks_and_shows_problems_that_arose_since_the_preview(
    writer, fresh_url, tmp_path
):
    rows = [project("T-1")]
    html = upload(writer, xlsx_bytes({"共建项目": table("projects", rows)}), WENHUI).text
    # Meanwhile Shangtang Street takes the code T-1: a project Wenhui Street may not touch.
    path = tmp_path / "other.xlsx"
    path.write_bytes(
        xlsx_bytes(
            {"共建项目": table("projects", [project("T-1", owner=SHANGTANG, site="330105008052")])}
        )
    )
    engine = db.make_engine(fresh_url)
    with db.session_scope(engine, write=True) as session:
        import_source(session, path, Policies({}))
    engine.dispose()
    before = snapshot(fresh_url)
    response = writer.post(confirm_url(html), data={"_csrf_token": form_token(html)})
    assert response.status_code == 409
    assert "This code cannot be used; choose another" in response.text
    assert confirm_url(response.text) is None
    assert snapshot(fresh_url) == before


# --- export


def test_export_downloads_finance_workbook_of_the_scope(web, demo_database_url):
    response = web.get("/export?lang=en&year=2023")
    book = workbook(response)
    for name in ("Summary", "Projects", "Funding lines", "Allocations", "Payments", "Checks"):
        assert name in book.sheetnames
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="cocon-330105-2023.xlsx"')
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "拱墅区-330105-2023.xlsx"
    assert int(response.headers["content-length"]) == len(response.content)


def project_rows(book, sheet: str = "Projects") -> list[tuple]:
    rows = list(book[sheet].iter_rows(min_row=2, values_only=True))
    return [row for row in rows if row[0] not in (None, "Total", "合计")]


def test_filtered_export_holds_only_the_filtered_projects(web, demo_database_url):
    book = workbook(web.get("/export?lang=en&status=completed"))
    rows = project_rows(book)
    assert rows and {row[6] for row in rows} == {"completed"}
    engine = db.make_engine(demo_database_url)
    with db.session_scope(engine) as session:
        completed = session.execute(
            select(Project.code).where(Project.status == "completed")
        ).scalars()
        expected = sorted(completed)
    engine.dispose()
    assert sorted(row[0] for row in rows) == expected
    searched = project_rows(workbook(web.get("/export?lang=en&q=篮球")))
    assert searched and all("篮球" in row[1] for row in searched)


def test_export_of_a_street_holds_none_of_another_street(web):
    book = workbook(web.get(f"/export?lang=en&org={WENHUI}"))
    rows = project_rows(book)
    assert rows and all(row[2].startswith(WENHUI) for row in rows)
    under = project_rows(workbook(web.get(f"/export?lang=en&under={SHANGTANG}")))
    assert under and all(row[2].startswith(SHANGTANG) for row in under)


def test_export_outside_the_allowed_tree_or_unknown_is_404(web, monkeypatch):
    assert web.get("/export?org=999999").status_code == 404
    monkeypatch.setattr(
        web_scope, "allowed_root", lambda request, session: get_org(session, WENHUI)
    )
    assert web.get(f"/export?org={SHANGTANG}").status_code == 404
    assert web.get(f"/export?org={WENHUI}").status_code == 200


def test_export_with_a_bad_filter_is_400(web):
    response = web.get("/export?lang=en&status=bogus")
    assert response.status_code == 400


def test_dashboard_org_page_and_project_list_link_to_the_export(web):
    assert 'href="/export?year=2023"' in web.get("/?year=2023").text
    assert f'href="/export?org={WENHUI}&amp;year=2023"' in web.get(f"/orgs/{WENHUI}?year=2023").text
    assert 'href="/export?status=completed"' in web.get("/projects?status=completed").text


def test_an_import_by_a_user_approves_nothing(writer, fresh_url):
    rows = [project("T-A1", status="已批准"), project("T-A2", status="实施中")]
    html = upload(writer, xlsx_bytes({"共建项目": table("projects", rows)}), org=WENHUI).text
    assert html.count("An import does not approve projects") == 2
    assert confirm_url(html) is None
    assert find_project(fresh_url, "T-A1") is None



def test_an_imported_status_change_names_the_importing_user_in_the_history(fresh_url, backend):
    from tests.web.conftest import sign_in, signed_client

    with signed_client(fresh_url, backend) as client:
        client.cookies.clear()
        sign_in(client, "wenhui-office")
        rows = [project("T-S1", status="已申报")]  # owned by Wenhui Street: its office submits
        html = upload(client, xlsx_bytes({"共建项目": table("projects", rows)}), WENHUI).text
        done = client.post(confirm_url(html), data={"_csrf_token": form_token(html)})
        assert done.status_code == 200 and "1 created" in done.text
        page = client.get("/projects/T-S1?lang=en").text
    engine = db.make_engine(fresh_url)
    try:
        with db.session_scope(engine) as session:
            office = find_user(session, "wenhui-office")
            statement = (
                select(StatusChange.to_status, StatusChange.changed_by, StatusChange.changed_by_id)
                .join(Project, Project.id == StatusChange.project_id)
                .where(Project.code == "T-S1")
                .order_by(StatusChange.id)
            )
            history = [tuple(row) for row in session.execute(statement)]
            assert history == [
                ("draft", "wenhui-office", office.id),
                ("submitted", "wenhui-office", office.id),
            ]
    finally:
        engine.dispose()
    shown = page[page.index("Status history") :]
    shown = shown[: shown.index("</table>")]  # the page's status history, not its audit trail
    assert shown.count("<td>wenhui-office</td>") == 2
