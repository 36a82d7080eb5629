"""Import workbooks (or folders of CSV files) sheet by sheet: all rows or none.

Every row goes through the same domain functions as the CLI and the web forms, each inside a
savepoint so one bad row does not hide the next one's errors; if any row fails, the caller's
transaction is rolled back and every problem is reported with its sheet, row and column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from openpyxl.utils import get_column_letter
from sqlmodel import Session

from cocon.checks import Finding, Policies
from cocon.derived import deferred_refresh
from cocon.errors import CoconError, ImportFailed, Invalid, SourceProblem
from cocon.findings import allocation_findings, project_findings
from cocon.i18n import _, use_language
from cocon.labels import label
from cocon.projects import FieldErrors
from cocon.workbook.bulk import import_projects
from cocon.workbook.schema import (
    SHEETS,
    Column,
    Kind,
    Sheet,
    column_for_header,
    fold,
    sheet_for_title,
)
from cocon.workbook.steps import STEPS, snapshot

HEADER_SEARCH_ROWS = 10
# Units of money other than the yuan that a header may name, e.g. 金额（万元）, Amount (10k yuan).
_OTHER_UNIT = re.compile(r"[百千万亿]|thousand|million|billion|10k")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Cell:
    """A value read from a source, with where it stands (row and column, 1-based)."""

    value: object
    line: int
    column: int
    is_formula: bool = False

    @property
    def coordinate(self) -> str:
        """Return the cell reference, e.g. F12."""
        return f"{get_column_letter(self.column)}{self.line}"


@dataclass
class SourceRow:
    """One data row of a sheet."""

    line: int
    cells: dict[str, Cell]


@dataclass
class SourceSheet:
    """One sheet of a source, its header mapped onto the schema's columns."""

    sheet: Sheet
    title: str
    header_line: int
    headers: dict[str, str]
    ignored: list[str]
    rows: list[SourceRow] = field(default_factory=list)
    example_skipped: bool = False


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
    warnings: list[Finding] = field(default_factory=list)
    source_name: str = ""

    @property
    def all_problems(self) -> list[SourceProblem]:
        """Return every problem, of the file and of each sheet."""
        return self.problems + [p for sheet in self.sheets for p in sheet.problems]


class WorkbookRejected(ImportFailed):
    """The import found problems; the report says what each sheet would have done."""

    def __init__(self, report: ImportReport) -> None:
        problems = report.all_problems
        super().__init__(
            _("{count} problems in the file; nothing was written").format(count=len(problems)),
            problems,
        )
        self.report = report


# --- reading sources


def locate_header(
    sheet: Sheet, rows: list[tuple[int, list[Cell]]]
) -> tuple[int, dict[int, Column]] | None:
    """Find the header among the first rows: the one naming the most of the sheet's columns."""
    best: tuple[int, dict[int, Column]] | None = None
    for line, cells in rows[:HEADER_SEARCH_ROWS]:
        mapping = {}
        for index, cell in enumerate(cells):
            column = column_for_header(sheet, cell.value)
            if (
                column is not None
                and column.kind is Kind.AMOUNT
                and _OTHER_UNIT.search(fold(cell.value))
            ):
                # 预算金额（万元） names the budget, but its figures are not yuan: leave it
                # unread rather than take 12.5 for ¥12.50.
                continue
            if column is not None and column not in mapping.values():
                mapping[index] = column
        if mapping and (best is None or len(mapping) > len(best[1])):
            best = (line, mapping)
    return best


def build_sheet(
    sheet: Sheet, title: str, rows: list[tuple[int, list[Cell]]], problems: list[SourceProblem]
) -> SourceSheet | None:
    """Map a sheet's header and collect its data rows; report a sheet without a usable header."""
    found = locate_header(sheet, rows)
    if found is None:
        problems.append(
            SourceProblem(
                title,
                None,
                None,
                _("no header row found: expected columns such as {headers}").format(
                    headers=", ".join(c.zh for c in sheet.columns[:4])
                ),
            )
        )
        return None
    header_line, mapping = found
    header_cells = next(cells for line, cells in rows if line == header_line)
    missing = [c for c in sheet.columns if c.required and c not in mapping.values()]
    for column in missing:
        problems.append(
            SourceProblem(
                title,
                header_line,
                column.header(),
                _("the required column {header} is missing").format(header=column.header()),
            )
        )
    if missing:
        return None
    ignored = [
        str(cell.value).strip()
        for index, cell in enumerate(header_cells)
        if index not in mapping and cell.value not in (None, "")
    ]
    source = SourceSheet(
        sheet,
        title,
        header_line,
        {c.key: str(header_cells[i].value).strip() for i, c in mapping.items()},
        ignored,
    )
    for line, cells in rows:
        if line <= header_line or is_totals_row(cells):
            continue
        values = {
            column.key: cells[index] for index, column in mapping.items() if index < len(cells)
        }
        if all(_blank(cell.value) for cell in values.values()):
            continue
        if is_example_row(sheet, values):
            source.example_skipped = True
            continue
        source.rows.append(SourceRow(line, values))
    return source


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_example_row(sheet: Sheet, cells: dict[str, Cell]) -> bool:
    """Tell whether a row is the template's example row, left as it was."""
    for column in sheet.columns:
        cell = cells.get(column.key)
        try:
            value = None if cell is None else cell_value(column, cell)
        except Invalid:
            return False
        if isinstance(value, (datetime, date)):
            value = value.strftime("%Y-%m-%d")
        shown = "" if value is None else str(value).strip()
        expected = column.example
        if expected in (None, ""):
            if shown:
                return False
            continue
        forms = {str(expected)}
        if column.choices is not None:
            for language in ("zh_CN", "en"):
                with use_language(language):
                    forms.add(label(column.choices, str(expected)))
        if shown not in forms:
            return False
    return True


def is_totals_row(cells: list[Cell]) -> bool:
    """Tell an export's totals row: 合计 / Total in its first cell, then only formulas or blanks."""
    from cocon.workbook.exporter import is_totals_row as labelled_total

    return labelled_total(cell.value for cell in cells) and all(
        cell.is_formula or _blank(cell.value) for cell in cells[1:]
    )


def read_xlsx(path: Path) -> tuple[list[SourceSheet], list[str], list[SourceProblem]]:
    """Read every recognised sheet of a workbook that passed the safety checks.

    The values are read by calamine (fast, Rust); the safety scan already named every formula
    cell, so a formula is still refused wherever a value is expected.
    """
    from python_calamine import CalamineWorkbook

    from cocon.workbook.safety import MAX_COLUMNS, MAX_ROWS, check_upload

    data, formulas = check_upload(path)
    try:
        workbook = CalamineWorkbook.from_filelike(BytesIO(data))
    except Exception as exc:
        raise Invalid(
            _(
                "{name} could not be read as an Excel workbook: open it in Excel and save it again as .xlsx"
            ).format(name=path.name)
        ) from exc
    sheets, ignored, problems = [], [], []
    for title in workbook.sheet_names:
        sheet = sheet_for_title(title)
        if sheet is None:
            ignored.append(title)
            continue
        try:
            values = workbook.get_sheet_by_name(title).to_python(skip_empty_area=False)
        except Exception as exc:
            raise Invalid(
                _("sheet {sheet} is damaged and cannot be read").format(sheet=title)
            ) from exc
        if len(values) > MAX_ROWS or (values and len(values[0]) > MAX_COLUMNS):
            raise Invalid(
                _("sheet {sheet} has more than {rows} rows or {columns} columns").format(
                    sheet=title, rows=MAX_ROWS, columns=MAX_COLUMNS
                )
            )
        in_sheet = formulas.get(title, {})
        rows = [
            (
                line,
                [
                    _cell(in_sheet, value, line, column)
                    for column, value in enumerate(record, start=1)
                ],
            )
            for line, record in enumerate(values, start=1)
            if any(value != "" for value in record)
        ]
        source = build_sheet(sheet, title, rows, problems)
        if source is not None:
            sheets.append(source)
    return sheets, ignored, problems


def _cell(formulas: dict[str, str], value: object, line: int, column: int) -> Cell:
    """Make a cell; a formula (named by the safety scan) shows as its formula text."""
    if formulas:
        formula = formulas.get(f"{get_column_letter(column)}{line}")
        if formula is not None:
            return Cell("=" + formula, line, column, True)
    return Cell(value, line, column)


def read_csv_folder(folder: Path) -> tuple[list[SourceSheet], list[str], list[SourceProblem]]:
    """Read a folder of CSV files named after the sheets (projects.csv, 共建项目.csv, …)."""
    sheets, ignored, problems = [], [], []
    for path in sorted(folder.glob("*.csv")):
        sheet = sheet_for_title(path.stem)
        if sheet is None:
            ignored.append(path.name)
            continue
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                rows = [
                    (
                        line,
                        [Cell(value, line, column) for column, value in enumerate(record, start=1)],
                    )
                    for line, record in enumerate(csv.reader(handle), start=1)
                ]
        except UnicodeDecodeError:
            problems.append(SourceProblem(path.name, None, None, _("the file is not UTF-8 text")))
            continue
        source = build_sheet(sheet, path.name, rows, problems)
        if source is not None:
            sheets.append(source)
    return sheets, ignored, problems


# --- reading cell values


def cell_value(column: Column, cell: Cell) -> object:
    """Turn what a cell holds into what the domain functions take; refuse formulas."""
    if cell.is_formula:
        raise Invalid(
            _(
                "'{value}' is a formula: write the value itself (copy, then paste values only)"
            ).format(value=cell.value),
            field=column.key,
        )
    value = cell.value
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float):
        value = int(value) if value.is_integer() and abs(value) < 2**53 else Decimal(repr(value))
    if isinstance(value, datetime) and column.kind is Kind.DATE:
        return value.date()
    if column.kind in (Kind.CODE, Kind.ORG, Kind.TEXT) and isinstance(value, (int, Decimal)):
        return str(value)
    if column.kind is Kind.DATE and isinstance(value, int) and 20_000 <= value <= 80_000:
        from openpyxl.utils.datetime import from_excel

        return from_excel(value).date()
    return value


# --- running the import


def run_import(
    session: Session,
    sources: Iterable[SourceSheet],
    policies: Policies,
    report: ImportReport,
    progress: Progress | None = None,
) -> ImportReport:
    """Apply every row of every sheet in dependency order; raise WorkbookRejected on any problem."""
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
        total = sum(len(source.rows) for source in by_key.values())
        done = 0
        for sheet in SHEETS:
            source = by_key.get(sheet.key)
            if source is None:
                continue
            result = SheetResult(
                sheet.key,
                source.title,
                ignored_columns=source.ignored,
                example_skipped=source.example_skipped,
            )
            report.sheets.append(result)
            if sheet.key == "projects":
                _import_projects(session, source, result)
                done += len(source.rows)
                continue
            step = STEPS[sheet.key]
            for row in _ordered(source):
                _apply_row(session, policies, source, row, step, result)
                done += 1
                if progress and done % 500 == 0:
                    progress(source.title, done, total)
    if report.all_problems:
        raise WorkbookRejected(report)
    report.warnings = _warnings(session, policies, touched)
    return report


def _warnings(session: Session, policies: Policies, touched: dict[str, set[int]]) -> list[Finding]:
    """Return the failing checks of what the import touched, once every row is in."""
    findings: list[Finding] = []
    for key, find in (("allocations", allocation_findings), ("projects", project_findings)):
        ids = sorted(touched[key])
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            findings += find(session, None, None, policies, chunk)
    return findings


def _ordered(source: SourceSheet) -> list[SourceRow]:
    """Put allocations after the parent allocations they name in the same sheet."""
    if source.sheet.key != "allocations":
        return source.rows
    by_code = {str(r.cells["code"].value).strip(): r for r in source.rows if "code" in r.cells}
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

    for row in source.rows:
        place(row, frozenset())
    return ordered


def _apply_row(
    session: Session,
    policies: Policies,
    source: SourceSheet,
    row: SourceRow,
    step,
    result: SheetResult,
) -> None:
    values, errors = _row_values(source, row)
    if not errors:
        try:
            with session.begin_nested():
                before, after = step(session, policies, values)
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
    """Read every cell of a row into what the domain functions take, collecting the errors."""
    values: dict[str, object] = {}
    errors: list[Invalid] = []
    for key, cell in row.cells.items():
        try:
            values[key] = cell_value(source.sheet.column(key), cell)
        except Invalid as error:
            errors.append(error)
    return values, errors


def _import_projects(session: Session, source: SourceSheet, result: SheetResult) -> None:
    """Import the projects sheet set-based (see cocon.workbook.bulk)."""
    counts, problems = import_projects(
        session,
        source.rows,
        lambda row: _row_values(source, row),
        lambda row, error: _locate(source, row, error),
    )
    result.created, result.updated, result.unchanged = (
        counts["created"],
        counts["updated"],
        counts["unchanged"],
    )
    result.problems.extend(problems)


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
    return SourceProblem(source.title, row.line, column, error.message, coordinate)


def import_source(
    session: Session, path: Path, policies: Policies, progress: Progress | None = None
) -> ImportReport:
    """Import a workbook (.xlsx) or a folder of CSV files; raise WorkbookRejected on any problem."""
    path = Path(path)
    if path.is_dir():
        sheets, ignored, problems = read_csv_folder(path)
    else:
        sheets, ignored, problems = read_xlsx(path)
    report = ImportReport(ignored_sheets=ignored, problems=problems, source_name=path.name)
    return run_import(session, sheets, policies, report, progress)
