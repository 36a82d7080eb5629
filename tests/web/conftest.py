"""Fixtures for the web pages: an HTTP client on a demo database, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cocon import db
from cocon.demo import load_demo
from cocon.settings import Settings
from cocon.web import create_app


def _load_demo(url: str) -> None:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            load_demo(session)
    finally:
        engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def demo_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield a database of each kind with the Gongshu demo, shared by the read-only page tests.

    Loading the demo takes seconds (more on PostgreSQL), so the pages that only read share one
    copy per kind; tests/conftest.py's fresh `database_url` serves the tests of startup itself.
    """
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("web") / "demo.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
        _load_demo(url)
        yield url
        return
    template = request.getfixturevalue("_postgres_template")
    if template is None:
        pytest.skip("no PostgreSQL server answers (set COCON_TEST_POSTGRES_URL)")
    admin_url, template_name = template
    name = f"cocon_web_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    _load_demo(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def client(demo_database_url: str) -> Iterator[TestClient]:
    """Yield a client of a started app on the demo database; it keeps cookies between requests."""
    with TestClient(app=create_app(Settings(database_url=demo_database_url))) as client:
        yield client


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """Return the URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'empty.db'}"
