"""Read an import source (a workbook, or a folder of CSV files) into rows keyed by column.

Rows stream from the source as the import takes them, so memory does not grow with the rows.
They keep their values plain, in the order of the sheet's mapped columns; a cell (value, row,
column, formula or not) is only made for the few rows that need one, e.g. to name a problem.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from operator import itemgetter
from pathlib import Path

from cocon.errors import Invalid, SourceProblem
from cocon.fields import is_example_code
from cocon.i18n import _, use_language
from cocon.labels import label
from cocon.versions import parse_version
from cocon.workbook.export_layout import is_totals_row as labelled_total
from cocon.workbook.schema import (
    SHEETS_BY_KEY,
    Column,
    Kind,
    Sheet,
    column_for_header,
    fold,
    is_template_aid,
    sheet_for_title,
)
from cocon.workbook.xlsx_scan import get_column_letter

HEADER_SEARCH_ROWS = 10
# Units of money other than the yuan that a header may name, e.g. 金额（万元）, Amount (10k yuan).
_OTHER_UNIT = re.compile(r"[百千万亿]|thousand|million|billion|10k")
# Formulas of a sheet by row, then by column (1-based): {line: {column: formula text}}.
Formulas = dict[int, dict[int, str]]
_NO_FORMULAS: frozenset[str] = frozenset()
_EXCEL_EPOCH = date(1899, 12, 30)


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


class SourceRow:
    """One data row of a sheet: its values by key, plainly, and which of them are formulas."""

    __slots__ = ("columns", "formulas", "keys", "line", "values")

    def __init__(
        self,
        line: int,
        keys: tuple[str, ...],
        columns: tuple[int, ...],
        values: tuple,
        formulas: frozenset[str] = _NO_FORMULAS,
    ) -> None:
        self.line = line
        self.keys = keys  # shared by the rows of a sheet
        self.columns = columns  # 1-based, shared too
        self.values = values
        self.formulas = formulas

    @property
    def cells(self) -> dict[str, Cell]:
        """Return the row's cells by key (made on demand)."""
        return {
            key: Cell(value, self.line, column, key in self.formulas)
            for key, column, value in zip(self.keys, self.columns, self.values, strict=True)
        }


@dataclass
class SourceSheet:
    """One sheet of a source, its header mapped onto the schema's columns.

    rows streams the data rows from the source as they are read: iterate it once.
    """

    sheet: Sheet
    title: str
    header_line: int
    headers: dict[str, str]
    ignored: list[str]
    rows: Iterator[SourceRow] = field(default_factory=lambda: iter(()))
    example_skipped: bool = False
    expected_rows: int | None = None  # for progress: how many rows the source says it has
    # What the cells of rows with a problem hold, by (sheet title, cell reference).
    problem_values: dict[tuple[str, str], object] = field(default_factory=dict)


def locate_header(
    sheet: Sheet, rows: list[tuple[int, list]]
) -> tuple[int, dict[int, Column]] | None:
    """Find the header among the first rows: the one naming the most of the sheet's columns."""
    best: tuple[int, dict[int, Column]] | None = None
    for line, values in rows[:HEADER_SEARCH_ROWS]:
        mapping = {}
        for index, value in enumerate(values):
            column = column_for_header(sheet, value)
            if (
                column is not None
                and column.kind is Kind.AMOUNT
                and _OTHER_UNIT.search(fold(value))
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
    sheet: Sheet,
    title: str,
    rows: Iterable[tuple[int, list]],
    problems: list[SourceProblem],
    formulas: Formulas | None = None,
) -> SourceSheet | None:
    """Map a sheet's header and collect its data rows; report a sheet without a usable header.

    rows are (line, values) in order; formulas names the cells that hold one (their value
    becomes the formula's text, and reading them as a value is refused).
    """
    formulas = formulas or {}
    rows = iter(rows)
    head = [_with_formulas(line, values, formulas) for line, values in _take(rows)]
    found = locate_header(sheet, head)
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
    header_values = next(values for line, values in head if line == header_line)
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
        str(value).strip()
        for index, value in enumerate(header_values)
        if index not in mapping and value not in (None, "")
    ]
    source = SourceSheet(
        sheet,
        title,
        header_line,
        {c.key: str(header_values[i]).strip() for i, c in mapping.items()},
        ignored,
    )
    source.rows = _data_rows(source, mapping, _chain(head, rows), formulas)
    return source


def _data_rows(
    source: SourceSheet,
    mapping: dict[int, Column],
    rows: Iterator[tuple[int, list]],
    formulas: Formulas,
) -> Iterator[SourceRow]:
    """Yield the data rows below the header: not blank, not a totals row, not the example."""
    sheet, header_line = source.sheet, source.header_line
    indices = tuple(mapping)
    keys = tuple(column.key for column in mapping.values())
    columns = tuple(index + 1 for index in indices)
    width = max(indices) + 1
    pick = itemgetter(*indices) if len(indices) > 1 else lambda values: (values[indices[0]],)
    for line, values in rows:
        if line <= header_line:
            continue
        in_formulas = formulas.get(line)
        if in_formulas:
            line, values = _with_formulas(line, values, formulas)
        if is_totals_row(values, in_formulas):
            continue
        if len(values) >= width:
            row = SourceRow(line, keys, columns, pick(values))
        else:  # a short row: only the cells it has
            kept = [n for n, index in enumerate(indices) if index < len(values)]
            row = SourceRow(
                line,
                tuple(keys[n] for n in kept),
                tuple(columns[n] for n in kept),
                tuple(values[indices[n]] for n in kept),
            )
        if all(_blank(value) for value in row.values):
            continue
        if in_formulas:
            row.formulas = frozenset(
                key
                for key, column in zip(row.keys, row.columns, strict=True)
                if column in in_formulas
            )
        if is_example_row(sheet, row):
            source.example_skipped = True
            continue
        yield row


def _take(rows: Iterator[tuple[int, list]]) -> list[tuple[int, list]]:
    head = []
    for item in rows:
        head.append(item)
        if len(head) == HEADER_SEARCH_ROWS:
            break
    return head


def _chain(head: list, rows: Iterator) -> Iterator:
    yield from head
    yield from rows


def _with_formulas(line: int, values: list, formulas: Formulas) -> tuple[int, list]:
    """Show each formula cell of a row as its formula text."""
    in_line = formulas.get(line)
    if not in_line:
        return line, values
    values = list(values)
    for column, formula in in_line.items():
        if column > len(values):  # the row's values end before this cell, which has none
            values.extend([None] * (column - len(values)))
        values[column - 1] = "=" + formula
    return line, values


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_example_row(sheet: Sheet, row: SourceRow) -> bool:
    """Tell whether a row is the template's example row, left as it was."""
    first = sheet.columns[0]
    if first.example not in (None, "") and first.key in row.keys:
        # Most rows differ from the example in their first column: tell them without the rest.
        value = row.values[row.keys.index(first.key)]
        text = value.strip() if isinstance(value, str) else ""
        if text and text != str(first.example) and first.choices is None:
            return False
    values = dict(zip(row.keys, row.values, strict=True))
    for column in sheet.columns:
        try:
            value = (
                read_value(column, values[column.key], column.key in row.formulas)
                if column.key in values
                else None
            )
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


def example_mark(sheet: Sheet, row: SourceRow) -> str | None:
    """Return the key of the cell that marks a row as the template's example, if one does.

    The example rows name records no real one can be (see cocon.workbook.schema): a row whose
    key or reference holds such a code is an example, changed or not. A changed one is
    refused by the import rather than read as data.
    """
    for key, example in _marking_columns(sheet.key):
        if key in row.keys:
            value = row.values[row.keys.index(key)]
            text = str(value).strip().upper() if value is not None else ""
            if text and (text == example or is_example_code(text)):
                return key
    return None


@cache
def _marking_columns(sheet_key: str) -> tuple[tuple[str, str], ...]:
    """Return the key and example (upper case) of the columns that name a row or what it names."""
    sheet = SHEETS_BY_KEY[sheet_key]
    return tuple(
        (column.key, str(column.example).upper())
        for column in sheet.columns
        if column.kind in (Kind.CODE, Kind.ORG)
        and column.example not in (None, "")
        and (column.key in sheet.natural_key or column.key in ("project", "allocation"))
    )


def is_totals_row(values: list, formulas: dict[int, str] | None = None) -> bool:
    """Tell an export's totals row: 合计 / Total in its first cell, then only formulas or blanks."""
    if not labelled_total(values):
        return False
    formulas = formulas or {}
    return all(
        column in formulas or _blank(value) for column, value in enumerate(values[1:], start=2)
    )


def read_xlsx(
    path: Path, name: str | None = None
) -> tuple[list[SourceSheet], list[str], list[SourceProblem]]:
    """Open every recognised sheet of a workbook that passes the safety checks.

    name is what the messages call the file (default: its name on disk). Each sheet is read
    whole and its header found now; the rows are turned into source rows as the import takes
    them. The safety scan already named every formula cell, so a formula is still refused
    wherever a value is expected.
    """
    from cocon.workbook.safety import check_upload
    from cocon.workbook.xlsx_read import CheckedWorkbook, by_line

    shown = name or path.name
    copy, scans = check_upload(path, name=name)
    book = CheckedWorkbook(copy, shown, scans)
    sheets, ignored, problems = [], [], []
    for title in book.sheet_names:
        sheet = sheet_for_title(title)
        if sheet is None:
            if not is_template_aid(title):
                ignored.append(title)
            continue
        rows = book.rows(title)
        found = scans.get(title)
        formulas = by_line(found.formulas) if found else {}
        source = build_sheet(sheet, title, rows, problems, formulas)
        if source is not None:
            source.expected_rows = max(rows.height - source.header_line, 0)
            sheets.append(source)
    return sheets, ignored, problems


def read_csv_folder(folder: Path) -> tuple[list[SourceSheet], list[str], list[SourceProblem]]:
    """Open a folder of CSV files named after the sheets (projects.csv, 共建项目.csv, …), rows streamed."""
    sheets, ignored, problems = [], [], []
    for path in sorted(folder.glob("*.csv")):
        sheet = sheet_for_title(path.stem)
        if sheet is None:
            if not is_template_aid(path.stem):
                ignored.append(path.name)
            continue
        lines = _utf8_lines(path)
        if lines is None:
            problems.append(SourceProblem(path.name, None, None, _("the file is not UTF-8 text")))
            continue
        source = build_sheet(sheet, path.name, _csv_rows(path), problems)
        if source is not None:
            source.expected_rows = max(lines - source.header_line, 0)
            sheets.append(source)
    return sheets, ignored, problems


def _utf8_lines(path: Path) -> int | None:
    """Count a text file's lines, reading it in chunks; None when it is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 16):
                decoder.decode(chunk)
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return lines


def _csv_rows(path: Path) -> Iterator[tuple[int, list]]:
    """Yield a CSV file's rows numbered from 1, keeping the file open only while reading."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from enumerate(csv.reader(handle), start=1)


# --- reading cell values


def read_value(column: Column, value: object, is_formula: bool = False) -> object:
    """Turn what a cell holds into what the domain functions take; refuse formulas."""
    if is_formula:
        raise Invalid(
            _(
                "'{value}' is a formula: write the value itself (copy, then paste values only)"
            ).format(value=value),
            field=column.key,
        )
    if column.kind is Kind.VERSION:
        return parse_version(value)
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
        # A date serial in a cell without a date format (1900 system, past its leap-year bug).
        return _EXCEL_EPOCH + timedelta(days=value)
    return value


def cell_value(column: Column, cell: Cell) -> object:
    """Read a cell's value (see read_value)."""
    return read_value(column, cell.value, cell.is_formula)
