"""Lost-update protection: a form names the version it read; saving over a newer one is a conflict."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cocon import db
from cocon.models import Allocation, Partner, Project
from cocon.user_models import User
from tests.web.forms import csrf_token


def form_data(html: str) -> dict[str, str]:
    """Return every input and selected option of the edit form on a page, as the browser sends it."""
    form = re.search(r'<form class="edit".*?</form>', html, re.S)[0]
    data = {name: value for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)}
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen[1] if chosen else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data[name] = body
    return data


def stored(url: str, model, **key):
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            column, value = next(iter(key.items()))
            return session.execute(select(model).where(getattr(model, column) == value)).scalar()
    finally:
        engine.dispose()


CASES = [
    ("/projects/GS-2023-012/edit", "name", Project, {"code": "GS-2023-012"}),
    ("/partners/91330105MA2GL3K724/edit", "name", Partner, {"credit_code": "91330105MA2GL3K724"}),
    ("/allocations/WH-2023-OWN/edit", "source_note", Allocation, {"code": "WH-2023-OWN"}),
]


@pytest.mark.parametrize(("path", "field", "model", "key"), CASES)
def test_saving_over_a_newer_version_is_a_conflict_and_nothing_is_lost(
    fresh_client, fresh_url, path, field, model, key
):
    first = form_data(fresh_client.get(path).text)  # two people open the same form
    second = dict(first)
    assert first["version"] == "1"
    first[field] = "第一个人的改动"
    assert fresh_client.post(path, data=first, follow_redirects=False).status_code == 303
    assert stored(fresh_url, model, **key).version == 2
    second[field] = "第二个人的改动"
    conflict = fresh_client.post(f"{path}?lang=en", data=second)
    assert conflict.status_code == 409
    html = conflict.text
    assert "Someone else saved this in the meantime" in html
    assert "第一个人的改动" in html and "第二个人的改动" in html  # theirs beside yours
    assert getattr(stored(fresh_url, model, **key), field) == "第一个人的改动"  # nothing saved
    again = form_data(html)  # the form keeps yours, at the new version: apply yours again
    assert again[field] == "第二个人的改动" and again["version"] == "2"
    assert fresh_client.post(path, data=again, follow_redirects=False).status_code == 303
    assert getattr(stored(fresh_url, model, **key), field) == "第二个人的改动"


def test_a_user_saved_meanwhile_is_a_conflict(fresh_client, fresh_url):
    path = "/users/wenhui-viewer/edit"
    opened = form_data(fresh_client.get(path).text)
    first = {**opened, "display_name": "甲"}
    assert fresh_client.post(path, data=first, follow_redirects=False).status_code == 303
    second = {**opened, "display_name": "乙"}
    response = fresh_client.post(f"{path}?lang=en", data=second)
    assert response.status_code == 409 and "Someone saved this since you opened it" in response.text
    assert stored(fresh_url, User, username="wenhui-viewer").display_name == "甲"


def test_a_save_racing_another_is_refused_by_the_version_counter(fresh_url):
    from sqlalchemy import text
    from sqlalchemy.orm.exc import StaleDataError

    engine = db.make_engine(fresh_url)
    try:
        with db.session_scope(engine, write=True) as session:
            project = session.execute(select(Project).where(Project.code == "GS-2023-012")).scalar()
            # Another save lands between this one's read and its write (the UPDATE's own check).
            session.connection().execute(
                text("UPDATE project SET version = version + 1 WHERE id = :id"), {"id": project.id}
            )
            project.name = "后"
            with pytest.raises(StaleDataError):
                session.flush()
            session.rollback()
    finally:
        engine.dispose()
    assert stored(fresh_url, Project, code="GS-2023-012").name != "后"


def test_an_import_advances_the_version(fresh_client, fresh_url):
    from tests.web.test_transfer import confirm_url, form_token, upload
    from tests.workbooks import project, table, xlsx_bytes

    before = stored(fresh_url, Project, code="GS-2023-012").version
    rows = [project("GS-2023-012", owner="330105008", site="330105008052", name="导入改名")]
    html = upload(fresh_client, xlsx_bytes({"共建项目": table("projects", rows)})).text
    fresh_client.post(confirm_url(html), data={"_csrf_token": form_token(html)})
    after = stored(fresh_url, Project, code="GS-2023-012")
    assert after.name == "导入改名" and after.version == before + 1
    assert csrf_token(fresh_client, "/account")
