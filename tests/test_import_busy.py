"""`cocon import` beside other writers: a dry run holds up no one and waits for no one; an
import that finds the database busy past COCON_DATABASE_BUSY_SECONDS says so and exits 75."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, select

from cocon import db
from cocon.cli.base import EXIT_BUSY
from cocon.models import Project
from tests import workbooks
from tests.conftest import another_writer
from tests.workbooks import many_projects

database_url = workbooks.database_url
BUSY = {"COCON_DATABASE_BUSY_SECONDS": "1"}


def bulk_codes(url: str) -> list[str]:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            statement = select(Project.code).where(Project.code.startswith("BULK-"))
            return sorted(session.execute(statement).scalars())
    finally:
        engine.dispose()


@contextmanager
def another_save(url: str) -> Iterator[None]:
    """Keep a save of a partner unit open in another connection (on SQLite: the write lock)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.exec_driver_sql("UPDATE partner SET name = name")
            yield
            transaction.rollback()
    finally:
        engine.dispose()


def test_import_into_a_busy_database_says_so_and_exits_75(cli, database_url, tmp_path: Path):
    path = many_projects(tmp_path / "projects.xlsx", 5)
    with another_writer(database_url):
        result = cli("import", str(path), env=BUSY)
    assert result.exit_code == EXIT_BUSY, result.output + result.stderr
    assert "the database is busy with another write; nothing was written" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert bulk_codes(database_url) == []
    chinese = cli("import", str(path), env=BUSY, lang="zh_CN")
    assert chinese.exit_code == 0, chinese.output + chinese.stderr  # free again: it imports
    assert len(bulk_codes(database_url)) == 5


def test_import_busy_message_is_chinese_by_default(cli, database_url, tmp_path: Path):
    path = many_projects(tmp_path / "projects.xlsx", 5)
    with another_writer(database_url):
        result = cli("import", str(path), env=BUSY, lang="zh_CN")
    assert result.exit_code == EXIT_BUSY
    assert "数据库正忙" in result.stderr


def test_dry_run_checks_while_another_save_is_open(cli, database_url, tmp_path: Path):
    path = many_projects(tmp_path / "projects.xlsx", 200)
    with another_save(database_url):
        result = cli("import", "--dry-run", str(path), env=BUSY)
    assert result.exit_code == 0, result.output + result.stderr
    assert "200 to create" in result.output and "Dry run: nothing was written." in result.output
    assert bulk_codes(database_url) == []
