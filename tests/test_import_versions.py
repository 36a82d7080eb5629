"""The version column of the workbooks: an export carries each record's version, and an import
refuses a row exported before someone else saved its record (lost-update protection).

Every test starts from a fresh database holding the Gongshu demo, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select, text
from sqlmodel import Session

from cocon.actors import operator
from cocon.db import session_scope
from cocon.models import CommunityProfile, Org, Project, StatusChange
from cocon.workbook.schema import SHEETS_BY_KEY, column_for_header, sheet_for_title
from tests import workbooks
from tests.conftest import snapshot
from tests.workbooks import partner, project, rejected_problems, table, write_workbook

database_url = workbooks.database_url

STALE = (
    "This row was changed by someone else after it was read (version 1, now 2):"
    " export again and make your changes there"
)
# For each sheet with versions: a row of the export, what someone else changes in it, what I do.
EDITS = {
    "projects": (2, ("name", "他人改过的名称"), ("description", "我的改动")),
    "partners": (2, ("contact", "他人"), ("phone", "0571-12345678")),
    "allocations": (2, ("source_note", "他人改过的来源"), ("source_note", "我的来源")),
    # GS-2023-026 draws on 半山街道's sub-allocation, which has room for a fen more.
    "funding": (40, ("amount", "+0.01"), ("amount", "+0.02")),
}


def _export(cli, path: Path) -> Path:
    cli.ok("export", str(path), "--org", "330105", "--year", "2023")
    return path


def _sheet(book, key: str) -> Worksheet:
    """Return the tab of the workbook that stands for the schema's sheet key."""
    return next(
        book[title]
        for title in book.sheetnames
        if (sheet := sheet_for_title(title)) is not None and sheet.key == key
    )


def _columns(ws: Worksheet, key: str) -> dict[str, int]:
    """Return the 1-based index of each schema column of a tab, by column key."""
    found = {}
    for cell in ws[1]:
        column = column_for_header(SHEETS_BY_KEY[key], cell.value)
        if column is not None:
            found[column.key] = cell.column
    return found


def _value(ws: Worksheet, line: int, index: int, change: str) -> object:
    """Return what change makes of a cell: a text, or an amount moved by +0.01 yuan."""
    if change.startswith("+"):
        return round(float(ws.cell(line, index).value) + float(change), 2)
    return change


def _someone_else_saves(
    cli, tmp_path: Path, ws: Worksheet, key: str, line: int, field: str, change: str
) -> None:
    """Import, as a hand-made sheet without versions, a row of ws with field changed."""
    columns = _columns(ws, key)
    record = {name: ws.cell(line, i).value for name, i in columns.items() if name != "version"}
    record[field] = _value(ws, line, columns[field], change)
    path = write_workbook(tmp_path / "theirs.xlsx", {ws.title: table(key, [record])})
    assert "0 to create, 1 to update" in cli.ok("import", str(path))


@pytest.mark.parametrize("key", list(EDITS))
def test_export_carries_each_records_version(cli, tmp_path, key):
    line, (field, change), _mine = EDITS[key]
    ws = _sheet(load_workbook(_export(cli, tmp_path / "first.xlsx")), key)
    version = _columns(ws, key)["version"]
    assert ws.cell(1, version).value in ("版本", "Version")
    assert {ws.cell(row, version).value for row in range(2, ws.max_row)} == {1}
    _someone_else_saves(cli, tmp_path, ws, key, line, field, change)
    again = _sheet(load_workbook(_export(cli, tmp_path / "second.xlsx")), key)
    versions = [again.cell(row, version).value for row in range(2, again.max_row)]
    assert versions[line - 2] == 2  # the record saved since, at its new version
    assert set(versions[: line - 2] + versions[line - 1 :]) == {1}


@pytest.mark.parametrize("key", list(EDITS))
def test_import_row_read_before_someone_saved_is_refused_on_its_version_cell(
    cli, database_url, tmp_path, key
):
    line, (field, change), (my_field, my_change) = EDITS[key]
    path = _export(cli, tmp_path / "mine.xlsx")
    book = load_workbook(path)
    ws = _sheet(book, key)
    columns = _columns(ws, key)
    _someone_else_saves(cli, tmp_path, ws, key, line, field, change)
    ws.cell(line, columns[my_field], _value(ws, line, columns[my_field], my_change))
    book.save(path)
    before = snapshot(database_url)
    problems = rejected_problems(cli, path)
    cell = f"{get_column_letter(columns['version'])}{line}"
    header = ws.cell(1, columns["version"]).value
    assert problems == [f"{ws.title}:{line} [{cell} {header}]: {STALE}"]
    assert snapshot(database_url) == before  # all or nothing: no other row was written either


def test_import_row_at_the_current_version_saves_and_the_version_goes_up(cli, engine, tmp_path):
    path = _export(cli, tmp_path / "mine.xlsx")
    book = load_workbook(path)
    ws = _sheet(book, "projects")
    columns = _columns(ws, "projects")
    code = ws.cell(2, columns["code"]).value
    ws.cell(2, columns["description"], "我的改动")
    book.save(path)
    assert "0 to create, 1 to update" in cli.ok("import", str(path))
    with Session(engine) as session:
        saved = session.exec(select(Project).where(Project.code == code)).scalars().one()
        assert (saved.description, saved.version) == ("我的改动", 2)
    # The same workbook again: its row was read at version 1, the project is at 2 now.
    assert rejected_problems(cli, path)[0].endswith(STALE)


def test_import_blank_version_checks_nothing(cli, engine, tmp_path):
    path = _export(cli, tmp_path / "mine.xlsx")
    book = load_workbook(path)
    ws = _sheet(book, "partners")
    columns = _columns(ws, "partners")
    _someone_else_saves(cli, tmp_path, ws, "partners", 2, "contact", "他人")
    ws.cell(2, columns["version"]).value = None  # typed by hand: saved over whatever is there
    ws.cell(2, columns["phone"], "0571-12345678")
    book.save(path)
    assert "0 to create, 1 to update" in cli.ok("import", str(path))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("二", "'二' is not a version number"),
        (1.5, "'1.5' is not a version number"),
        (0, "'0' is not a version number"),
        (
            7,
            "This record never had version 7 (it is at version 1): take the version from an"
            " export of this database, or leave it blank",
        ),
    ],
)
def test_import_bad_version_is_a_problem_of_its_cell(cli, database_url, tmp_path, typed, message):
    record = {**partner(), "version": typed}
    path = write_workbook(tmp_path / "p.xlsx", {"共建单位": table("partners", [record])})
    before = snapshot(database_url)
    assert rejected_problems(cli, path) == [f"共建单位:2 [F2 版本]: {message}"]
    assert snapshot(database_url) == before


def test_import_profile_read_before_someone_saved_is_refused(cli, engine, tmp_path):
    with Session(engine) as session:
        org_id = session.exec(select(Org.id).where(Org.code == "330105017003")).scalars().one()
        read_at = session.get(CommunityProfile, org_id).version
    theirs = {"code": "330105017003", "households": 3600}
    path = write_workbook(tmp_path / "theirs.xlsx", {"社区档案": table("profiles", [theirs])})
    cli.ok("import", str(path))
    mine = {"code": "330105017003", "households": 3700, "version": read_at}
    path = write_workbook(tmp_path / "mine.xlsx", {"社区档案": table("profiles", [mine])})
    problems = rejected_problems(cli, path)
    assert len(problems) == 1 and problems[0].startswith("社区档案:2 [C2 版本]: ")
    assert f"(version {read_at}, now {read_at + 1})" in problems[0]


def test_import_status_change_names_the_operator_in_the_history(cli, engine, tmp_path):
    path = write_workbook(
        tmp_path / "p.xlsx", {"共建项目": table("projects", [project("T-S1", status="已批准")])}
    )
    cli.ok("import", str(path))
    with Session(engine) as session:
        statement = (
            select(StatusChange.to_status, StatusChange.changed_by, StatusChange.changed_by_id)
            .join(Project, Project.id == StatusChange.project_id)
            .where(Project.code == "T-S1")
            .order_by(StatusChange.id)
        )
        history = [tuple(row) for row in session.exec(statement).all()]
    name = operator().name
    assert name.startswith("cli:")
    assert history == [
        ("draft", name, None),
        ("submitted", name, None),
        ("approved", name, None),
    ]


def test_import_save_racing_the_import_is_not_lost(cli, engine, tmp_path):
    path = _export(cli, tmp_path / "mine.xlsx")
    book = load_workbook(path)
    ws = _sheet(book, "projects")
    columns = _columns(ws, "projects")
    code = ws.cell(2, columns["code"]).value
    ws.cell(2, columns["description"], "我的改动")
    book.save(path)
    saved = threading.Event()

    def someone_else_saves() -> None:
        # Saved, not committed, before the import starts; committed once the import waits on it.
        with session_scope(engine, write=True) as session:
            project = session.exec(select(Project).where(Project.code == code)).scalars().one()
            project.name = "他人同时改的名称"
            session.flush()
            saved.set()
            _wait_for_a_blocked_writer(engine)

    other = threading.Thread(target=someone_else_saves)
    other.start()
    assert saved.wait(30)
    result = cli("import", str(path))
    other.join(60)
    assert result.exit_code == 1, result.output + result.stderr
    # PostgreSQL: the import read version 1 while the save was open, its UPDATE then finds 2.
    # SQLite: the import waits for the write lock, then reads version 2 and refuses the row.
    assert (
        "Someone saved some of these records while the import ran" in result.stderr
        or STALE in result.stderr
    )
    with Session(engine) as session:
        project = session.exec(select(Project).where(Project.code == code)).scalars().one()
        assert (project.name, project.version) == ("他人同时改的名称", 2)


def _wait_for_a_blocked_writer(engine, seconds: float = 30) -> None:
    """Return once another session waits on a lock (PostgreSQL), or after a moment (SQLite)."""
    if engine.dialect.name != "postgresql":
        time.sleep(1.5)  # the import's BEGIN IMMEDIATE waits out the busy timeout meanwhile
        return
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    deadline = time.monotonic() + seconds
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            blocked = connection.execute(waiting).scalar()
            connection.rollback()  # the statistics are read once per transaction
            if blocked:
                return
            time.sleep(0.05)
