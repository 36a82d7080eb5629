"""Finance's review workbook: the rollup, the rows behind it and the failing checks, in one file.

``export_workbook`` writes, in this order: Summary (汇总), Partners (共建单位), Projects (共建项目),
Funding lines (资金安排), Partner contributions (共建单位出资), Allocations (专项资金), Payments
(拨付) and Checks (校验). The data sheets start with the columns of cocon.workbook.schema, under
the same headers and sheet names, so an export can be imported back; read-only columns follow
them (names, funded, gap, drawn…) under headers no schema column answers to.

How it is written:
- Streaming: the workbook is written with xlsxwriter in ``constant_memory`` mode (each row goes
  to a temporary file as soon as the next row starts, strings inline), and every data sheet
  reads its rows with ``yield_per``, so memory stays flat however many rows there are. Rows are
  therefore written strictly top to bottom, each row's outline level set before its cells. Only
  the Summary (one row per org down to a capped depth) and the Checks (what failing_rows
  returns) are built in memory. The whole export reads one snapshot: REPEATABLE READ on
  PostgreSQL when the session has not begun yet, SQLite's read transaction otherwise.
- Money: amounts are integer fen in cocon and become exact ``Decimal`` yuan
  (cocon.money.to_decimal_yuan); the Decimal turns into a double only in the cell write.
  xlsxwriter writes a number as ``"%.16G" % value`` and Excel stores IEEE doubles; every amount
  has at most two decimals, so any amount below 10¹³ yuan (15 significant digits) reads back as
  exactly the same Decimal (``Decimal(str(float))``).
- Totals: after the data of each sheet with money, one row labelled 合计 / Total holds
  ``SUBTOTAL(9, …)`` over each money column, so a filtered view keeps its totals right. The
  autofilter covers the header and data only; an importer skips that row by its label
  (``is_totals_row``). On the Summary the rollup figures are values, not formulas. Every
  formula carries its result as the cached value, computed exactly from the integer fen written
  above it, so a viewer that does not recalculate shows the right figure (Excel recalculates on
  load all the same). Excel's own sum of doubles can stray from it by far less than a fen.
- Formula injection: all text goes through ``write_string`` (never ``write``, which would take
  text starting with = for a formula; the workbook's strings_to_* conversions are off too). A
  text cell whose text starts with = + - @, tab, CR or LF, or that reads like an Excel error
  (#N/A…), also gets the quote_prefix format: Excel shows the text as it is and keeps it text
  even when the cell is edited. No character is added to the value, so an importer has nothing
  to undo. Text shaped like ``<r>…</r>``, which xlsxwriter's constant-memory mode would copy
  into the sheet's XML unescaped as rich text, is written as a rich string of plain runs
  instead, which xlsxwriter escapes: it reads back as the same plain text.
- What XML cannot carry: a bare CR is turned into LF by every XML reader, so CR LF and CR are
  written as LF; control characters XML 1.0 forbids (other than tab, LF, CR), U+FFFE, U+FFFF
  and lone surrogates become U+FFFD; text beyond Excel's 32,767 characters (UTF-16 units) per
  cell is cut there. Text that itself looks like Excel's escape ``_xHHHH_`` is written escaped
  (``_x005F_xHHHH_``), so Excel shows it as typed; openpyxl does not undo that escape in inline
  strings and reads the escaped form.
- Limits: a sheet that would need more rows than Excel has (1,048,576) stops the export with
  ValueError (xlsxwriter would drop the rows beyond silently).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import IO, Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from cocon.checks import BLOCK, DEFAULT, Policies, Rule
from cocon.findings import failing_rows
from cocon.i18n import current_language, use_language
from cocon.labels import label, parse_choice
from cocon.models import (
    Allocation,
    Category,
    Contribution,
    ContributionKind,
    FundingLine,
    Level,
    Org,
    Partner,
    PartnerKind,
    Payment,
    Project,
    Status,
)
from cocon.money import to_decimal_yuan
from cocon.orgs import level_name
from cocon.rollup import RollupNode, rollup_tree
from cocon.scope import within
from cocon.workbook.schema import (
    ALLOCATIONS,
    CONTRIBUTIONS,
    FUNDING,
    PARTNERS,
    PAYMENTS,
    PROJECTS,
    Column,
    Kind,
    Sheet,
)

__all__ = [
    "MONEY_FORMAT",
    "SHEET_KEYS",
    "SUMMARY_DEPTH_CAP",
    "TOTAL_LABELS",
    "ExportSummary",
    "Progress",
    "export_workbook",
    "is_totals_row",
]

MONEY_FORMAT = "¥#,##0.00"
# Below a district the Summary shows every level; above it, this many levels below the root.
SUMMARY_DEPTH_CAP = 2
TOTAL_LABELS = {"zh_CN": "合计", "en": "Total"}
BATCH = 2000  # rows fetched per round trip, and rows between progress reports
MAX_CELL_TEXT = 32_767  # Excel's limit per cell, in UTF-16 code units
_MAX_ROWS = 1_048_576  # rows in an Excel sheet, the header and the totals row included

Progress = Callable[[str, int, int], None]

# Text that Excel would read as something other than text when typed (or edited) into a cell.
_RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_ERROR_CODES = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
    }
)
_NEWLINES = re.compile(r"\r\n?")
_LOOK_CLOSER = frozenset("=+-@\t\r\n#<")  # first characters of text that may need care
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]")  # CR too
# Characters XML 1.0 cannot carry (tab, LF and CR it can; CR is handled above).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Excel's serial number of a date (1900 date system) from 1900-03-01 on, past its 1900-02-29.
_SERIAL_FROM, _SERIAL_BASE = date(1900, 3, 1), date(1899, 12, 30).toordinal()
_PIXELS_PER_CM = 96 / 2.54  # xlsxwriter sizes charts in pixels at 96 dpi

# -- sheets and columns that the import schema does not have -------------------------------

SUMMARY = Sheet(
    "summary",
    "汇总",
    "Summary",
    (
        Column("code", "单位编码", "Org code", Kind.CODE, width=14),
        Column("name", "单位名称", "Org", Kind.TEXT, width=26),
        Column("level", "层级", "Level", Kind.TEXT, width=9),
        Column("projects", "项目数", "Projects", Kind.COUNT, width=9),
        Column("budget", "预算金额（元）", "Budget (yuan)", Kind.AMOUNT, width=16),
        Column("province", "省级资金（元）", "Province funds (yuan)", Kind.AMOUNT, width=16),
        Column("city", "市级资金（元）", "City funds (yuan)", Kind.AMOUNT, width=16),
        Column("district", "区级资金（元）", "District funds (yuan)", Kind.AMOUNT, width=16),
        Column("street", "街道资金（元）", "Street funds (yuan)", Kind.AMOUNT, width=16),
        Column("community", "社区资金（元）", "Community funds (yuan)", Kind.AMOUNT, width=16),
        Column(
            "partners", "共建单位出资（元）", "Partner contributions (yuan)", Kind.AMOUNT, width=18
        ),
        Column("funded", "资金合计（元）", "Funded (yuan)", Kind.AMOUNT, width=16),
        Column("paid", "已拨付（元）", "Paid (yuan)", Kind.AMOUNT, width=16),
        Column("held", "专项资金（元）", "Allocations held (yuan)", Kind.AMOUNT, width=16),
        Column("drawn", "已安排（元）", "Drawn (yuan)", Kind.AMOUNT, width=16),
        Column("remaining", "剩余额度（元）", "Remaining (yuan)", Kind.AMOUNT, width=16),
        Column("failing", "未通过校验", "Failing checks", Kind.COUNT, width=11),
    ),
    (),
)
CHECKS = Sheet(
    "checks",
    "校验",
    "Checks",
    (
        Column("rule", "规则", "Rule", Kind.TEXT, width=20),
        Column("severity", "级别", "Severity", Kind.TEXT, width=8),
        Column("subject", "对象", "Subject", Kind.CODE, width=16),
        Column("org", "单位", "Org", Kind.TEXT, width=16),
        Column("message", "说明", "Message", Kind.TEXT, width=80),
        Column("excess", "超出金额（元）", "Excess (yuan)", Kind.AMOUNT, width=16),
    ),
    (),
)
# Read-only columns after the schema's; no schema column answers to these headers.
PROJECT_EXTRAS = (
    Column("owner_name", "牵头单位名称", "Owner name", Kind.TEXT, width=20),
    Column("site_name", "实施社区名称", "Site name", Kind.TEXT, width=18),
    Column("funded", "资金合计（元）", "Funded (yuan)", Kind.AMOUNT, width=16),
    Column("gap", "资金缺口（元）", "Gap (yuan)", Kind.AMOUNT, width=16),
    Column("paid", "已拨付（元）", "Paid (yuan)", Kind.AMOUNT, width=16),
)
FUNDING_EXTRAS = (
    Column("allocation_org", "资金所属单位", "Allocation org", Kind.TEXT, width=18),
    Column("allocation_level", "资金层级", "Allocation level", Kind.TEXT, width=10),
)
CONTRIBUTION_EXTRAS = (Column("partner_name", "共建单位名称", "Partner name", Kind.TEXT, width=28),)
ALLOCATION_EXTRAS = (
    Column("org_name", "单位名称", "Org name", Kind.TEXT, width=18),
    Column("drawn", "已安排（元）", "Drawn (yuan)", Kind.AMOUNT, width=16),
    Column("passed_down", "已下拨（元）", "Passed down (yuan)", Kind.AMOUNT, width=16),
    Column("remaining", "剩余额度（元）", "Remaining (yuan)", Kind.AMOUNT, width=16),
)
SHEET_KEYS = (
    "summary",
    "partners",
    "projects",
    "funding",
    "contributions",
    "allocations",
    "payments",
    "checks",
)
_RULE_NAMES = {
    Rule.ALLOCATION_OVERCOMMITTED: ("超额安排", "allocation over-committed"),
    Rule.SUBALLOCATIONS_OVER_PARENT: ("下拨超过上级资金", "sub-allocations over parent"),
    Rule.PAYMENT_OVER_DRAWN: ("拨付超过已安排", "paid over drawn"),
    Rule.FUNDING_VS_BUDGET: ("资金与预算不符", "funding vs budget"),
    Rule.DATES_OUTSIDE_YEAR: ("日期超出项目年度", "dates outside the year"),
}
_SEVERITY_NAMES = {BLOCK: ("阻止", "block")}
_WARN_NAMES = ("提醒", "warn")
_CHART_TITLES = ("各下级单位：专项资金、已安排、已拨付", "Held, drawn and paid by org")
_CHART_DATA = ("图表数据", "Chart data")


def _pick(pair: tuple[str, str]) -> str:
    return pair[0] if current_language() == "zh_CN" else pair[1]


@dataclass
class ExportSummary:
    """What an export wrote: the sheets in order and the data rows of each (no header, no totals)."""

    language: str
    sheets: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        """Count the data rows of every sheet."""
        return sum(self.rows.values())


def is_totals_row(values: Iterable[object]) -> bool:
    """Tell whether a row read back from an export is its totals row (first cell 合计 / Total)."""
    first = next(iter(values), None)
    return isinstance(first, str) and first.strip() in TOTAL_LABELS.values()


def export_workbook(
    session: Session,
    path_or_stream: str | os.PathLike[str] | IO[bytes],
    *,
    root: Org | None,
    year: int | None,
    language: str = "zh_CN",
    projects_filter: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    policies: Policies = DEFAULT,
) -> ExportSummary:
    """Write finance's review workbook of root's subtree (every province without one) for year.

    projects_filter takes the filters of cocon.projects.list_projects (status, category, text)
    and narrows the sheets that list projects and their money (Projects, Funding lines, Partner
    contributions, Payments, and the partners these name); the Summary, Allocations and Checks
    always cover the whole scope. The Partners sheet lists the partners that contribute to the
    exported projects (every partner when there is no root, year or filter). Money in the
    Summary is written as values; the data sheets end in SUBTOTAL totals rows.
    progress(sheet title, rows done, rows in all) is called as each sheet starts, every BATCH
    rows and when it ends. Nothing is written to the database; nothing is written to
    path_or_stream unless the whole workbook was made.
    """
    with use_language(language):
        _snapshot(session)
        conditions = _project_conditions(projects_filter)
        target = (
            os.fspath(path_or_stream) if isinstance(path_or_stream, os.PathLike) else path_or_stream
        )
        workbook = Workbook(
            target,
            {
                "constant_memory": True,  # rows stream to temporary files: memory stays flat
                "in_memory": False,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        summary = ExportSummary(language=current_language())
        writers = (
            _write_summary,
            _write_partners,
            _write_projects,
            _write_funding,
            _write_contributions,
            _write_allocations,
            _write_payments,
            _write_checks,
        )
        context = _Context(
            session,
            workbook,
            _Formats(workbook),
            root,
            year,
            conditions,
            progress,
            policies,
            summary,
        )
        try:
            for write in writers:
                write(context)
            workbook.close()
        except BaseException:
            _discard(workbook)
            raise
        return summary


# -- plumbing --------------------------------------------------------------------------------


def _snapshot(session: Session) -> None:
    """Read every sheet from one snapshot (PostgreSQL: REPEATABLE READ if nothing began yet)."""
    if session.in_transaction():
        return
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _project_conditions(projects_filter: Mapping[str, object] | None) -> list:
    conditions: list = []
    if not projects_filter:
        return conditions
    unknown = set(projects_filter) - {"status", "category", "text"}
    if unknown:
        raise ValueError(
            f"projects_filter takes status, category and text, not {', '.join(sorted(unknown))}"
        )
    if projects_filter.get("status"):
        conditions.append(
            Project.status == parse_choice(Status, projects_filter["status"], "status")
        )
    if projects_filter.get("category"):
        conditions.append(
            Project.category == parse_choice(Category, projects_filter["category"], "category")
        )
    needle = str(projects_filter.get("text") or "").strip()
    if needle:
        conditions.append(
            or_(
                Project.name.contains(needle, autoescape=True),
                Project.code.contains(needle, autoescape=True),
            )
        )
    return conditions


@dataclass
class _Context:
    session: Session
    workbook: Workbook
    formats: _Formats
    root: Org | None
    year: int | None
    conditions: list
    progress: Progress | None
    policies: Policies
    summary: ExportSummary
    labels: dict[tuple[type[StrEnum], str | None], str] = field(default_factory=dict)

    def projects_in_scope(self, statement: Select) -> Select:
        """Keep rows of projects owned in the subtree, of the year, matching the filter."""
        owner = aliased(Org)
        statement = statement.join(owner, owner.id == Project.owner_id).where(
            within(owner, self.root)
        )
        if self.year is not None:
            statement = statement.where(Project.year == self.year)
        return statement.where(*self.conditions)

    def named(self, enum_class: type[StrEnum], value: str | None) -> str:
        """Return label(enum_class, value), looked up once per export (the language is set)."""
        key = (enum_class, value)
        text = self.labels.get(key)
        if text is None:
            text = self.labels[key] = label(enum_class, value)
        return text

    def count(self, statement: Select) -> int:
        subquery = statement.order_by(None).subquery()
        return int(self.session.execute(select(func.count()).select_from(subquery)).scalar_one())

    def stream(self, statement: Select) -> Iterator[tuple]:
        """Yield rows a batch at a time (a server-side cursor on PostgreSQL)."""
        result = self.session.execute(statement.execution_options(yield_per=BATCH))
        try:
            yield from result
        finally:
            result.close()


def _discard(workbook: Workbook) -> None:
    """Remove the temporary row files of a workbook that will not be closed."""
    for worksheet in workbook.worksheets():
        handle = getattr(worksheet, "row_data_fh", None)
        name = getattr(worksheet, "row_data_filename", None)
        if handle is not None:
            handle.close()
        if name:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _clean_text(value: object) -> str:
    """Return text as XML can carry it: LF for CR LF and CR, U+FFFD for forbidden characters."""
    text = (value if isinstance(value, str) else str(value))[:MAX_CELL_TEXT]
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("\ufffd", text)
    if len(text) > MAX_CELL_TEXT // 2:
        # Excel counts UTF-16 code units, and characters beyond the BMP take two.
        data = text.encode("utf-16-le")
        if len(data) > 2 * MAX_CELL_TEXT:
            data = data[: 2 * MAX_CELL_TEXT]
            if 0xD8 <= data[-1] <= 0xDB:  # do not keep half of a surrogate pair
                data = data[:-2]
            text = data.decode("utf-16-le")
    return text


def _risky(text: str) -> bool:
    """Tell whether Excel would take text typed into a cell for a formula or an error value."""
    return text.startswith(_RISKY_START) or (text[:1] == "#" and text.upper() in _ERROR_CODES)


class _Formats:
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


class _SheetWriter:
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
        # Exact sums (integer fen) of the money written in each column: the totals' cached values.
        self.sums = [0] * len(columns)
        writers = {
            Kind.AMOUNT: self._amount,
            Kind.COUNT: self._count,
            Kind.YEAR: self._count,
            Kind.DATE: self._date,
        }
        self.writers = [writers.get(c.kind, self._text) for c in columns]
        self._indexes = range(len(columns))
        ws = self.ws
        self._write_string, self._write_number = ws.write_string, ws.write_number
        self._money = formats.money
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

    # -- cells: each writes one value at (row, col); None is left empty by the callers --------

    def _text(self, row: int, col: int, value: object, cell_format: Format | None = None) -> None:
        """Write text as a cell that can only be text (never write(), never a formula)."""
        text = value if value.__class__ is str else str(value)
        if len(text) > MAX_CELL_TEXT // 2 or _NEEDS_CLEANING.search(text) is not None:
            text = _clean_text(text)
        if not text:
            return  # an empty string reads back as an empty cell, as it always did
        if text[0] in _LOOK_CLOSER:
            if cell_format is None and _risky(text):
                cell_format = self.formats.quoted
            if text.startswith("<r>") and text.endswith("</r>"):
                # xlsxwriter would copy such a string into the XML unescaped, as rich text:
                # write it as three plain runs instead (it takes no fewer), which it escapes.
                parts: list[Any] = [text[:1], text[1:2], text[2:]]
                if cell_format is not None:
                    parts.append(cell_format)
                if self.ws.write_rich_string(row, col, *parts) != 0:
                    raise ValueError(f"{self.title}: cannot write text at row {row + 1}")
                return
        self._write_string(row, col, text, cell_format)

    def _amount(self, row: int, col: int, fen: object) -> None:
        fen = int(fen)  # type: ignore[call-overload]
        self.sums[col] += fen
        self._write_number(row, col, float(to_decimal_yuan(fen)), self._money)

    def _count(self, row: int, col: int, value: object) -> None:
        self.ws.write_number(row, col, int(value))  # type: ignore[call-overload]

    def _date(self, row: int, col: int, value: object) -> None:
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None).date()
        if isinstance(value, date):
            if value >= _SERIAL_FROM:  # the serial number Excel stores, as write_datetime makes it
                self._write_number(row, col, value.toordinal() - _SERIAL_BASE, self.formats.date)
            else:
                self.ws.write_datetime(row, col, value, self.formats.date)
        else:
            self._text(row, col, value)

    def formula(self, row: int, col: int, formula: str, fen: int, *, total: bool = False) -> None:
        """Write a money formula with its exact result (fen) as the cached value."""
        money = self.formats.total_money if total else self.formats.money
        self.ws.write_formula(row, col, formula, money, float(to_decimal_yuan(fen)))

    def name(self, col: int, value: object, depth: int) -> None:
        """Write a Summary name indented by its depth in the current row."""
        if value is None:
            return
        text = _clean_text(value)
        self._text(self.cursor, col, text, self.formats.indented(depth, _risky(text)))

    # -- rows ---------------------------------------------------------------------------------

    def cells(self, values: Iterable[object]) -> None:
        """Write one row of values by column kind at the cursor and move down (not counted)."""
        row = self.cursor
        if row >= _MAX_ROWS:
            raise ValueError(f"{self.title}: more rows than an Excel sheet holds")
        for col, write, value in zip(self._indexes, self.writers, values, strict=True):
            if value is not None:
                write(row, col, value)
        self.cursor = row + 1

    def typed_row(self, values: Iterable[object]) -> None:
        """Write one data row, count it and report progress every BATCH rows."""
        self.cells(values)
        self.rows += 1
        if self.rows % BATCH == 0:
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

    def finish(self, money_keys: tuple[str, ...] = (), *, autofilter: bool = True) -> None:
        """Write the totals row over the money columns, set the autofilter, report the count."""
        last = self.last_row
        if money_keys:
            row = self.cursor
            if row >= _MAX_ROWS:
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


# -- the sheets ------------------------------------------------------------------------------


def _summary_depth(root: Org | None) -> int | None:
    if root is not None and root.level >= Level.DISTRICT:
        return None
    return SUMMARY_DEPTH_CAP


def _walk(nodes: list[RollupNode], depth: int = 0) -> Iterator[tuple[RollupNode, int]]:
    for node in nodes:
        yield node, depth
        yield from _walk(node.children, depth + 1)


def _write_summary(context: _Context) -> None:
    roots = rollup_tree(context.session, context.root, context.year, _summary_depth(context.root))
    nodes = list(_walk(roots))
    writer = _SheetWriter(context, SUMMARY, SUMMARY.columns, freeze="C2", outline=True)
    ws = writer.ws
    writer.start(len(nodes))
    for node, depth in nodes:
        total = node.total
        if depth:
            # Before any cell of the row: constant_memory writes a row out when the next begins.
            ws.set_row(writer.cursor, None, None, {"level": min(depth, 7), "hidden": False})
            writer.name(1, node.name, depth)
            name = None
        else:
            name = node.name
        writer.typed_row(
            (
                node.code,
                name,
                level_name(node.level),
                total.project_count,
                total.budget,
                *total.funding_by_level,
                total.partners,
                total.funded,
                total.paid,
                total.held,
                total.drawn,
                total.remaining,
                total.failing,
            )
        )
    _summary_chart(writer, roots, context.root is not None)
    writer.finish(autofilter=False)


def _summary_chart(writer: _SheetWriter, roots: list[RollupNode], rooted: bool) -> None:
    """Below the outline: held, drawn and paid of each child of root, and a bar chart of them."""
    chart_nodes = (roots[0].children if rooted and roots else roots) or roots
    if not chart_nodes:
        return
    ws = writer.ws
    writer.skip()  # a blank row below the outline
    title_row = writer.cursor
    ws.write_string(title_row, 0, _pick(_CHART_DATA), writer.formats.total_label)
    writer.skip()
    keys = ("held", "drawn", "paid")
    for node in chart_nodes:
        row: list[object] = [None] * len(writer.columns)
        row[0], row[1] = node.code, node.name
        for key in keys:
            row[writer.index(key)] = getattr(node.total, key)
        writer.cells(row)
    first, last = title_row + 1, title_row + len(chart_nodes)  # 0-based sheet rows
    chart = writer.context.workbook.add_chart({"type": "column", "subtype": "clustered"})
    # constant_memory cannot read the cells back for the chart's caches: hand them over, so
    # a viewer that draws from the caches shows the bars and names too.
    names = ["" if node.name is None else _clean_text(node.name) for node in chart_nodes]
    for key in keys:
        col = writer.index(key)
        values = [float(to_decimal_yuan(getattr(node.total, key))) for node in chart_nodes]
        chart.add_series(
            {
                "name": writer.columns[col].header(current_language()),
                "categories": [writer.title, first, 1, last, 1],
                "values": [writer.title, first, col, last, col],
                "categories_data": names,
                "values_data": values,
            }
        )
    chart.set_title({"name": _pick(_CHART_TITLES)})
    chart.set_y_axis(
        {"name": "元" if current_language() == "zh_CN" else "yuan", "num_format": "#,##0"}
    )
    width_cm = max(18, min(40, 2.2 * len(chart_nodes)))
    chart.set_size({"width": round(width_cm * _PIXELS_PER_CM), "height": round(9 * _PIXELS_PER_CM)})
    ws.insert_chart(last + 2, 0, chart)


def _write_partners(context: _Context) -> None:
    statement = select(
        Partner.credit_code, Partner.name, Partner.kind, Partner.contact, Partner.phone
    ).order_by(Partner.credit_code)
    if context.root is not None or context.year is not None or context.conditions:
        used = context.projects_in_scope(
            select(Contribution.partner_id).join(Project, Project.id == Contribution.project_id)
        )
        statement = statement.where(Partner.id.in_(used))
    writer = _SheetWriter(context, PARTNERS, PARTNERS.columns)
    writer.start(context.count(statement))
    for credit_code, name, kind, contact, phone in context.stream(statement):
        writer.typed_row((credit_code, name, context.named(PartnerKind, kind), contact, phone))
    writer.finish()


def _write_projects(context: _Context) -> None:
    site = aliased(Org)
    owner = aliased(Org)
    statement = (
        select(
            Project.code,
            Project.name,
            owner.code,
            site.code,
            Project.category,
            Project.year,
            Project.status,
            Project.start_date,
            Project.end_date,
            Project.budget_fen,
            Project.area_m2,
            Project.households_served,
            Project.description,
            owner.name,
            site.name,
            Project.drawn_l1_fen
            + Project.drawn_l2_fen
            + Project.drawn_l3_fen
            + Project.drawn_l4_fen
            + Project.drawn_l5_fen
            + Project.partners_fen,
            Project.paid_fen,
        )
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .where(within(owner, context.root), *context.conditions)
        .order_by(Project.code)
    )
    if context.year is not None:
        statement = statement.where(Project.year == context.year)
    columns = (*PROJECTS.columns, *PROJECT_EXTRAS)
    writer = _SheetWriter(context, PROJECTS, columns, freeze="C2")
    writer.start(context.count(statement))
    for row in context.stream(statement):
        (code, name, owner_code, site_code, category, year, status, start, end, budget) = row[:10]
        area, households, description, owner_name, site_name, funded, paid = row[10:]
        writer.typed_row(
            (
                code,
                name,
                owner_code,
                site_code,
                context.named(Category, category),
                year,
                context.named(Status, status),
                start,
                end,
                budget,
                area,
                households,
                description,
                owner_name,
                site_name,
                funded,
                budget - funded,
                paid,
            )
        )
    writer.finish(("budget", "funded", "gap", "paid"))


def _write_funding(context: _Context) -> None:
    holder = aliased(Org)
    statement = context.projects_in_scope(
        select(Project.code, Allocation.code, FundingLine.amount_fen, holder.name, holder.level)
        .select_from(FundingLine)
        .join(Project, Project.id == FundingLine.project_id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .join(holder, holder.id == Allocation.org_id)
    ).order_by(Project.code, Allocation.code)
    writer = _SheetWriter(context, FUNDING, (*FUNDING.columns, *FUNDING_EXTRAS))
    writer.start(context.count(statement))
    for project_code, allocation_code, amount, org_name, level in context.stream(statement):
        writer.typed_row((project_code, allocation_code, amount, org_name, level_name(level)))
    writer.finish(("amount",))


def _write_contributions(context: _Context) -> None:
    statement = context.projects_in_scope(
        select(
            Project.code,
            Partner.credit_code,
            Contribution.kind,
            Contribution.amount_fen,
            Contribution.note,
            Partner.name,
        )
        .select_from(Contribution)
        .join(Project, Project.id == Contribution.project_id)
        .join(Partner, Partner.id == Contribution.partner_id)
    ).order_by(Project.code, Partner.credit_code, Contribution.kind)
    writer = _SheetWriter(context, CONTRIBUTIONS, (*CONTRIBUTIONS.columns, *CONTRIBUTION_EXTRAS))
    writer.start(context.count(statement))
    for project_code, credit_code, kind, amount, note, name in context.stream(statement):
        writer.typed_row(
            (project_code, credit_code, context.named(ContributionKind, kind), amount, note, name)
        )
    writer.finish(("amount",))


def _write_allocations(context: _Context) -> None:
    holder, parent = aliased(Org), aliased(Allocation)
    statement = (
        select(
            Allocation.code,
            holder.code,
            Allocation.year,
            Allocation.amount_fen,
            parent.code,
            Allocation.source_note,
            holder.name,
            Allocation.drawn_fen,
            Allocation.sub_allocated_fen,
        )
        .join(holder, holder.id == Allocation.org_id)
        .outerjoin(parent, parent.id == Allocation.parent_id)
        .where(within(holder, context.root))
        .order_by(Allocation.code)
    )
    if context.year is not None:
        statement = statement.where(Allocation.year == context.year)
    columns = (*ALLOCATIONS.columns, *ALLOCATION_EXTRAS)
    writer = _SheetWriter(context, ALLOCATIONS, columns)
    keys = ("amount", "drawn", "passed_down")
    (amount, drawn, passed), remaining = (writer.index(k) for k in keys), writer.index("remaining")
    letters = [xl_col_to_name(col) for col in (amount, drawn, passed)]
    writer.start(context.count(statement))
    for values in context.stream(statement):
        row = writer.cursor
        excel_row = row + 1
        left = (values[amount] or 0) - (values[drawn] or 0) - (values[passed] or 0)
        formula = "={}{row}-{}{row}-{}{row}".format(*letters, row=excel_row)
        writer.formula(row, remaining, formula, left)
        writer.sums[remaining] += left
        writer.typed_row((*values, None))
    if writer.rows:
        letter = xl_col_to_name(remaining)
        writer.ws.conditional_format(
            f"A2:{letter}{writer.last_row}",
            {"type": "formula", "criteria": f"=${letter}2<0", "format": writer.formats.over},
        )
    writer.finish(("amount", "drawn", "passed_down", "remaining"))


def _write_payments(context: _Context) -> None:
    statement = context.projects_in_scope(
        select(
            Payment.voucher_no,
            Project.code,
            Allocation.code,
            Payment.paid_on,
            Payment.amount_fen,
            Payment.note,
        )
        .select_from(Payment)
        .join(FundingLine, FundingLine.id == Payment.funding_line_id)
        .join(Project, Project.id == FundingLine.project_id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
    ).order_by(Project.code, Allocation.code, Payment.paid_on, Payment.voucher_no)
    writer = _SheetWriter(context, PAYMENTS, PAYMENTS.columns)
    writer.start(context.count(statement))
    for values in context.stream(statement):
        writer.typed_row(values)
    writer.finish(("amount",))


def _write_checks(context: _Context) -> None:
    findings = failing_rows(context.session, context.root, context.year, context.policies)
    org_ids = {f.org_id for f in findings if f.org_id is not None}
    ordered, names = sorted(org_ids), {}
    for start in range(0, len(ordered), 500):
        statement = select(Org.id, Org.name).where(Org.id.in_(ordered[start : start + 500]))
        names.update(context.session.execute(statement).all())
    writer = _SheetWriter(context, CHECKS, CHECKS.columns)
    writer.start(len(findings))
    for finding in findings:
        writer.typed_row(
            (
                _pick(_RULE_NAMES[finding.rule]),
                _pick(_SEVERITY_NAMES.get(finding.severity, _WARN_NAMES)),
                finding.subject,
                names.get(finding.org_id) if finding.org_id is not None else None,
                finding.message,
                finding.excess_fen or None,
            )
        )
    writer.finish()
