"""Finance's review workbook: the rollup, the rows behind it and the failing checks, in one file.

``export_workbook`` writes, in this order: Summary (汇总), Partners (共建单位), Projects (共建项目),
Funding lines (资金安排), Partner contributions (共建单位出资), Allocations (专项资金), Payments
(拨付) and Checks (校验). The data sheets start with the columns of cocon.workbook.schema, under
the same headers and sheet names, so an export can be imported back; read-only columns follow
them (names, funded, gap, drawn…) under headers no schema column answers to.

How it is written:
- Streaming: the workbook is openpyxl's write-only kind and every data sheet reads its rows
  with ``yield_per``, so memory stays flat however many rows there are. Only the Summary (one
  row per org down to a capped depth) and the Checks (what failing_rows returns) are built in
  memory. The whole export reads one snapshot: REPEATABLE READ on PostgreSQL when the session
  has not begun yet, SQLite's read transaction otherwise.
- Money: amounts are integer fen in cocon and reach openpyxl as exact ``Decimal`` yuan
  (cocon.money.to_decimal_yuan); no cocon code turns them into float. openpyxl itself writes a
  number as ``"%.16g" % value`` and Excel stores IEEE doubles; every amount has at most two
  decimals, so any amount below 10¹³ yuan (15 significant digits) reads back as exactly the
  same Decimal (``Decimal(str(float))``). Totals written as formulas are sums of doubles:
  round them to the fen; the tests recalculate them and compare with the rollup engine.
- Totals: after the data of each sheet with money, one row labelled 合计 / Total holds
  ``SUBTOTAL(9, …)`` over each money column, so a filtered view keeps its totals right. The
  autofilter covers the header and data only; an importer skips that row by its label
  (``is_totals_row``). On the Summary the rollup figures are values, not formulas.
- Formula injection: a text cell whose text starts with = + - @, tab, CR or LF, or that reads
  like an Excel error (#N/A…), is written as an explicit string cell (inline string, data type
  's') with the quotePrefix style: Excel shows the text as it is and keeps it text even when
  the cell is edited, and openpyxl reads back the very same string. No character is added to
  the value, so an importer has nothing to undo.
- What XML cannot carry: a bare CR is turned into LF by every XML reader, so CR LF and CR are
  written as LF; control characters XML 1.0 forbids (other than tab, LF, CR) become U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import Outline
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

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

Progress = Callable[[str, int, int], None]

# Text that Excel (or openpyxl) would read as something other than text.
_RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NEWLINES = re.compile(r"\r\n?")

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
    path_or_stream: str | Any | IO[bytes],
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
    always cover the whole scope. progress(sheet title, rows done, rows in all) is called as
    each sheet starts, every few thousand rows and when it ends.
    """
    with use_language(language):
        _snapshot(session)
        conditions = _project_conditions(projects_filter)
        workbook = Workbook(write_only=True)
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
        context = _Context(session, workbook, root, year, conditions, progress, policies, summary)
        for write in writers:
            write(context)
        workbook.save(path_or_stream)
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
    root: Org | None
    year: int | None
    conditions: list
    progress: Progress | None
    policies: Policies
    summary: ExportSummary

    def projects_in_scope(self, statement: Select) -> Select:
        """Keep rows of projects owned in the subtree, of the year, matching the filter."""
        owner = aliased(Org)
        statement = statement.join(owner, owner.id == Project.owner_id).where(
            within(owner, self.root)
        )
        if self.year is not None:
            statement = statement.where(Project.year == self.year)
        return statement.where(*self.conditions)

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


def _clean_text(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if ILLEGAL_CHARACTERS_RE.search(text):
        text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
    return text


class _SheetWriter:
    """One write-only sheet: header, typed cells, totals row, print setup."""

    def __init__(
        self,
        context: _Context,
        sheet: Sheet,
        columns: tuple[Column, ...],
        *,
        freeze: str = "A2",
        outline_levels: int | None = None,
    ) -> None:
        self.context = context
        self.key = sheet.key
        self.title = sheet.title(current_language())
        self.columns = columns
        self.ws = context.workbook.create_sheet(self.title)
        self.rows = 0  # data rows written
        self.total = 0
        ws = self.ws
        # Everything above <sheetData> goes out with the first row: set it up now.
        for index, column in enumerate(columns, 1):
            ws.column_dimensions[get_column_letter(index)].width = column.width
        ws.freeze_panes = freeze
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        if outline_levels is not None:
            # Parents sit above their children: the +/- button goes on the parent's row.
            ws.sheet_properties.outlinePr = Outline(summaryBelow=False, summaryRight=False)
            ws.sheet_format.outlineLevelRow = outline_levels
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = 9  # A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.print_title_rows = "1:1"
        self._styles(ws)
        ws.append([self._styled(c.header(current_language()), self.header) for c in columns])

    def _styles(self, ws) -> None:
        def style(**attributes) -> Any:
            cell = WriteOnlyCell(ws)
            for name, value in attributes.items():
                setattr(cell, name, value)
            return cell._style

        bold = Font(bold=True)
        self.header = style(
            font=bold,
            fill=PatternFill("solid", start_color="DDEBF7"),
            alignment=Alignment(horizontal="center", vertical="center", wrap_text=True),
        )
        self.money = style(number_format=MONEY_FORMAT)
        self.total_money = style(number_format=MONEY_FORMAT, font=bold)
        self.total_label = style(font=bold)
        self.quoted = style(quotePrefix=True)
        self.date = style(number_format="yyyy-mm-dd")

    def _styled(self, value: object, style) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.ws, value)
        cell._style = copy(style)
        return cell

    def text(self, value: object) -> object:
        """Return text as a cell that can only be text; None stays empty."""
        if value is None:
            return None
        text = _clean_text(value)
        if text.startswith(_RISKY_START) or text in ERROR_CODES:
            cell = WriteOnlyCell(self.ws)
            cell._value = text
            cell.data_type = "s"
            cell._style = copy(self.quoted)
            return cell
        return text

    def amount(self, fen: int | None, *, total: bool = False) -> object:
        if fen is None:
            return None
        return self._styled(to_decimal_yuan(int(fen)), self.total_money if total else self.money)

    def formula(self, formula: str, *, total: bool = False) -> WriteOnlyCell:
        return self._styled(formula, self.total_money if total else self.money)

    def cell(self, kind: Kind, value: object) -> object:
        if value is None:
            return None
        if kind is Kind.AMOUNT:
            return self.amount(value)
        if kind in (Kind.COUNT, Kind.YEAR):
            return int(value)
        if kind is Kind.DATE:
            if isinstance(value, datetime):
                value = value.replace(tzinfo=None).date()
            return self._styled(value, self.date) if isinstance(value, date) else value
        return self.text(value)

    def append(self, values: list[object]) -> None:
        self.ws.append(values)
        self.rows += 1
        if self.rows % BATCH == 0:
            self.report()

    def typed_row(self, values: Iterable[object]) -> None:
        self.append([self.cell(c.kind, v) for c, v in zip(self.columns, values, strict=True)])

    def start(self, total: int) -> None:
        self.total = total
        self.report()

    def report(self) -> None:
        if self.context.progress is not None:
            self.context.progress(self.title, self.rows, max(self.total, self.rows))

    def letter(self, key: str) -> str:
        return get_column_letter(self.index(key))

    def index(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns, 1) if c.key == key)

    @property
    def last_row(self) -> int:
        """The sheet row of the last data row (1, the header, when there is none)."""
        return 1 + self.rows

    def finish(self, money_keys: tuple[str, ...] = (), *, autofilter: bool = True) -> None:
        """Write the totals row over the money columns, set the autofilter, report the count."""
        last = self.last_row
        if money_keys:
            row: list[object] = [None] * len(self.columns)
            row[0] = self._styled(TOTAL_LABELS[current_language()], self.total_label)
            for key in money_keys:
                letter = self.letter(key)
                row[self.index(key) - 1] = (
                    self.formula(f"=SUBTOTAL(9,{letter}2:{letter}{last})", total=True)
                    if self.rows
                    else self.amount(0, total=True)
                )
            self.ws.append(row)
        if autofilter:
            self.ws.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{last}"
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
    levels = min(max((depth for _node, depth in nodes), default=0), 7)
    writer = _SheetWriter(context, SUMMARY, SUMMARY.columns, freeze="C2", outline_levels=levels)
    ws = writer.ws
    writer.start(len(nodes))
    for node, depth in nodes:
        total = node.total
        row = 2 + writer.rows
        if depth:
            ws.row_dimensions[row].outlineLevel = min(depth, 7)
        name = writer.text(node.name)
        if depth and name is not None:
            name = WriteOnlyCell(ws, name) if isinstance(name, str) else name
            name.alignment = Alignment(indent=depth)
        writer.append(
            [
                writer.text(node.code),
                name,
                level_name(node.level),
                total.project_count,
                writer.amount(total.budget),
                *(writer.amount(fen) for fen in total.funding_by_level),
                writer.amount(total.partners),
                writer.amount(total.funded),
                writer.amount(total.paid),
                writer.amount(total.held),
                writer.amount(total.drawn),
                writer.amount(total.remaining),
                total.failing,
            ]
        )
    _summary_chart(writer, roots, context.root is not None)
    writer.finish(autofilter=False)


def _summary_chart(writer: _SheetWriter, roots: list[RollupNode], rooted: bool) -> None:
    """Below the outline: held, drawn and paid of each child of root, and a bar chart of them."""
    chart_nodes = (roots[0].children if rooted and roots else roots) or roots
    if not chart_nodes:
        return
    ws = writer.ws
    title_row = writer.last_row + 2
    ws.append([])
    ws.append([writer._styled(_pick(_CHART_DATA), writer.total_label)])
    keys = ("held", "drawn", "paid")
    for node in chart_nodes:
        row: list[object] = [None] * len(writer.columns)
        row[0], row[1] = writer.text(node.code), writer.text(node.name)
        for key in keys:
            row[writer.index(key) - 1] = writer.amount(getattr(node.total, key))
        ws.append(row)
    first, last = title_row + 1, title_row + len(chart_nodes)
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "clustered"
    chart.title = _pick(_CHART_TITLES)
    chart.y_axis.title = "元" if current_language() == "zh_CN" else "yuan"
    chart.y_axis.numFmt = "#,##0"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    for key in keys:
        column = writer.columns[writer.index(key) - 1]
        values = Reference(ws, min_col=writer.index(key), min_row=first, max_row=last)
        chart.series.append(Series(values, title=column.header(current_language())))
    chart.set_categories(Reference(ws, min_col=2, min_row=first, max_row=last))
    chart.width = max(18, min(40, 2.2 * len(chart_nodes)))
    chart.height = 9
    ws.add_chart(chart, f"A{last + 2}")


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
        writer.typed_row((credit_code, name, label(PartnerKind, kind), contact, phone))
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
                label(Category, category),
                year,
                label(Status, status),
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
            (project_code, credit_code, label(ContributionKind, kind), amount, note, name)
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
    amount, drawn, passed = (writer.letter(k) for k in ("amount", "drawn", "passed_down"))
    remaining = writer.letter("remaining")
    writer.start(context.count(statement))
    kinds = [c.kind for c in columns[:-1]]
    for values in context.stream(statement):
        row = writer.last_row + 1
        cells = [writer.cell(kind, value) for kind, value in zip(kinds, values, strict=True)]
        writer.append([*cells, writer.formula(f"={amount}{row}-{drawn}{row}-{passed}{row}")])
    if writer.rows:
        red = PatternFill("solid", start_color="FFC7CE", end_color="FFC7CE")
        writer.ws.conditional_formatting.add(
            f"A2:{remaining}{writer.last_row}",
            FormulaRule(formula=[f"${remaining}2<0"], fill=red, font=Font(color="9C0006")),
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
