"""The money rules, each in one place: when it fails (in Python and, where a query needs it, in
SQL) and how a failing check is worded, both in the findings listed afterwards and at the write
it stops or warns about.

cocon.derived counts each row's failing checks with these predicates, cocon.findings words the
failing rows, and the writes (cocon.commitments, cocon.allocations, cocon.funding,
cocon.signatures) check what they add. Whether a rule blocks or warns is cocon.checks' policy.
A listing words thousands of findings: it looks each template up once (the *_template
functions) and fills it per row (the *_message functions).
"""

from __future__ import annotations

import operator
from datetime import date
from functools import reduce

from sqlalchemy import ColumnElement

from cocon.i18n import _
from cocon.models import Project, Status
from cocon.money import format_yuan

# --- What funds a project: the draws from each level's allocations and its partners' money ---

FUNDED_COLUMNS = (*(f"drawn_l{level}_fen" for level in range(1, 6)), "partners_fen")


def funded(project) -> int:
    """Return a project's funding from every level and its partners (a Project or a row)."""
    return sum(getattr(project, name) for name in FUNDED_COLUMNS)


def funded_sql(project=Project) -> ColumnElement[int]:
    """Return funded as SQL over Project or an alias of it."""
    return reduce(operator.add, (getattr(project, name) for name in FUNDED_COLUMNS))


# --- Funding vs budget (Rule.FUNDING_VS_BUDGET): a gap, or a surplus ------------------------

# A gap is a problem once a project is approved; a surplus always is, unless it was cancelled.
GAP_STATUSES = (Status.APPROVED.value, Status.IN_PROGRESS.value, Status.COMPLETED.value)


def has_gap(status: str, budget: int, funded: int) -> bool:
    """Tell whether an approved project lacks funding for its budget."""
    return status in GAP_STATUSES and funded < budget


def has_surplus(status: str, budget: int, funded: int) -> bool:
    """Tell whether a live project is funded beyond its budget."""
    return status != Status.CANCELLED.value and funded > budget


def gap_template() -> str:
    """Return the wording of a funding gap."""
    return _("{code}: funding {funded} leaves a gap of {gap} against the budget {budget}")


def gap_message(template: str, code: str, funded: int, budget: int) -> str:
    """Word a project's funding gap."""
    return template.format(
        code=code,
        funded=format_yuan(funded),
        gap=format_yuan(budget - funded),
        budget=format_yuan(budget),
    )


def surplus_template() -> str:
    """Return the wording of funding beyond the budget."""
    return _("{code}: funding {funded} exceeds the budget {budget} by {surplus}")


def surplus_message(template: str, code: str, funded: int, budget: int) -> str:
    """Word a project's funding beyond its budget."""
    return template.format(
        code=code,
        funded=format_yuan(funded),
        budget=format_yuan(budget),
        surplus=format_yuan(funded - budget),
    )


# --- Dates within the project year (Rule.DATES_OUTSIDE_YEAR) --------------------------------


def dates_outside(year: int, start: date | None, end: date | None) -> list[date]:
    """Return the project dates that fall outside its year."""
    return [d for d in (start, end) if d is not None and d.year != year]


def outside_template() -> str:
    """Return the wording of dates outside the project year."""
    return _("{code}: the dates {dates} fall outside the project year {year}")


def outside_message(template: str, code: str, year: int, outside: list[date]) -> str:
    """Word a project's dates outside its year."""
    return template.format(code=code, dates=", ".join(d.isoformat() for d in outside), year=year)


# --- Payments never exceed what a line draws (Rule.PAYMENT_OVER_DRAWN) ----------------------


def overpaid(drawn: int, paid: int) -> int:
    """Return by how much a funding line is paid beyond what it draws (it fails above zero)."""
    return paid - drawn


def is_overpaid(drawn: int, paid: int) -> bool:
    """Tell whether a funding line is paid beyond what it draws."""
    return overpaid(drawn, paid) > 0


def overpaid_sql(drawn: ColumnElement[int], paid: ColumnElement[int]) -> ColumnElement[bool]:
    """Return the SQL condition that a line is paid beyond what it draws."""
    return paid > drawn


def overpaid_template() -> str:
    """Return the wording of a funding line paid beyond what it draws."""
    return _("{project} from {allocation}: {paid} paid against {drawn} drawn, over by {excess}")


def overpaid_message(template: str, project: str, allocation: str, drawn: int, paid: int) -> str:
    """Word a funding line paid beyond what it draws."""
    return template.format(
        project=project,
        allocation=allocation,
        paid=format_yuan(paid),
        drawn=format_yuan(drawn),
        excess=format_yuan(overpaid(drawn, paid)),
    )


def draw_below_paid_message(paid: int, amount: int) -> str:
    """Word a draw set below what is already paid on its line."""
    return _("{paid} is already paid on this funding line, more than {amount}").format(
        paid=format_yuan(paid), amount=format_yuan(amount)
    )


def payment_over_drawn_message(
    project: str, allocation: str, drawn: int, paid: int, amount: int
) -> str:
    """Word a payment that takes its line beyond what it draws."""
    return _(
        "{project} from {allocation}: {drawn} drawn, {paid} already paid; this payment of {amount}"
        " exceeds it by {excess}"
    ).format(
        project=project,
        allocation=allocation,
        drawn=format_yuan(drawn),
        paid=format_yuan(paid),
        amount=format_yuan(amount),
        excess=format_yuan(overpaid(drawn, paid + amount)),
    )


def confirmation_over_drawn_message(drawn: int, paid: int, amount: int) -> str:
    """Word the confirmation of a payment that would take its line beyond what it draws."""
    return _(
        "{drawn} drawn, {paid} already paid: confirming this payment of {amount} would exceed"
        " it by {excess}"
    ).format(
        drawn=format_yuan(drawn),
        paid=format_yuan(paid),
        amount=format_yuan(amount),
        excess=format_yuan(overpaid(drawn, paid + amount)),
    )


# --- An allocation's draws and sub-allocations never exceed it (ALLOCATION_OVERCOMMITTED) ---


def overcommitted(amount: int, drawn: int, sub_allocated: int) -> int:
    """Return by how much an allocation is committed beyond its amount (it fails above zero)."""
    return drawn + sub_allocated - amount


def title_template() -> str:
    """Return the wording of an allocation's title."""
    return _("{org} {year} allocation {code}")


def overcommitted_template() -> str:
    """Return the wording of an over-committed allocation."""
    return _(
        "{title} {amount}: {committed} committed ({projects} projects, {subs} sub-allocations), over by {excess}"
    )


def overcommitted_message(
    template: str, title: str, amount: int, drawn: int, sub_allocated: int, draws: int, subs: int
) -> str:
    """Word an allocation committed beyond its amount."""
    return template.format(
        title=title,
        amount=format_yuan(amount),
        committed=format_yuan(drawn + sub_allocated),
        projects=draws,
        subs=subs,
        excess=format_yuan(overcommitted(amount, drawn, sub_allocated)),
    )


def no_room_message(
    title: str, amount: int, committed: int, draws: int, subs: int, what: str, new: int
) -> str:
    """Word a draw or sub-allocation of new that commits an allocation beyond its amount."""
    return _(
        "{title} {amount}: {committed} already committed ({projects} projects, {subs} sub-allocations);"
        " this {what} of {new} exceeds it by {excess}"
    ).format(
        title=title,
        amount=format_yuan(amount),
        committed=format_yuan(committed),
        projects=draws,
        subs=subs,
        what=what,
        new=format_yuan(new),
        excess=format_yuan(committed + new - amount),
    )


def shrunk_below_committed_message(title: str, committed: int, amount: int) -> str:
    """Word an allocation's new amount below what is already committed against it."""
    return _(
        "{title}: {committed} is already committed, more than the new amount {amount}"
    ).format(title=title, committed=format_yuan(committed), amount=format_yuan(amount))


# --- Sub-allocations never exceed their parent (Rule.SUBALLOCATIONS_OVER_PARENT) ------------


def over_parent(amount: int, sub_allocated: int) -> int:
    """Return by how much sub-allocations pass down more than their parent (fails above zero)."""
    return sub_allocated - amount


def over_parent_template() -> str:
    """Return the wording of sub-allocations beyond their parent."""
    return _("{title} {amount}: sub-allocations of {subs} ({count}) exceed it by {excess}")


def over_parent_message(
    template: str, title: str, amount: int, sub_allocated: int, subs: int
) -> str:
    """Word sub-allocations beyond their parent."""
    return template.format(
        title=title,
        amount=format_yuan(amount),
        subs=format_yuan(sub_allocated),
        count=subs,
        excess=format_yuan(over_parent(amount, sub_allocated)),
    )


def sub_over_parent_message(title: str, amount: int, sub_allocated: int, subs: int, new: int) -> str:
    """Word a sub-allocation of new that takes its parent's sub-allocations beyond it."""
    return _(
        "{title} {amount}: {subs} already passed down in {count} sub-allocations; this one of {new}"
        " takes them over the parent by {excess}"
    ).format(
        title=title,
        amount=format_yuan(amount),
        subs=format_yuan(sub_allocated),
        count=subs,
        new=format_yuan(new),
        excess=format_yuan(over_parent(amount, sub_allocated + new)),
    )


# --- How many checks a row fails (kept on it as failing_checks by cocon.derived) -----------


def project_failures(
    status: str,
    budget: int,
    year: int,
    start: date | None,
    end: date | None,
    funded: int,
    overpaid_lines: int,
) -> int:
    """Count the failing checks of one project."""
    count = overpaid_lines
    count += has_gap(status, budget, funded)
    count += has_surplus(status, budget, funded)
    count += bool(dates_outside(year, start, end))
    return count


def allocation_failures(amount: int, drawn: int, sub_allocated: int) -> int:
    """Count the failing checks of one allocation."""
    failing = overcommitted(amount, drawn, sub_allocated) > 0
    return int(failing) + int(over_parent(amount, sub_allocated) > 0)
