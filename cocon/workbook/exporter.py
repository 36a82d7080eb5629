"""Finance's review workbook: the rollup, the rows behind it and the failing checks, in one file.

``export_workbook`` writes, in this order: Summary (汇总), Partners (共建单位), Projects (共建项目),
Funding lines (资金安排), Partner contributions (共建单位出资), Allocations (专项资金), Payments
(拨付) and Checks (校验). The data sheets start with the columns of cocon.workbook.schema, under
the same headers and sheet names, so an export can be imported back; read-only columns follow
them (names, funded, gap, drawn…) under headers no schema column answers to.

How it is written (this module drives it; export_layout holds the sheets' columns and labels,
export_sheets writes each sheet, export_sheet is the row writer, export_text the text rules):
- Streaming: the workbook is written with xlsxwriter in ``constant_memory`` mode (each row goes
  to a temporary file as soon as it is complete, strings inline), and every data sheet, the
  Checks included (cocon.findings.stream_failing_rows), reads its rows with ``yield_per``, so
  memory stays flat however many rows there are. Rows are therefore written strictly top to
  bottom, each row's outline level set before its cells. Only the Summary (one row per org down
  to a capped depth) is built in memory. The row writer hands each row to xlsxwriter's
  ``write_row`` as plain values, money and dates formatted by their columns. The whole export reads
  one snapshot: REPEATABLE READ on PostgreSQL when the session has not begun yet, SQLite's read
  transaction otherwise.
- Money: amounts are integer fen in cocon; a cell holds ``fen / 100``, the double nearest the
  exact yuan (the same double as ``float(cocon.money.to_decimal_yuan(fen))``), written as
  ``"%.16G" % value`` as xlsxwriter does, and Excel stores IEEE doubles; every amount
  has at most two decimals, so any amount below 10¹³ yuan (15 significant digits) reads back as
  exactly the same Decimal (``Decimal(str(float))``).
- Totals: after the data of each sheet with money, one row labelled 合计 / Total holds
  ``SUBTOTAL(9, …)`` over each money column, so a filtered view keeps its totals right. The
  autofilter covers the header and data only; an importer skips that row by its label
  (``is_totals_row``). On the Summary the rollup figures are values, not formulas. Every
  formula carries its result as the cached value, computed exactly from the integer fen written
  above it, so a viewer that does not recalculate shows the right figure (Excel recalculates on
  load all the same). Excel's own sum of doubles can stray from it by far less than a fen.
- Formula injection: all text is written as inline-string cells, by ``write_row`` (only text
  that cannot be a formula: the workbook's strings_to_* conversions are off) or by
  ``write_string``. A
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

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session
from xlsxwriter import Workbook

from cocon.checks import DEFAULT, Policies
from cocon.filters import ProjectFilters, project_conditions
from cocon.i18n import current_language, use_language
from cocon.labels import label, parse_choice
from cocon.models import Category, Org, Project, Status
from cocon.scope import within
from cocon.workbook.export_checks import write_checks
from cocon.workbook.export_layout import (
    ALLOCATION_EXTRAS,
    CHECKS,
    CONTRIBUTION_EXTRAS,
    FUNDING_EXTRAS,
    MAX_CELL_TEXT,
    MONEY_FORMAT,
    PROJECT_EXTRAS,
    SHEET_KEYS,
    SUMMARY,
    SUMMARY_DEPTH_CAP,
    TOTAL_LABELS,
    is_totals_row,
)
from cocon.workbook.export_sheet import Formats
from cocon.workbook.export_sheets import (
    write_allocations,
    write_contributions,
    write_funding,
    write_partners,
    write_payments,
    write_projects,
    write_summary,
)

__all__ = [
    "ALLOCATION_EXTRAS",
    "CHECKS",
    "CONTRIBUTION_EXTRAS",
    "FUNDING_EXTRAS",
    "MAX_CELL_TEXT",
    "MONEY_FORMAT",
    "PROJECT_EXTRAS",
    "SHEET_KEYS",
    "SUMMARY",
    "SUMMARY_DEPTH_CAP",
    "TOTAL_LABELS",
    "ExportSummary",
    "Progress",
    "export_workbook",
    "is_totals_row",
]

BATCH = 2000  # rows fetched per round trip, and rows between progress reports

Progress = Callable[[str, int, int], None]


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


def export_workbook(
    session: Session,
    path_or_stream: str | os.PathLike[str] | IO[bytes],
    *,
    root: Org | None,
    year: int | None,
    language: str = "zh_CN",
    projects_filter: Mapping[str, object] | ProjectFilters | None = None,
    progress: Progress | None = None,
    policies: Policies = DEFAULT,
    with_contacts: bool = True,
) -> ExportSummary:
    """Write finance's review workbook of root's subtree (every province without one) for year.

    projects_filter takes the project list's filters (a cocon.filters.ProjectFilters, or a
    mapping of status, category, level, under, partner and text) and narrows the sheets that
    list projects and their money (Projects, Funding lines, Partner contributions, Payments,
    and the partners these name); the Summary, Allocations and Checks
    always cover the whole scope. The Partners sheet lists the partners that contribute to the
    exported projects (every partner when there is no root, year or filter). Money in the
    Summary is written as values; the data sheets end in SUBTOTAL totals rows.
    progress(sheet title, rows done, rows in all) is called as each sheet starts, every BATCH
    rows and when it ends. Nothing is written to the database; nothing is written to
    path_or_stream unless the whole workbook was made. Without with_contacts the Partners
    sheet leaves the contact person and phone empty (for a reader who may not see them).
    """
    with use_language(language):
        _snapshot(session)
        conditions = _project_conditions(projects_filter)
        target = (
            os.fspath(path_or_stream) if isinstance(path_or_stream, os.PathLike) else path_or_stream
        )
        # The rows' temporary files go to a folder of this export's own, removed whatever happens.
        scratch = tempfile.TemporaryDirectory(prefix="cocon-export-")
        workbook = Workbook(
            target,
            {
                "constant_memory": True,  # rows stream to temporary files: memory stays flat
                "in_memory": False,
                "tmpdir": scratch.name,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        summary = ExportSummary(language=current_language())
        writers = (
            write_summary,
            write_partners,
            write_projects,
            write_funding,
            write_contributions,
            write_allocations,
            write_payments,
            write_checks,
        )
        context = _Context(
            session,
            workbook,
            Formats(workbook),
            root,
            year,
            conditions,
            progress,
            policies,
            summary,
            batch=BATCH,  # read now: tests change it
            with_contacts=with_contacts,
        )
        with scratch:
            for write in writers:
                write(context)
            workbook.close()
        return summary


# -- plumbing --------------------------------------------------------------------------------


def _snapshot(session: Session) -> None:
    """Read every sheet from one snapshot (PostgreSQL: REPEATABLE READ if nothing began yet)."""
    if session.in_transaction():
        return
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _project_conditions(projects_filter: Mapping[str, object] | ProjectFilters | None) -> list:
    """Return the conditions of the filter: the project list's own (cocon.filters)."""
    if isinstance(projects_filter, ProjectFilters):
        return project_conditions(projects_filter)
    if not projects_filter:
        return []
    unknown = set(projects_filter) - _FILTER_KEYS
    if unknown:
        raise ValueError(
            f"projects_filter takes {', '.join(sorted(_FILTER_KEYS))}, not {', '.join(sorted(unknown))}"
        )
    values = {key: projects_filter.get(key) for key in _FILTER_KEYS}
    for key, enum_class in (("status", Status), ("category", Category)):
        if values[key]:
            values[key] = parse_choice(enum_class, values[key], key)
    for key in ("partner", "text"):
        values[key] = str(values[key] or "").strip()
    return project_conditions(ProjectFilters(**values))


_FILTER_KEYS = frozenset({"status", "category", "level", "under", "partner", "text"})


@dataclass
class _Context:
    session: Session
    workbook: Workbook
    formats: Formats
    root: Org | None
    year: int | None
    conditions: list
    progress: Progress | None
    policies: Policies
    summary: ExportSummary
    batch: int = BATCH
    with_contacts: bool = True
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
        # Through the connection: plain rows, without the ORM's per-row result machinery.
        connection = self.session.connection()
        result = connection.execute(statement.execution_options(yield_per=self.batch))
        try:
            yield from result
        finally:
            result.close()
