"""`cocon init`: the schema, and SQLite connections in WAL mode with foreign keys on."""

from __future__ import annotations

import sqlite3

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from cocon.db import alembic_config, make_engine, newest_revision, stored_revision
from tests.conftest import Cli, snapshot


def _new_sqlite(tmp_path) -> tuple[Cli, str]:
    path = tmp_path / "fresh.db"
    return Cli(f"sqlite:///{path}"), str(path)


def test_init_creates_the_schema(cli, engine):
    out = cli.ok("init")
    assert "Schema is up to date" in out
    tables = set(inspect(engine).get_table_names())
    assert {"org", "community_profile", "alembic_version"} <= tables


def test_init_twice_is_fine(cli, database_url):
    cli.ok("init")
    before = snapshot(database_url)
    assert "Schema is up to date" in cli.ok("init")
    assert snapshot(database_url) == before


def test_init_keeps_existing_orgs(cli, database_url):
    cli.ok("orgs", "add", "33", "浙江省")
    cli.ok("init")
    assert "Code: 33" in cli.ok("orgs", "show", "33")


def test_init_sqlite_file_is_in_wal_mode(tmp_path):
    runner, path = _new_sqlite(tmp_path)
    runner.ok("init")
    # WAL is a property of the file: a plain connection sees it too.
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()


def test_init_sqlite_engine_connections_have_foreign_keys_on(tmp_path):
    runner, path = _new_sqlite(tmp_path)
    runner.ok("init")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()


def test_init_sqlite_twice_is_fine(tmp_path):
    runner, _path = _new_sqlite(tmp_path)
    runner.ok("init")
    assert "Schema is up to date" in runner.ok("init")


def test_init_upgrades_a_database_one_migration_behind(tmp_path):
    runner, path = _new_sqlite(tmp_path)
    runner.ok("init")
    engine = make_engine(f"sqlite:///{path}")
    try:
        command.downgrade(alembic_config(engine), "-1")
        assert stored_revision(engine) != newest_revision()
        assert "Schema is up to date" in runner.ok("init")
        assert stored_revision(engine) == newest_revision()
    finally:
        engine.dispose()


def test_newest_revision_is_the_head_alembic_finds(engine):
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    assert newest_revision() == scripts.get_current_head()
    assert stored_revision(engine) == newest_revision()  # the fixture's database is migrated
