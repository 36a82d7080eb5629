"""Fixtures for the web pages, on SQLite and PostgreSQL.

A demo database of each kind is loaded once per session (`writable_demo`, which no app opens).
Reading tests share a copy of it (`demo_database_url`, one started app per module: `reader`,
handed out as `client` with its cookies reset); every test that posts gets a copy of its own
(`fresh_url`, `fresh_client`), so no write leaks into the shared one and no test pays for
loading the demo again.

The clients are signed in: the demo database is signed into once, through the login form, as
the Gongshu admin and as a Zhejiang admin made for the tests; every copy of the database holds
those sessions, so a client only needs their cookies (`SIGNED_IN`). `anonymous_client` has none.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cocon import db
from cocon.demo import DEMO_PASSWORD, load_demo
from cocon.orgs import get_org
from cocon.settings import Settings
from cocon.users import create_user
from cocon.web import create_app
from tests.web.forms import csrf_token

TEST_HOST = "testserver.local"
PROVINCE_ADMIN = "zhejiang-admin"
# The sessions made in the demo database, by username: the cookies that carry them.
SIGNED_IN: dict[str, dict[str, dict[str, str]]] = {}


def web_settings(database_url: str, **changes) -> Settings:
    """Return the settings the tests serve the app with (the test client's host allowed)."""
    return Settings(
        database_url=database_url,
        allowed_hosts=(TEST_HOST,),
        session_idle_minutes=24 * 60,
        **changes,
    )


def sign_in(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login form and open a form page, as a user would."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    csrf_token(client, "/account")  # binds this session's CSRF token


def _load_demo(url: str) -> dict[str, dict[str, str]]:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            load_demo(session)
            create_user(
                session,
                PROVINCE_ADMIN,
                role="admin",
                org=get_org(session, "33"),
                password=DEMO_PASSWORD,
            )
        cookies = {}
        with TestClient(app=create_app(web_settings(url))) as client:
            for username in ("gongshu-admin", PROVINCE_ADMIN):
                client.cookies.clear()
                sign_in(client, username)
                cookies[username] = dict(client.cookies)
        if db.is_sqlite(engine):
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return cookies
    finally:
        engine.dispose()


def use_session(client: TestClient, username: str, kind: str) -> TestClient:
    """Give client the cookies of the session made in the demo database for username."""
    client.cookies.clear()
    client.cookies.update(SIGNED_IN[kind][username])
    return client


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
        SIGNED_IN["sqlite"] = _load_demo(f"sqlite:///{path}")
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
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    SIGNED_IN["postgresql"] = _load_demo(url)
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
    with TestClient(app=create_app(web_settings(demo_database_url))) as client:
        yield client


@pytest.fixture
def backend(writable_demo: tuple[str, object]) -> str:
    """Return the kind of database the test runs on."""
    return writable_demo[0]


@pytest.fixture
def client(reader: TestClient, backend: str) -> TestClient:
    """Return the module's reading client, signed in as the Gongshu admin and nothing more."""
    return use_session(reader, "gongshu-admin", backend)


@pytest.fixture
def province_client(reader: TestClient, backend: str) -> TestClient:
    """Return the module's reading client signed in as the admin of Zhejiang province."""
    return use_session(reader, PROVINCE_ADMIN, backend)


@pytest.fixture
def anonymous_client(reader: TestClient) -> TestClient:
    """Return the module's reading client with no cookies at all."""
    reader.cookies.clear()
    return reader


@pytest.fixture
def fresh_app(fresh_url: str) -> Iterator[TestClient]:
    """Yield a client of a started app on its own copy of the demo, with no cookies."""
    with TestClient(app=create_app(web_settings(fresh_url))) as client:
        yield client


@pytest.fixture
def fresh_client(fresh_app: TestClient, backend: str) -> TestClient:
    """Return a client on its own copy of the demo, signed in as the Gongshu admin."""
    return use_session(fresh_app, "gongshu-admin", backend)


@pytest.fixture
def fresh_province_client(fresh_app: TestClient, backend: str) -> TestClient:
    """Return a client on its own copy of the demo, signed in as the Zhejiang admin."""
    return use_session(fresh_app, PROVINCE_ADMIN, backend)


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """Return the URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'empty.db'}"


@contextmanager
def signed_client(
    database_url: str, backend: str, username: str = "gongshu-admin", **changes
) -> Iterator[TestClient]:
    """Yield a client of an app with changed settings on a copy of the demo, signed in."""
    with TestClient(app=create_app(web_settings(database_url, **changes))) as client:
        yield use_session(client, username, backend)
