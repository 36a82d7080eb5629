"""Import workbooks (or folders of CSV files) sheet by sheet: all rows or none.

Every row goes through the same domain functions as the CLI and the web forms, each inside a
savepoint so one bad row does not hide the next one's errors; if any row fails, the caller's
transaction is rolled back and every problem is reported with its sheet, row and column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from cocon.actors import act_as, actor_of
from cocon.audit import record
from cocon.checks import Finding, Policies
from cocon.db import is_sqlite_file, private_copy, session_scope
from cocon.derived import IdLog, deferred_refresh
from cocon.errors import CoconError, ImportFailed, Invalid, SourceProblem
from cocon.fields import FieldErrors
from cocon.findings import (
    allocation_findings,
    count_project_findings,
    project_findings,
)
from cocon.i18n import _
from cocon.models import Org
from cocon.workbook.bulk import import_projects
from cocon.workbook.reading import (  # noqa: F401 (importable from here, as before)
    HEADER_SEARCH_ROWS,
    Cell,
    SourceRow,
    SourceSheet,
    build_sheet,
    cell_value,
    example_mark,
    is_example_row,
    is_totals_row,
    locate_header,
    read_csv_folder,
    read_value,
    read_xlsx,
)
from cocon.workbook.schema import SHEETS
from cocon.workbook.steps import STEPS, snapshot

Progress = Callable[[str, int, int], None]
# Warnings worded in a report: more would only grow memory with the rows (all are counted).
WARNINGS_KEPT = 100
WARNING_CHUNK = 500


def example_row_changed() -> str:
    """Say that a changed example row is not imported, and what to do."""
    return _("The example row is not imported: delete the example row or give a real code")


@dataclass
class SheetResult:
    """What the import did, or would do, with one sheet."""

    key: str
    title: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    example_skipped: bool = False
    problems: list[SourceProblem] = field(default_factory=list)


@dataclass
class ImportReport:
    """The result of an import: per sheet, and the sheets that were not recognised."""

    sheets: list[SheetResult] = field(default_factory=list)
    ignored_sheets: list[str] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    # The first WARNINGS_KEPT warnings, worded; warning_count counts them all.
    warnings: list[Finding] = field(default_factory=list)
    warning_count: int = 0
    source_name: str = ""
    # What the cell of each located problem holds, by sheet title and cell reference.
    values: dict[tuple[str, str], object] = field(default_factory=dict)

    @property
    def all_problems(self) -> list[SourceProblem]:
        """Return every problem, of the file and of each sheet."""
        return self.problems + [p for sheet in self.sheets for p in sheet.problems]

    def value_of(self, problem: SourceProblem) -> object:
        """Return what the cell a problem names holds (None when it names no cell)."""
        if problem.cell is None or problem.column is None:
            return None
        return self.values.get((problem.source, problem.cell))


class WorkbookRejected(ImportFailed):
    """The import found problems; the report says what each sheet would have done."""

    def __init__(self, report: ImportReport) -> None:
        problems = report.all_problems
        super().__init__(
            _("{count} problems in the file; nothing was written").format(count=len(problems)),
            problems,
        )
        self.report = report


# --- running the import


def run_import(
    session: Session,
    sources: Iterable[SourceSheet],
    policies: Policies,
    report: ImportReport,
    progress: Progress | None = None,
    scope: Org | None = None,
) -> ImportReport:
    """Apply every row of every sheet in dependency order; raise WorkbookRejected on any problem.

    With a scope (an org), every row must stay inside its subtree: a row that names an org,
    project or allocation outside it is refused on that cell (partners belong to no org).
    """
    with deferred_refresh(session) as touched:
        by_key = {source.sheet.key: source for source in sources}
        if not by_key and not report.problems:
            report.problems.append(
                SourceProblem(
                    report.source_name,
                    None,
                    None,
                    _(
                        "no sheet of the import workbook was found: name the sheets like the template, e.g. {names}"
                    ).format(names=", ".join(sheet.zh for sheet in SHEETS[:3])),
                )
            )
        total = sum(source.expected_rows or 0 for source in by_key.values())
        done = 0
        for sheet in SHEETS:
            source = by_key.get(sheet.key)
            if source is None:
                continue
            result = SheetResult(sheet.key, source.title, ignored_columns=source.ignored)
            report.sheets.append(result)
            if sheet.key == "projects":
                done = _import_projects(session, source, result, scope, progress, done, total)
            else:
                step = STEPS[sheet.key]
                for row in _ordered(source):
                    _apply_row(session, policies, source, row, step, result, scope)
                    done += 1
                    if progress and done % 500 == 0:
                        progress(source.title, done, max(total, done))
            result.example_skipped = source.example_skipped
    if report.all_problems:
        for source in by_key.values():
            report.values.update(source.problem_values)
        raise WorkbookRejected(report)
    report.warnings, report.warning_count = _warnings(session, policies, touched)
    return report


def _warnings(
    session: Session, policies: Policies, touched: dict[str, IdLog]
) -> tuple[list[Finding], int]:
    """Return the first failing checks of what the import touched, and how many fail in all."""
    kept: list[Finding] = []
    count = 0
    for part in touched["allocations"].chunks(WARNING_CHUNK):
        findings = allocation_findings(session, None, None, policies, part)
        count += len(findings)
        kept += findings[: max(WARNINGS_KEPT - len(kept), 0)]
    for part in touched["projects"].chunks(WARNING_CHUNK, touched["checked_projects"]):
        if len(kept) >= WARNINGS_KEPT:
            count += count_project_findings(session, part)  # enough worded: only count
            continue
        findings = project_findings(session, None, None, policies, part)
        count += len(findings)
        kept += findings[: max(WARNINGS_KEPT - len(kept), 0)]
    return kept, count


def _ordered(source: SourceSheet) -> Iterable[SourceRow]:
    """Put allocations after the parent allocations they name in the same sheet.

    Only the allocations sheet is held whole for this; every other sheet streams.
    """
    if source.sheet.key != "allocations":
        return source.rows
    rows = list(source.rows)
    by_code = {str(r.cells["code"].value).strip(): r for r in rows if "code" in r.cells}
    ordered, placed = [], set()

    def place(row: SourceRow, seen: frozenset) -> None:
        if id(row) in placed:
            return
        parent = row.cells.get("parent")
        parent_row = by_code.get(str(parent.value).strip()) if parent and parent.value else None
        if parent_row is not None and id(parent_row) not in seen:
            place(parent_row, seen | {id(row)})
        placed.add(id(row))
        ordered.append(row)

    for row in rows:
        place(row, frozenset())
    return ordered


def _apply_row(
    session: Session,
    policies: Policies,
    source: SourceSheet,
    row: SourceRow,
    step,
    result: SheetResult,
    scope: Org | None = None,
) -> None:
    values, errors = _row_values(source, row)
    if not errors:
        try:
            with session.begin_nested():
                before, after = step(session, policies, values, scope)
        except FieldErrors as error:
            errors.extend(error.errors)
        except Invalid as error:
            errors.append(error)
        except CoconError as error:
            errors.append(Invalid(error.message))
        else:
            if before is None:
                result.created += 1
            elif before == snapshot(after):
                result.unchanged += 1
            else:
                result.updated += 1
            return
    for error in errors:
        result.problems.append(_locate(source, row, error))


def _row_values(source: SourceSheet, row: SourceRow) -> tuple[dict[str, object], list[Invalid]]:
    """Read every cell of a row into what the domain functions take, collecting the errors.

    An example row of the template that was changed is refused whole, on its example code.
    """
    values: dict[str, object] = {}
    errors: list[Invalid] = []
    marked = example_mark(source.sheet, row)
    if marked is not None:
        errors.append(Invalid(example_row_changed(), field=marked))
    columns = source.sheet.by_key
    formulas = row.formulas
    for key, value in zip(row.keys, row.values, strict=True):
        try:
            values[key] = read_value(columns[key], value, key in formulas)
        except Invalid as error:
            errors.append(error)
    return values, errors


def _import_projects(
    session: Session,
    source: SourceSheet,
    result: SheetResult,
    scope: Org | None,
    progress: Progress | None,
    done: int,
    total: int,
) -> int:
    """Import the projects sheet set-based (see cocon.workbook.bulk); return the rows done."""
    counted = [done]

    def advance(rows: int) -> None:
        counted[0] = done + rows
        if progress:
            progress(source.title, counted[0], max(total, counted[0]))

    counts, problems = import_projects(
        session,
        source.rows,
        lambda row: _row_values(source, row),
        lambda row, error: _locate(source, row, error),
        scope,
        advance,
    )
    result.created, result.updated, result.unchanged = (
        counts["created"],
        counts["updated"],
        counts["unchanged"],
    )
    result.problems.extend(problems)
    return counted[0]


def _locate(source: SourceSheet, row: SourceRow, error: Invalid) -> SourceProblem:
    """Name the sheet, row and column (cell and header) of an error."""
    key = error.field if error.field in source.headers else None
    column, coordinate = None, None
    if key is not None:
        cell = row.cells.get(key)
        coordinate = cell.coordinate if cell is not None else None
        header = source.headers[key]
        column = f"{coordinate} {header}" if coordinate else header
    elif row.cells:
        coordinate = next(iter(row.cells.values())).coordinate
    if coordinate is not None:
        for cell in row.cells.values():
            source.problem_values[(source.title, cell.coordinate)] = cell.value
    return SourceProblem(source.title, row.line, column, error.message, coordinate)


def import_source(
    session: Session,
    path: Path,
    policies: Policies,
    progress: Progress | None = None,
    *,
    scope: Org | None = None,
    name: str | None = None,
) -> ImportReport:
    """Import a workbook (.xlsx) or a folder of CSV files; raise WorkbookRejected on any problem.

    scope keeps every row inside one org's subtree (None: the whole tree, as for the CLI);
    name is what the reports call the source (default: the file's name).
    """
    path = Path(path)
    if path.is_dir():
        sheets, ignored, problems = read_csv_folder(path)
    else:
        sheets, ignored, problems = read_xlsx(path, name)
    report = ImportReport(ignored_sheets=ignored, problems=problems, source_name=name or path.name)
    report = run_import(session, sheets, policies, report, progress, scope)
    record(
        session,
        "import",
        "workbook",
        code=report.source_name,
        org_id=scope.id if scope is not None else None,
        details={
            "sha256": digest(path),
            "sheets": {
                sheet.title: {"created": sheet.created, "updated": sheet.updated,
                              "unchanged": sheet.unchanged}
                for sheet in report.sheets
            },
        },
    )  # fmt: skip
    return report


def digest(path: Path) -> str:
    """Return the SHA-256 of a workbook, or of a folder's CSV files in name order."""
    hashed = hashlib.sha256()
    for part in sorted(path.glob("*.csv")) if path.is_dir() else [path]:
        with part.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hashed.update(chunk)
    return hashed.hexdigest()


def dry_run(
    session: Session,
    path: Path,
    policies: Policies,
    *,
    scope: Org | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a source and roll everything back: return what the import would do, problems too.

    It holds up no other writer: on SQLite (one write lock per database, held from a
    transaction's first write) it runs in a private copy of what the database holds
    (cocon.db.private_copy); on PostgreSQL, where a write locks only its rows (and on a SQLite
    database in memory, which no one else sees), in the session.
    An unreadable or hostile file still raises Invalid: there is no report to give.
    """
    if not is_sqlite_file(session.get_bind()):
        return _rolled_back(session, path, policies, scope, name, progress)
    actor = actor_of(session)
    with private_copy(session.get_bind()) as copy, session_scope(copy) as scratch:
        act_as(scratch, actor)
        inside = scratch.get(Org, scope.id) if scope is not None else None
        return _rolled_back(scratch, path, policies, inside, name, progress)


def _rolled_back(
    session: Session,
    path: Path,
    policies: Policies,
    scope: Org | None,
    name: str | None,
    progress: Progress | None,
) -> ImportReport:
    try:
        return import_source(session, path, policies, progress, scope=scope, name=name)
    except WorkbookRejected as rejected:
        return rejected.report
    finally:
        session.rollback()
