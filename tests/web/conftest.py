"""Fixtures for the web pages, on SQLite and PostgreSQL.

A demo database of each kind is loaded once per session (`writable_demo`, which no app opens).
Reading tests share a copy of it (`demo_database_url`, one started app per module: `reader`,
handed out as `client` with its cookies cleared); every test that posts gets a copy of its own
(`fresh_url`, `fresh_client`), so no write leaks into the shared one and no test pays for
loading the demo again.
"""

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
        if db.is_sqlite(engine):
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()


def _copy_database(kind: str, template: object, folder: Path) -> tuple[str, object]:
    """Copy a demo database; return its URL and what drops it (None for a file)."""
    if kind == "sqlite":
        path = folder / "demo.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}", None
    admin_url, template_name = template
    name = f"{template_name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, (admin, name)


def _drop_database(handle: object) -> None:
    if handle is None:
        return
    admin, name = handle
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def writable_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, object]]:
    """Yield a demo database of each kind that no app opens, to copy for each test."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("writable") / "demo.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        _load_demo(f"sqlite:///{path}")
        yield "sqlite", path
        return
    template = request.getfixturevalue("_postgres_template")
    if template is None:
        pytest.skip("no PostgreSQL server answers (set COCON_TEST_POSTGRES_URL)")
    admin_url, empty_template = template
    name = f"cocon_webw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{empty_template}"'))
    _load_demo(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    yield "postgresql", (admin_url, name)
    _drop_database((admin, name))


@pytest.fixture(scope="session")
def demo_database_url(
    writable_demo: tuple[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the demo database the reading tests share (they must not write to it)."""
    url, handle = _copy_database(*writable_demo, tmp_path_factory.mktemp("web"))
    yield url
    _drop_database(handle)


@pytest.fixture
def fresh_url(writable_demo: tuple[str, object], tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a fresh copy of the demo database for one test."""
    url, handle = _copy_database(*writable_demo, tmp_path)
    yield url
    _drop_database(handle)


@pytest.fixture(scope="module")
def reader(demo_database_url: str) -> Iterator[TestClient]:
    """Yield one started app per module and backend on the shared, read-only demo database."""
    with TestClient(app=create_app(Settings(database_url=demo_database_url))) as client:
        yield client


@pytest.fixture
def client(reader: TestClient) -> TestClient:
    """Return the module's reading client with no cookies left from an earlier test."""
    reader.cookies.clear()
    return reader


@pytest.fixture
def fresh_client(fresh_url: str) -> Iterator[TestClient]:
    """Yield a client of a started app on its own copy of the demo; it keeps cookies."""
    with TestClient(app=create_app(Settings(database_url=fresh_url))) as client:
        yield client


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """Return the URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'empty.db'}"
