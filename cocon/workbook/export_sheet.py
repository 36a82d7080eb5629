"""One constant-memory sheet of the export: header, rows top to bottom, totals row, print setup.

Fast path: a data row is rendered to XML here, in one string, and appended to the temporary
file xlsxwriter keeps for the sheet's rows in ``constant_memory`` mode. The XML is exactly what
xlsxwriter would write for the same cells (tests compare whole files), but it skips its
per-cell bookkeeping (a dict per row, a tuple per cell, a second pass to serialise), which cost
most of the export's time. xlsxwriter's own state is kept in step: between fast rows its
pending row is empty and ``previous_row`` is the next row to write, so any cell written through
its API (the header, totals, a row the fast path leaves to it) lands where it belongs, and the
sheet's dimensions cover every row written. A row holding something the fast path does not
render (text shaped like rich text, a date before 1900-03-01) goes through xlsxwriter's API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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
    clean_text,
    inline_string,
    is_plain,
    is_rich_shaped,
    risky,
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
        self._styles: dict[int, str] = {}

    def indented(self, depth: int, quoted: bool) -> Format:
        """Return the format of a name indented depth steps (and quoted when risky)."""
        key = (depth, quoted)
        if key not in self._indented:
            properties: dict[str, Any] = {"indent": depth}
            if quoted:
                properties["quote_prefix"] = True
            self._indented[key] = self.workbook.add_format(properties)
        return self._indented[key]

    def style(self, cell_format: Format) -> str:
        """Return the s attribute of a cell in cell_format."""
        # Asked at first use, as xlsxwriter does: formats are numbered in that order.
        text = self._styles.get(id(cell_format))
        if text is None:
            text = self._styles[id(cell_format)] = f' s="{cell_format._get_xf_index()}"'
        return text


_Render = Callable[[str, Any], str | None]  # (cell reference, value) -> <c> element or None


class SheetWriter:
    """One constant-memory sheet: header, typed cells row by row, totals row, print setup.

    Rows are written top to bottom: ``cursor`` is the 0-based sheet row the next cells go to
    (the header is row 0, so data row n is sheet row n + 1, Excel's row n + 2). With
    fast=False every cell goes through xlsxwriter (the Summary, whose rows carry outline levels).
    """

    def __init__(
        self,
        context: _Context,
        sheet: Sheet,
        columns: tuple[Column, ...],
        *,
        freeze: str = "A2",
        outline: bool = False,
        fast: bool = True,
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
        # The fast path leans on xlsxwriter's constant-memory internals: without them (another
        # version), every row goes through its API, slower but the same file.
        self.fast = fast and all(
            hasattr(self.ws, name)
            for name in ("row_data_fh", "previous_row", "dim_rowmax", "_write_single_row")
        )
        self.batch = context.batch
        # Exact sums (integer fen) of the money written in each column: the totals' cached values.
        self.sums = [0] * len(columns)
        kinds = [c.kind for c in columns]
        self._money_cols = [i for i, kind in enumerate(kinds) if kind == Kind.AMOUNT]
        slow = {
            Kind.AMOUNT: self._amount,
            Kind.COUNT: self._count,
            Kind.YEAR: self._count,
            Kind.DATE: self._date,
        }
        self.writers = [slow.get(kind, self._text) for kind in kinds]
        fast_renderers = {
            Kind.AMOUNT: self._render_amount,
            Kind.COUNT: _render_count,
            Kind.YEAR: _render_count,
            Kind.DATE: self._render_date,
        }
        self._renderers: list[_Render] = [fast_renderers.get(k, self._render_text) for k in kinds]
        self._letters = [xl_col_to_name(i) for i in range(len(columns))]
        self._is_text = [kind not in fast_renderers for kind in kinds]
        ws = self.ws
        self._fh = ws.row_data_fh
        for index, column in enumerate(columns):
            ws.set_column(index, index, column.width)
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

    # -- the fast path: each renders one <c> element, or None to leave the row to xlsxwriter --

    def _render_text(self, ref: str, value: object) -> str | None:
        text = cell_text(value)
        if not text:
            return ""  # an empty string reads back as an empty cell, as it always did
        style = ""
        if text[0] in LOOK_CLOSER:
            if is_rich_shaped(text):
                return None
            if risky(text):
                style = self.formats.style(self.formats.quoted)
        return inline_string(ref, style, text)

    def _render_amount(self, ref: str, value: object) -> str:
        style = self.formats.style(self.formats.money)
        if value.__class__ is Formula:
            text, fen = value  # type: ignore[misc]
            formula = self.ws._prepare_formula(text)
            if "&" in formula or "<" in formula or ">" in formula:
                formula = formula.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            return f'<c r="{ref}"{style}><f>{formula}</f><v>{fen / 100}</v></c>'
        # fen / 100 is the double nearest the exact yuan, as float(to_decimal_yuan(fen)) is.
        return f'<c r="{ref}"{style}><v>{int(value) / 100:.16G}</v></c>'  # type: ignore[call-overload]

    def _render_date(self, ref: str, value: object) -> str | None:
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None).date()
        if isinstance(value, date):
            if value < _SERIAL_FROM:
                return None
            style = self.formats.style(self.formats.date)
            return f'<c r="{ref}"{style}><v>{value.toordinal() - _SERIAL_BASE:.16G}</v></c>'
        return self._render_text(ref, value)

    # -- the xlsxwriter path: each writes one value at (row, col); None is left empty ---------

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
        if value.__class__ is Formula:
            text, fen = value  # type: ignore[misc]
            self.formula(row, col, text, fen)
            return
        fen = int(value)  # type: ignore[call-overload]
        self.sums[col] += fen
        self.ws.write_number(row, col, fen / 100, self.formats.money)

    def _count(self, row: int, col: int, value: object) -> None:
        self.ws.write_number(row, col, int(value))  # type: ignore[call-overload]

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
        text = clean_text(value)
        self._text(self.cursor, col, text, self.formats.indented(depth, risky(text)))

    # -- rows ---------------------------------------------------------------------------------

    def cells(self, values: Sequence[object]) -> None:
        """Write one row of values by column kind at the cursor and move down (not counted)."""
        row = self.cursor
        if row >= MAX_ROWS:
            raise ValueError(f"{self.title}: more rows than an Excel sheet holds")
        if len(values) != len(self.columns):
            raise ValueError(f"{self.title}: {len(values)} values for {len(self.columns)} columns")
        if self.fast and self._fast_row(row, values):
            return
        for col, write, value in zip(range(len(values)), self.writers, values, strict=True):
            if value is not None:
                write(row, col, value)
        if self.fast:
            self.ws._write_single_row(row + 1)  # out now: the next fast row goes after it
        self.cursor = row + 1

    def _fast_row(self, row: int, values: Sequence[object]) -> bool:
        """Append row's XML to the sheet's row file; False (nothing written) to leave it."""
        ws = self.ws
        if ws.previous_row != row:
            ws._write_single_row(row)  # the header or a row written through xlsxwriter
        number = row + 1
        parts = [f'<row r="{number}">']
        for text, render, letter, value in zip(
            self._is_text, self._renderers, self._letters, values, strict=True
        ):
            if value is None:
                continue
            if text and value.__class__ is str and is_plain(value):
                # Most text, inline: a function call per cell is a good part of the cost.
                space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
                parts.append(
                    f'<c r="{letter}{number}" t="inlineStr"><is><t{space}>{value}</t></is></c>'
                )
                continue
            cell = render(f"{letter}{number}", value)
            if cell is None:
                return False
            parts.append(cell)
        if len(parts) > 1:
            parts.append("</row>")
            self._fh.write("".join(parts))
            ws.dim_rowmax = row if ws.dim_rowmax is None else max(ws.dim_rowmax, row)
        sums = self.sums
        for col in self._money_cols:
            value = values[col]
            if value is not None and value.__class__ is not Formula:
                sums[col] += int(value)  # type: ignore[call-overload]
        ws.previous_row = self.cursor = number
        return True

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


def _render_count(ref: str, value: object) -> str:
    return f'<c r="{ref}"><v>{int(value):.16G}</v></c>'  # type: ignore[call-overload]
