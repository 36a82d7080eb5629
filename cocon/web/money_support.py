"""What the money pages share: the reads they need beyond the core, and how a refused save ends."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.allocations import Commitments, kept_commitments
from cocon.checks import Blocked
from cocon.errors import CoconError, Invalid
from cocon.fields import collect
from cocon.i18n import _
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.rules import overcommitted
from cocon.scope import allocation_scope


def required(values: dict[str, str], errors: dict[str, str], *fields: str) -> None:
    """Say 'required' for each empty field rather than what a valid value looks like."""
    for name in fields:
        if not values[name]:
            errors[name] = _("This field is required")


def check_each(errors: dict[str, str], checks: dict[str, tuple]) -> None:
    """Run each (parse, value) check whose field has no error yet; keep the messages by field."""
    for name, (parse, value) in checks.items():
        if name in errors:
            continue
        found: list[Invalid] = []
        collect(found, parse, value)
        if found:
            errors[name] = found[0].message


def refused(session: Session, error: CoconError, field: str = "amount") -> tuple[dict, int]:
    """Undo what the failed save wrote and return its message by field, with the HTTP status.

    The request's session commits whenever the handler returns, so a handler that answers a
    refused save with the form again must roll back itself, or half a save would be kept.
    """
    session.rollback()
    if isinstance(error, Blocked):
        return {field: error.message}, 409
    return {getattr(error, "field", None) or field: error.message}, 400


@dataclass(frozen=True)
class AllocationTotals:
    """Count and money of every allocation of a list, not only the page shown."""

    count: int
    amount: int
    drawn: int
    sub_allocated: int
    failing: int

    @property
    def held(self) -> int:
        """Return the money held: the amounts less what was passed down to lower orgs."""
        return self.amount - self.sub_allocated

    @property
    def remaining(self) -> int:
        """Return what is neither drawn nor passed down."""
        return -overcommitted(self.amount, self.drawn, self.sub_allocated)


def allocation_totals(session: Session, scope: Org, year: int | None) -> AllocationTotals:
    """Count and sum the allocations held in scope in year, and what they commit."""
    holder = aliased(Org)
    statement = allocation_scope(
        select(
            func.count(Allocation.id),
            func.coalesce(func.sum(Allocation.amount_fen), 0),
            func.coalesce(func.sum(Allocation.drawn_fen), 0),
            func.coalesce(func.sum(Allocation.sub_allocated_fen), 0),
            func.coalesce(func.sum(case((Allocation.failing_checks > 0, 1), else_=0)), 0),
        ),
        holder,
        scope,
        year,
    )
    return AllocationTotals(*(int(value) for value in session.execute(statement).one()))


def sub_allocations(
    session: Session, allocation: Allocation
) -> list[tuple[Allocation, Org, Commitments]]:
    """Return the sub-allocations of an allocation with their org and commitments, by code."""
    statement = (
        select(Allocation, Org)
        .join(Org, Org.id == Allocation.org_id)
        .where(Allocation.parent_id == allocation.id)
        .order_by(Allocation.code)
    )
    return [(sub, org, kept_commitments(sub)) for sub, org in session.execute(statement)]


@dataclass(frozen=True)
class DrawRow:
    """A project drawing on an allocation: the line, the project, its owner and what is paid."""

    line: FundingLine
    project: Project
    owner: Org
    paid: int


def draws_on(session: Session, allocation: Allocation) -> list[DrawRow]:
    """Return the projects drawing on an allocation with the amounts drawn and paid, by code."""
    lines = select(FundingLine.id).where(FundingLine.allocation_id == allocation.id)
    paid = (
        select(Payment.funding_line_id.label("key"), func.sum(Payment.counted_fen()).label("total"))
        .where(Payment.funding_line_id.in_(lines))
        .group_by(Payment.funding_line_id)
        .subquery()
    )
    statement = (
        select(FundingLine, Project, Org, func.coalesce(paid.c.total, 0))
        .join(Project, Project.id == FundingLine.project_id)
        .join(Org, Org.id == Project.owner_id)
        .outerjoin(paid, paid.c.key == FundingLine.id)
        .where(FundingLine.allocation_id == allocation.id)
        .order_by(Project.code)
    )
    return [
        DrawRow(line, p, owner, int(total)) for line, p, owner, total in session.execute(statement)
    ]
