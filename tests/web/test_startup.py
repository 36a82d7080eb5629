"""Starting the app migrates the database and loads the demo into one without orgs."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import func, select

from cocon import db
from cocon.models import Org, Project
from cocon.settings import Settings
from cocon.web import create_app
from tests.web.conftest import sign_in, web_settings


def _count(url: str, model) -> int:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return session.execute(select(func.count()).select_from(model)).scalar_one()
    finally:
        engine.dispose()


def test_startup_loads_demo_into_empty_database(database_url):
    assert _count(database_url, Org) == 0
    with TestClient(app=create_app(web_settings(database_url))) as client:
        sign_in(client, "gongshu-admin")
        html = client.get("/").text
    assert "拱墅区" in html and '<option value="2023" selected>' in html
    assert _count(database_url, Org) > 190
    assert _count(database_url, Project) == 36


def test_startup_migrates_a_new_sqlite_file(empty_sqlite_url):
    with TestClient(app=create_app(web_settings(empty_sqlite_url))) as client:
        sign_in(client, "gongshu-admin")
        assert client.get("/orgs/330105017003").status_code == 200
    assert _count(empty_sqlite_url, Org) > 190


def test_create_app_touches_nothing_before_startup(tmp_path: Path):
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'later.db'}"))
    assert not (tmp_path / "later.db").exists()


def test_startup_keeps_existing_orgs(database_url):
    engine = db.make_engine(database_url)
    with db.session_scope(engine, write=True) as session:
        from cocon.orgs import create_org
        from cocon.users import create_user

        beijing = create_org(session, "11", "北京市")
        create_user(session, "bj-admin", role="admin", org=beijing, password="a first admin")
    engine.dispose()
    with TestClient(app=create_app(web_settings(database_url))) as client:
        sign_in(client, "bj-admin", "a first admin")
        html = client.get("/").text
    assert "北京市" in html
    assert _count(database_url, Org) == 1
