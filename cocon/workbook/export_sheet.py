"""One constant-memory sheet of the export: header, rows top to bottom, totals row, print setup.

Rows go through xlsxwriter's public API: each row is one ``write_row`` of plain values (text,
numbers; money and dates take their formats from their columns), and only the cells that need
more (a formula, text to quote or to escape, a date before 1900-03-01) are written one by one
after it, into the same row, before xlsxwriter writes the row out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from cocon.i18n import current_language
from cocon.workbook.export_layout import MAX_ROWS, MONEY_FORMAT, TOTAL_LABELS
from cocon.workbook.export_text import (
    LOOK_CLOSER,
    cell_text,
    is_plain,
    is_rich_shaped,
    risky,
    xml_safe_text,
)
from cocon.workbook.schema import Column, Kind, Sheet

if TYPE_CHECKING:
    from cocon.workbook.exporter import _Context

# Excel's serial number of a date (1900 date system) from 1900-03-01 on, past its 1900-02-29.
_SERIAL_FROM, _SERIAL_BASE = date(1900, 3, 1), date(1899, 12, 30).toordinal()


class Formula(NamedTuple):
    """A money formula and its exact result in fen (the cached value), as a cell value."""

    text: str
    fen: int


class Formats:
    """The cell formats of one workbook (xlsxwriter formats belong to their workbook)."""

    def __init__(self, workbook: Workbook) -> None:
        self.workbook = workbook
        add = workbook.add_format
        self.header = add(
            {
                "bold": True,
                "pattern": 1,
                "bg_color": "#DDEBF7",
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
            }
        )
        self.money = add({"num_format": MONEY_FORMAT})
        self.total_money = add({"num_format": MONEY_FORMAT, "bold": True})
        self.total_label = add({"bold": True})
        self.quoted = add({"quote_prefix": True})
        self.date = add({"num_format": "yyyy-mm-dd"})
        # Conditional formats (dxf) read fill colours differently: give both, as solid fills do.
        self.over = add({"bg_color": "#FFC7CE", "fg_color": "#FFC7CE", "font_color": "#9C0006"})
        self._indented: dict[tuple[int, bool], Format] = {}

    def indented(self, depth: int, quoted: bool) -> Format:
        """Return the format of a name indented depth steps (and quoted when risky)."""
        key = (depth, quoted)
        if key not in self._indented:
            properties: dict[str, Any] = {"indent": depth}
            if quoted:
                properties["quote_prefix"] = True
            self._indented[key] = self.workbook.add_format(properties)
        return self._indented[key]


# How the cells of a column go into write_row; others are written one by one after it.
_TEXT, _MONEY, _COUNT, _DATE = range(4)
_CODES = {
    Kind.AMOUNT: _MONEY,
    Kind.COUNT: _COUNT,
    Kind.YEAR: _COUNT,
    Kind.VERSION: _COUNT,
    Kind.DATE: _DATE,
}


class SheetWriter:
    """One constant-memory sheet: header, typed cells row by row, totals row, print setup.

    Rows are written top to bottom: ``cursor`` is the 0-based sheet row the next cells go to
    (the header is row 0, so data row n is sheet row n + 1, Excel's row n + 2).
    """

    def __init__(
        self,
        context: _Context,
        sheet: Sheet,
        columns: tuple[Column, ...],
        *,
        freeze: str = "A2",
        outline: bool = False,
    ) -> None:
        self.context = context
        self.formats = formats = context.formats
        self.key = sheet.key
        self.title = sheet.title(current_language())
        self.columns = columns
        self.ws: Worksheet = context.workbook.add_worksheet(self.title)
        self.rows = 0  # data rows written
        self.total = 0
        self.cursor = 0
        self.batch = context.batch
        # Exact sums (integer fen) of the money written in each column: the totals' cached values.
        self.sums = [0] * len(columns)
        kinds = [c.kind for c in columns]
        one_by_one = {Kind.AMOUNT: self._amount, Kind.DATE: self._date}
        self.writers = [one_by_one.get(kind, self._text) for kind in kinds]
        self._codes = [_CODES.get(kind, _TEXT) for kind in kinds]
        self._width = len(columns)
        ws = self.ws
        column_formats = {Kind.AMOUNT: formats.money, Kind.DATE: formats.date}
        for index, column in enumerate(columns):
            # The format of the column is that of its cells written without one (write_row's).
            ws.set_column(index, index, column.width, column_formats.get(column.kind))
        ws.freeze_panes(freeze)
        if outline:
            # Parents sit above their children: the +/- button goes on the parent's row.
            ws.outline_settings(True, False, False, False)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        for index, column in enumerate(columns):
            ws.write_string(0, index, column.header(current_language()), formats.header)
        self.cursor = 1

    # -- cells one by one: each writes one value at (row, col); None is left empty -----------

    def _text(self, row: int, col: int, value: object, cell_format: Format | None = None) -> None:
        """Write text as a cell that can only be text (never write(), never a formula)."""
        text = cell_text(value)
        if not text:
            return  # an empty string reads back as an empty cell, as it always did
        if text[0] in LOOK_CLOSER:
            if cell_format is None and risky(text):
                cell_format = self.formats.quoted
            if is_rich_shaped(text):
                # xlsxwriter would copy such a string into the XML unescaped, as rich text:
                # write it as three plain runs instead (it takes no fewer), which it escapes.
                parts: list[Any] = [text[:1], text[1:2], text[2:]]
                if cell_format is not None:
                    parts.append(cell_format)
                if self.ws.write_rich_string(row, col, *parts) != 0:
                    raise ValueError(f"{self.title}: cannot write text at row {row + 1}")
                return
        self.ws.write_string(row, col, text, cell_format)

    def _amount(self, row: int, col: int, value: object) -> None:
        text, fen = value  # type: ignore[misc]  (a Formula: cells() writes the plain amounts)
        self.formula(row, col, text, fen)

    def _date(self, row: int, col: int, value: object) -> None:
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None).date()
        if isinstance(value, date):
            if value >= _SERIAL_FROM:  # the serial number Excel stores, as write_datetime makes it
                serial = value.toordinal() - _SERIAL_BASE
                self.ws.write_number(row, col, serial, self.formats.date)
            else:
                self.ws.write_datetime(row, col, value, self.formats.date)
        else:
            self._text(row, col, value)

    def formula(self, row: int, col: int, formula: str, fen: int, *, total: bool = False) -> None:
        """Write a money formula with its exact result (fen) as the cached value."""
        money = self.formats.total_money if total else self.formats.money
        self.ws.write_formula(row, col, formula, money, fen / 100)

    def name(self, col: int, value: object, depth: int) -> None:
        """Write a Summary name indented by its depth in the current row."""
        if value is None:
            return
        text = xml_safe_text(value)
        self._text(self.cursor, col, text, self.formats.indented(depth, risky(text)))

    # -- rows ---------------------------------------------------------------------------------

    def cells(self, values: Sequence[object]) -> None:
        """Write one row of values by column kind at the cursor and move down (not counted)."""
        row = self.cursor
        if row >= MAX_ROWS:
            raise ValueError(f"{self.title}: more rows than an Excel sheet holds")
        if len(values) != self._width:
            raise ValueError(f"{self.title}: {len(values)} values for {self._width} columns")
        plain: list[object] = [None] * self._width
        later = []
        sums = self.sums
        for col, code, value in zip(range(self._width), self._codes, values, strict=True):
            if value is None:
                continue
            if code == _TEXT:
                if value.__class__ is str and is_plain(value):
                    plain[col] = value
                    continue
            elif code == _MONEY:
                if value.__class__ is not Formula:
                    fen = int(value)  # type: ignore[call-overload]
                    sums[col] += fen
                    # fen / 100 is the double nearest the exact yuan, as float(Decimal yuan) is.
                    plain[col] = fen / 100
                    continue
            elif code == _COUNT:
                plain[col] = int(value)  # type: ignore[call-overload]
                continue
            elif value.__class__ is date and value >= _SERIAL_FROM:
                # The serial number Excel stores, as write_datetime makes it.
                plain[col] = value.toordinal() - _SERIAL_BASE
                continue
            later.append(col)
        self.ws.write_row(row, 0, plain)
        writers = self.writers
        for col in later:
            writers[col](row, col, values[col])
        self.cursor = row + 1

    def typed_row(self, values: Sequence[object]) -> None:
        """Write one data row, count it and report progress every batch rows."""
        self.cells(values)
        self.rows += 1
        if self.rows % self.batch == 0:
            self.report()

    def skip(self, rows: int = 1) -> None:
        self.cursor += rows

    def start(self, total: int) -> None:
        self.total = total
        self.report()

    def report(self) -> None:
        if self.context.progress is not None:
            self.context.progress(self.title, self.rows, max(self.total, self.rows))

    def letter(self, key: str) -> str:
        return xl_col_to_name(self.index(key))

    def index(self, key: str) -> int:
        """Return the 0-based column of key."""
        return next(i for i, c in enumerate(self.columns) if c.key == key)

    @property
    def last_row(self) -> int:
        """Excel's row number of the last data row (1, the header, when there is none)."""
        return 1 + self.rows

    def finish(self, money_keys: Iterable[str] = (), *, autofilter: bool = True) -> None:
        """Write the totals row over the money columns, set the autofilter, report the count."""
        last = self.last_row
        if money_keys:
            row = self.cursor
            if row >= MAX_ROWS:
                raise ValueError(f"{self.title}: more rows than an Excel sheet holds")
            self.ws.write_string(row, 0, TOTAL_LABELS[current_language()], self.formats.total_label)
            for key in money_keys:
                col = self.index(key)
                if self.rows:
                    letter = xl_col_to_name(col)
                    formula = f"=SUBTOTAL(9,{letter}2:{letter}{last})"
                    self.formula(row, col, formula, self.sums[col], total=True)
                else:
                    self.ws.write_number(row, col, 0, self.formats.total_money)
            self.cursor = row + 1
        if autofilter:
            self.ws.autofilter(0, 0, last - 1, len(self.columns) - 1)
        self.context.summary.sheets.append(self.title)
        self.context.summary.rows[self.key] = self.rows
        self.report()
