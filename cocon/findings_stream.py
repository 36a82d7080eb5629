"""Failing checks in failing_rows' order, streamed rule by rule, and counted without wording.

failing_rows builds every finding in memory and sorts them; a large scope can hold tens of
thousands. Here each rule reads its rows already in that order (blocking rules first, then by
rule, then by subject in code-point order) a batch at a time and words them with the same
templates, so memory stays flat and a page can word only the first ones it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date
from functools import cache
from itertools import islice

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlmodel import Session

from cocon.checks import BLOCK, DEFAULT, Finding, Policies, Rule
from cocon.derived import dates_outside, has_gap, has_surplus
from cocon.findings import (
    gap_template,
    outside_template,
    over_parent_template,
    overcommitted_template,
    overpaid_template,
    surplus_template,
    title_template,
)
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.money import format_yuan
from cocon.scope import org_alias, scope_params, within_scope

YEAR = "year"  # the year parameter of the statements built once


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
    if scoped:
        projects = projects.where(within_scope(owner))
        allocations = allocations.where(within_scope(holder))
    if yearly:
        projects = projects.where(Project.year == bindparam(YEAR))
        allocations = allocations.where(Allocation.year == bindparam(YEAR))
    return projects, allocations


def _params(root: Org | None, year: int | None) -> dict:
    """Return the parameters of the statements built once for a scope and year."""
    params: dict = {} if root is None else scope_params(root)
    if year is not None:
        params[YEAR] = year
    return params


_Row = tuple[str, int | None, str | None, str, int]  # subject, org id, org name, message, excess


def stream_failing_rows(
    session: Session,
    root: Org | None = None,
    year: int | None = None,
    policies: Policies = DEFAULT,
    batch: int = 2000,
) -> Iterator[tuple[Finding, str | None]]:
    """Yield failing_rows' findings in its order, each with its org's name, streaming the rows.

    Memory stays flat however many rows fail: each rule reads its rows already in the order
    failing_rows sorts them by (subject in code-point order), a batch at a time.
    """
    streams = {
        Rule.ALLOCATION_OVERCOMMITTED: _stream_overcommitted,
        Rule.SUBALLOCATIONS_OVER_PARENT: _stream_over_parent,
        Rule.PAYMENT_OVER_DRAWN: _stream_overpaid,
        Rule.FUNDING_VS_BUDGET: _stream_funding,
        Rule.DATES_OUTSIDE_YEAR: _stream_outside,
    }
    for rule in sorted(streams, key=lambda r: (policies.of(r) != BLOCK, r.value)):
        severity = policies.of(rule)
        for subject, org_id, org_name, message, excess in streams[rule](session, root, year, batch):
            yield Finding(rule, severity, subject, org_id, message, excess), org_name


def _rows(session: Session, statement: Select, params: dict, batch: int) -> Iterator[tuple]:
    """Yield the rows of statement a batch at a time (a server-side cursor on PostgreSQL)."""
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


def _statement(
    session: Session, build: Callable[[str, bool, bool], Select], root: Org | None, year: int | None
) -> tuple[Select, dict]:
    """Return the statement build makes for this kind of scope and year, and its parameters.

    Each statement is built once per process and shape (the dialect, with or without a scope
    and a year), then run with the scope's bounds and the year as parameters.
    """
    dialect = session.get_bind().dialect.name
    return build(dialect, root is not None, year is not None), _params(root, year)


@cache
def _failing_allocations(dialect: str, scoped: bool, yearly: bool) -> Select:
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
    if scoped:
        statement = statement.where(within_scope(holder))
    return statement.where(Allocation.year == bindparam(YEAR)) if yearly else statement


def _stream_over_parent(
    session: Session, root: Org | None, year: int | None, batch: int
) -> Iterator[_Row]:
    titled, template = title_template(), over_parent_template()
    statement, params = _statement(session, _failing_allocations, root, year)
    for code, org_id, org_name, ayear, amount, subs, _drawn, sub_count, _draws in _rows(
        session, statement, params, batch
    ):
        if subs > amount:
            message = template.format(
                title=titled.format(org=org_name, year=ayear, code=code),
                amount=format_yuan(amount),
                subs=format_yuan(subs),
                count=sub_count,
                excess=format_yuan(subs - amount),
            )
            yield code, org_id, org_name, message, subs - amount


def _stream_overcommitted(
    session: Session, root: Org | None, year: int | None, batch: int
) -> Iterator[_Row]:
    titled, template = title_template(), overcommitted_template()
    statement, params = _statement(session, _failing_allocations, root, year)
    for code, org_id, org_name, ayear, amount, subs, drawn, sub_count, draw_count in _rows(
        session, statement, params, batch
    ):
        committed = drawn + subs
        if committed > amount:
            message = template.format(
                title=titled.format(org=org_name, year=ayear, code=code),
                amount=format_yuan(amount),
                committed=format_yuan(committed),
                projects=draw_count,
                subs=sub_count,
                excess=format_yuan(committed - amount),
            )
            yield code, org_id, org_name, message, committed - amount


@cache
def _failing_projects(dialect: str, scoped: bool, yearly: bool) -> Select:
    owner = org_alias("owner")
    funded = (
        Project.drawn_l1_fen
        + Project.drawn_l2_fen
        + Project.drawn_l3_fen
        + Project.drawn_l4_fen
        + Project.drawn_l5_fen
        + Project.partners_fen
    )
    statement = (
        select(
            Project.code,
            Project.owner_id,
            owner.name,
            Project.status,
            Project.budget_fen,
            funded,
            Project.year,
            Project.start_date,
            Project.end_date,
        )
        .join(owner, owner.id == Project.owner_id)
        .where(Project.failing_checks > 0)
        .order_by(_in_code_order(dialect, Project.code))
    )
    if scoped:
        statement = statement.where(within_scope(owner))
    return statement.where(Project.year == bindparam(YEAR)) if yearly else statement


def _stream_funding(
    session: Session, root: Org | None, year: int | None, batch: int
) -> Iterator[_Row]:
    gap_t, surplus_t = gap_template(), surplus_template()
    statement, params = _statement(session, _failing_projects, root, year)
    for code, owner_id, owner_name, status, budget, funded, *_dates in _rows(
        session, statement, params, batch
    ):
        if has_gap(status, budget, funded):
            message = gap_t.format(
                code=code,
                funded=format_yuan(funded),
                gap=format_yuan(budget - funded),
                budget=format_yuan(budget),
            )
            yield code, owner_id, owner_name, message, budget - funded
        if has_surplus(status, budget, funded):
            message = surplus_t.format(
                code=code,
                funded=format_yuan(funded),
                budget=format_yuan(budget),
                surplus=format_yuan(funded - budget),
            )
            yield code, owner_id, owner_name, message, funded - budget


def _stream_outside(
    session: Session, root: Org | None, year: int | None, batch: int
) -> Iterator[_Row]:
    template = outside_template()
    statement, params = _statement(session, _failing_projects, root, year)
    row: tuple[str, int, str, str, int, int, int, date | None, date | None]
    for row in _rows(session, statement, params, batch):
        code, owner_id, owner_name, _status, _budget, _funded, pyear, start, end = row
        outside = dates_outside(pyear, start, end)
        if outside:
            message = template.format(
                code=code, dates=", ".join(d.isoformat() for d in outside), year=pyear
            )
            yield code, owner_id, owner_name, message, 0


def _stream_overpaid(
    session: Session, root: Org | None, year: int | None, batch: int
) -> Iterator[_Row]:
    template = overpaid_template()
    statement, params = _statement(session, _overpaid_lines, root, year)
    for code, owner_id, owner_name, allocation_code, drawn, total in _rows(
        session, statement, params, batch
    ):
        drawn, total = int(drawn), int(total)
        message = template.format(
            project=code,
            allocation=allocation_code,
            paid=format_yuan(total),
            drawn=format_yuan(drawn),
            excess=format_yuan(total - drawn),
        )
        yield code, owner_id, owner_name, message, total - drawn


@cache
def _overpaid_lines(dialect: str, scoped: bool, yearly: bool) -> Select:
    owner = org_alias("owner")
    paid, drawn = func.sum(Payment.counted_fen()), FundingLine.counted_fen()
    statement = (
        select(Project.code, Project.owner_id, owner.name, Allocation.code, drawn)
        .add_columns(paid)
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
        .having(paid > drawn)
        # Within a project, lines in the database's order of allocation codes, as failing_rows.
        .order_by(_in_code_order(dialect, Project.code), Allocation.code)
    )
    if scoped:
        statement = statement.where(within_scope(owner))
    return statement.where(Project.year == bindparam(YEAR)) if yearly else statement
