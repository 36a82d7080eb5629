"""List the failing checks of a subtree or of some rows, with a message that says where the money
went.

Which rows fail is decided once, in cocon.derived by cocon.rules, and kept on the rows as
failing_checks; this module only reads the failing rows and words each finding (cocon.rules). One query per kind of row reads them,
a batch at a time: failing_rows lists a scope's findings, blocking rules first, then by rule,
then by subject in code-point order; stream_failing_rows yields the same list with flat memory
(each rule reads its rows already in that order), so a page can word only the first ones it shows.
allocation_findings and project_findings word the findings of given rows, row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import closing
from functools import cache
from itertools import islice

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlmodel import Session

from cocon import rules
from cocon.checks import BLOCK, DEFAULT, Finding, Policies, Rule
from cocon.db import in_list
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.scope import org_alias, scope_params, within_scope

# A rule's finding before its severity is known: subject, org id, org name, message, excess.
_Row = tuple[str, int | None, str | None, str, int]
CHUNK = 500
YEAR = "year"  # the year parameter of the statements built once
# A statement built once per process and shape, and the parameters of one scope and year.
_Query = tuple[Select, dict]


# --- Reading the failing rows --------------------------------------------------------------


def _rows(session: Session, query: _Query, batch: int = CHUNK) -> Iterator:
    """Yield the rows of a query a batch at a time (a server-side cursor on PostgreSQL)."""
    statement, params = query
    result = session.connection().execute(
        statement, params, execution_options={"yield_per": batch}
    )
    try:
        yield from result
    finally:
        result.close()


def _in_code_order(dialect: str, column: ColumnElement) -> ColumnElement:
    """Order by code point, as Python sorts strings (PostgreSQL's collation may not)."""
    return column.collate("C") if dialect == "postgresql" else column


def _params(root: Org | None, year: int | None) -> dict:
    """Return the parameters of the statements built once, for a scope and year."""
    params: dict = {} if root is None else scope_params(root)
    if year is not None:
        params[YEAR] = year
    return params


def _shaped(statement: Select, org_table, year_column, scoped: bool, yearly: bool) -> Select:
    """Narrow a statement built once to a scope and a year given when it runs."""
    if scoped:
        statement = statement.where(within_scope(org_table))
    return statement.where(year_column == bindparam(YEAR)) if yearly else statement


def _query(session: Session, build, root: Org | None, year: int | None, ids, id_column) -> _Query:
    """Return build's statement for this shape of scope and year (made once), and its parameters.

    Building a statement costs more than running it on a district, so each is built once per
    process, dialect and shape; the scope's bounds and the year are parameters.
    """
    dialect = session.get_bind().dialect.name
    statement = build(dialect, root is not None, year is not None)
    if ids is not None:
        statement = statement.where(in_list(session, id_column, ids))
    return statement, _params(root, year)


def _chunks(ids: Iterable[int] | None) -> Iterator[list[int] | None]:
    """Yield the sorted ids CHUNK at a time, or None once when no ids limit the rows."""
    if ids is None:
        yield None
        return
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _failing_allocations(
    session: Session, root: Org | None, year: int | None, ids: list[int] | None = None
) -> _Query:
    return _query(session, _failing_allocations_shape, root, year, ids, Allocation.id)


@cache
def _failing_allocations_shape(dialect: str, scoped: bool, yearly: bool) -> Select:
    holder = org_alias("holder")
    statement = (
        select(
            Allocation.code,
            Allocation.org_id,
            holder.name,
            Allocation.year,
            Allocation.amount_fen,
            Allocation.sub_allocated_fen,
            Allocation.drawn_fen,
            Allocation.sub_count,
            Allocation.draw_count,
        )
        .join(holder, holder.id == Allocation.org_id)
        .where(Allocation.failing_checks > 0)
        .order_by(_in_code_order(dialect, Allocation.code))
    )
    return _shaped(statement, holder, Allocation.year, scoped, yearly)


def _failing_projects(
    session: Session, root: Org | None, year: int | None, ids: list[int] | None = None
) -> _Query:
    return _query(session, _failing_projects_shape, root, year, ids, Project.id)


@cache
def _failing_projects_shape(dialect: str, scoped: bool, yearly: bool) -> Select:
    owner = org_alias("owner")
    statement = (
        select(
            Project.id,
            Project.code,
            Project.owner_id,
            owner.name,
            Project.status,
            Project.budget_fen,
            rules.funded_sql(),
            Project.year,
            Project.start_date,
            Project.end_date,
        )
        .join(owner, owner.id == Project.owner_id)
        .where(Project.failing_checks > 0)
        .order_by(_in_code_order(dialect, Project.code))
    )
    return _shaped(statement, owner, Project.year, scoped, yearly)


def _overpaid_lines(
    session: Session, root: Org | None, year: int | None, ids: list[int] | None = None
) -> _Query:
    """Select the funding lines paid beyond what they draw, by project code, then allocation."""
    return _query(session, _overpaid_lines_shape, root, year, ids, FundingLine.project_id)


@cache
def _overpaid_lines_shape(dialect: str, scoped: bool, yearly: bool) -> Select:
    owner = org_alias("owner")
    paid, drawn = func.sum(Payment.counted_fen()), FundingLine.counted_fen()
    statement = (
        select(FundingLine.project_id, Project.code, Project.owner_id, owner.name)
        .add_columns(Allocation.code, drawn, paid)
        .select_from(FundingLine)
        .join(Payment, Payment.funding_line_id == FundingLine.id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .join(Project, Project.id == FundingLine.project_id)
        .join(owner, owner.id == Project.owner_id)
        .where(Project.failing_checks > 0)
        .group_by(
            FundingLine.project_id,
            Project.code,
            Project.owner_id,
            owner.name,
            Allocation.code,
            FundingLine.amount_fen,
            FundingLine.reversed_at,
        )
        .having(rules.overpaid_sql(drawn, paid))
        # Within a project, lines in the database's order of allocation codes.
        .order_by(_in_code_order(dialect, Project.code), Allocation.code)
    )
    return _shaped(statement, owner, Project.year, scoped, yearly)


# --- Wording each rule -----------------------------------------------------------------------


class _Wording:
    """The templates of one listing, looked up once in the current language, filled per row."""

    def __init__(self) -> None:
        self.title, self.over_parent = rules.title_template(), rules.over_parent_template()
        self.overcommitted = rules.overcommitted_template()
        self.overpaid, self.gap = rules.overpaid_template(), rules.gap_template()
        self.surplus, self.outside = rules.surplus_template(), rules.outside_template()

    def over_parent_row(self, row) -> _Row | None:
        code, org_id, org_name, year, amount, subs, _drawn, sub_count, _draws = row
        excess = rules.over_parent(amount, subs)
        if excess <= 0:
            return None
        title = self.title.format(org=org_name, year=year, code=code)
        message = rules.over_parent_message(self.over_parent, title, amount, subs, sub_count)
        return code, org_id, org_name, message, excess

    def overcommitted_row(self, row) -> _Row | None:
        code, org_id, org_name, year, amount, subs, drawn, sub_count, draw_count = row
        excess = rules.overcommitted(amount, drawn, subs)
        if excess <= 0:
            return None
        title = self.title.format(org=org_name, year=year, code=code)
        message = rules.overcommitted_message(
            self.overcommitted, title, amount, drawn, subs, draw_count, sub_count
        )
        return code, org_id, org_name, message, excess

    def overpaid_row(self, row) -> _Row:
        _id, code, owner_id, owner_name, allocation_code, drawn, paid = row
        drawn, paid = int(drawn), int(paid)
        message = rules.overpaid_message(self.overpaid, code, allocation_code, drawn, paid)
        return code, owner_id, owner_name, message, rules.overpaid(drawn, paid)

    def funding_rows(self, row) -> Iterator[_Row]:
        _id, code, owner_id, owner_name, status, budget, funded, *_dates = row
        if rules.has_gap(status, budget, funded):
            message = rules.gap_message(self.gap, code, funded, budget)
            yield code, owner_id, owner_name, message, budget - funded
        if rules.has_surplus(status, budget, funded):
            message = rules.surplus_message(self.surplus, code, funded, budget)
            yield code, owner_id, owner_name, message, funded - budget

    def outside_row(self, row) -> _Row | None:
        _id, code, owner_id, owner_name, _status, _budget, _funded, year, start, end = row
        outside = rules.dates_outside(year, start, end)
        if not outside:
            return None
        return code, owner_id, owner_name, rules.outside_message(self.outside, code, year, outside), 0


def _finding(policies: Policies, rule: Rule, row: _Row) -> Finding:
    subject, org_id, _org_name, message, excess = row
    return Finding(rule, policies.of(rule), subject, org_id, message, excess)


# --- A scope's findings, in failing_rows' order ---------------------------------------------


def stream_failing_rows(
    session: Session,
    root: Org | None = None,
    year: int | None = None,
    policies: Policies = DEFAULT,
    batch: int = 2000,
) -> Iterator[tuple[Finding, str | None]]:
    """Yield failing_rows' findings in its order, each with its org's name, streaming the rows.

    Memory stays flat however many rows fail: each rule reads its rows already in the order
    failing_rows lists them (subject in code-point order), a batch at a time.
    """
    session.flush()
    words = _Wording()

    def by_row(query: _Query, word) -> Iterator[_Row]:
        for row in _rows(session, query, batch):
            worded = word(row)
            if worded is not None:
                yield worded

    def funding() -> Iterator[_Row]:
        for row in _rows(session, _failing_projects(session, root, year), batch):
            yield from words.funding_rows(row)

    streams = {
        Rule.ALLOCATION_OVERCOMMITTED: lambda: by_row(
            _failing_allocations(session, root, year), words.overcommitted_row
        ),
        Rule.SUBALLOCATIONS_OVER_PARENT: lambda: by_row(
            _failing_allocations(session, root, year), words.over_parent_row
        ),
        Rule.PAYMENT_OVER_DRAWN: lambda: by_row(
            _overpaid_lines(session, root, year), words.overpaid_row
        ),
        Rule.FUNDING_VS_BUDGET: funding,
        Rule.DATES_OUTSIDE_YEAR: lambda: by_row(
            _failing_projects(session, root, year), words.outside_row
        ),
    }
    for rule in sorted(streams, key=lambda r: (policies.of(r) != BLOCK, r.value)):
        for row in streams[rule]():
            yield _finding(policies, rule, row), row[2]


def failing_rows(
    session: Session, root: Org | None = None, year: int | None = None, policies: Policies = DEFAULT
) -> list[Finding]:
    """Return every failing check in root's subtree (all orgs without one), blocking ones first."""
    return [finding for finding, _org_name in stream_failing_rows(session, root, year, policies)]


def first_failing_rows(
    session: Session,
    root: Org | None,
    year: int | None,
    policies: Policies,
    limit: int,
) -> tuple[list[Finding], int]:
    """Return the first limit findings of failing_rows and how many there are in all."""
    with closing(stream_failing_rows(session, root, year, policies, batch=limit)) as stream:
        first = [finding for finding, _org_name in islice(stream, limit)]
    if len(first) < limit:
        return first, len(first)
    return first, count_failing(session, root, year)


def count_failing(session: Session, root: Org | None = None, year: int | None = None) -> int:
    """Count the findings failing_rows would word: each row keeps the number of its failing checks."""
    projects, allocations = _counts(root is not None, year is not None)
    params = _params(root, year)
    execute = session.execute
    return int(execute(projects, params).scalar_one()) + int(
        execute(allocations, params).scalar_one()
    )


@cache
def _counts(scoped: bool, yearly: bool) -> tuple[Select, Select]:
    owner, holder = org_alias("owner"), org_alias("holder")
    projects = (
        select(func.coalesce(func.sum(Project.failing_checks), 0))
        .join(owner, owner.id == Project.owner_id)
        .where(Project.failing_checks > 0)
    )
    allocations = (
        select(func.coalesce(func.sum(Allocation.failing_checks), 0))
        .join(holder, holder.id == Allocation.org_id)
        .where(Allocation.failing_checks > 0)
    )
    return (
        _shaped(projects, owner, Project.year, scoped, yearly),
        _shaped(allocations, holder, Allocation.year, scoped, yearly),
    )


# --- The findings of given rows, row by row -------------------------------------------------


def allocation_findings(
    session: Session,
    root: Org | None,
    year: int | None,
    policies: Policies,
    allocation_ids: Iterable[int] | None = None,
) -> list[Finding]:
    """Find allocations committed beyond their amount, and sub-allocations beyond their parent."""
    session.flush()
    words = _Wording()
    findings = []
    for part in _chunks(allocation_ids):
        for row in _rows(session, _failing_allocations(session, root, year, part)):
            over_parent, overcommitted = words.over_parent_row(row), words.overcommitted_row(row)
            if over_parent is not None:
                findings.append(_finding(policies, Rule.SUBALLOCATIONS_OVER_PARENT, over_parent))
            if overcommitted is not None:
                findings.append(_finding(policies, Rule.ALLOCATION_OVERCOMMITTED, overcommitted))
    return findings


def project_findings(
    session: Session,
    root: Org | None,
    year: int | None,
    policies: Policies,
    project_ids: Iterable[int] | None = None,
) -> list[Finding]:
    """Find projects whose funding misses their budget, whose dates leave their year, or overpaid
    lines; given ids are read CHUNK at a time in ascending order, each chunk by code."""
    session.flush()
    words = _Wording()
    findings = []
    for part in _chunks(project_ids):
        failing = list(_rows(session, _failing_projects(session, root, year, part)))
        overpaid: dict[int, list] = {}
        if failing:
            lines = _overpaid_lines(session, root, year, [row[0] for row in failing])
            for line in _rows(session, lines):
                overpaid.setdefault(line[0], []).append(line)
        for row in failing:
            findings += [
                _finding(policies, Rule.PAYMENT_OVER_DRAWN, words.overpaid_row(line))
                for line in overpaid.get(row[0], [])
            ]
            findings += [
                _finding(policies, Rule.FUNDING_VS_BUDGET, worded)
                for worded in words.funding_rows(row)
            ]
            outside = words.outside_row(row)
            if outside is not None:
                findings.append(_finding(policies, Rule.DATES_OUTSIDE_YEAR, outside))
    return findings


def count_project_findings(session: Session, project_ids: list[int]) -> int:
    """Count the findings project_findings would word for these projects.

    Each failing check of a project (an overpaid line, a gap, a surplus, dates outside its
    year) is one finding, as its failing_checks counts them.
    """
    table = Project.__table__
    total = session.connection().execute(
        select(func.coalesce(func.sum(table.c.failing_checks), 0)).where(
            in_list(session, table.c.id, project_ids)
        )
    )
    return int(total.scalar_one())
