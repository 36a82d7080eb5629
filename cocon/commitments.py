"""What is committed against an allocation, and the rule that it never exceeds the allocation.

The draw rules shared by allocations (their sub-allocations), funding lines and payments: the
sums of what is drawn and passed down, the row locks the checks and writes take, the
over-commitment check with its wording, and how an amount must be more than zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlmodel import Session

from cocon.checks import Finding, Policies, Rule, enforce
from cocon.errors import Invalid
from cocon.i18n import _
from cocon.models import Allocation, FundingLine, Org, Payment
from cocon.money import format_yuan, parse_amount

Row = TypeVar("Row", Allocation, FundingLine, Payment)


@dataclass
class Saved(Generic[Row]):
    """A saved row and the warnings its checks raised."""

    row: Row
    warnings: list[Finding] = field(default_factory=list)


def allocation_title(session: Session, allocation: Allocation) -> str:
    """Name an allocation the way finance says it: 'Gongshu 2023 allocation GS-2023'."""
    org = session.get(Org, allocation.org_id)
    return _("{org} {year} allocation {code}").format(
        org=org.name, year=allocation.year, code=allocation.code
    )


def lock_row(session: Session, model, row_id: int):
    """Lock a row for the check and write that follow, and read it as committed."""
    # PostgreSQL: row lock. SQLite: the write session already holds the database write lock.
    # FOR NO KEY UPDATE: inserting a row that refers to this one (a funding line to its project)
    # takes a key-share lock, which FOR UPDATE would wait on and deadlock against.
    # populate_existing: once locked, read the row as committed, not as this session cached it.
    statement = select(model).where(model.id == row_id).with_for_update(key_share=True)
    return session.exec(statement.execution_options(populate_existing=True)).scalars().one()


@dataclass(frozen=True)
class Commitments:
    """What is already committed against an allocation."""

    drawn: int
    projects: int
    sub_allocated: int
    sub_allocations: int

    @property
    def total(self) -> int:
        """Return drawn plus sub-allocated."""
        return self.drawn + self.sub_allocated


def commitments(
    session: Session,
    allocation: Allocation,
    *,
    excluding_line: int | None = None,
    excluding_sub: int | None = None,
) -> Commitments:
    """Sum the draws and sub-allocations against an allocation."""
    lines = select(func.coalesce(func.sum(FundingLine.counted_fen()), 0), func.count()).where(
        FundingLine.allocation_id == allocation.id, FundingLine.counting()
    )
    if excluding_line is not None:
        lines = lines.where(FundingLine.id != excluding_line)
    subs = select(func.coalesce(func.sum(Allocation.amount_fen), 0), func.count()).where(
        Allocation.parent_id == allocation.id
    )
    if excluding_sub is not None:
        subs = subs.where(Allocation.id != excluding_sub)
    drawn, projects = session.execute(lines).one()
    sub_allocated, sub_count = session.execute(subs).one()
    return Commitments(int(drawn), int(projects), int(sub_allocated), int(sub_count))


def kept_commitments(allocation: Allocation) -> Commitments:
    """Return the commitments of an allocation as its derived figures keep them."""
    return Commitments(
        allocation.drawn_fen,
        allocation.draw_count,
        allocation.sub_allocated_fen,
        allocation.sub_count,
    )


def check_room(
    session: Session,
    policies: Policies,
    allocation: Allocation,
    amount: int,
    what: str,
    current: Commitments,
) -> list[Finding]:
    excess = current.total + amount - allocation.amount_fen
    if excess <= 0:
        return []
    message = _(
        "{title} {amount}: {committed} already committed ({projects} projects, {subs} sub-allocations);"
        " this {what} of {new} exceeds it by {excess}"
    ).format(
        title=allocation_title(session, allocation),
        amount=format_yuan(allocation.amount_fen),
        committed=format_yuan(current.total),
        projects=current.projects,
        subs=current.sub_allocations,
        what=what,
        new=format_yuan(amount),
        excess=format_yuan(excess),
    )
    return [
        enforce(
            policies,
            Rule.ALLOCATION_OVERCOMMITTED,
            allocation.code,
            allocation.org_id,
            message,
            excess,
        )
    ]


def positive_amount(amount: object, field_name: str = "amount") -> int:
    """Return the fen an amount names, refusing zero and less (errors name field_name)."""
    try:
        fen = parse_amount(amount)
    except Invalid as error:
        raise Invalid(error.message, field=field_name) from None
    if fen <= 0:
        raise Invalid(_("The amount must be more than zero"), field=field_name)
    return fen
