"""Allocations, sub-allocations, funding lines and payments, with the blocking checks enforced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlmodel import Session

from cocon.checks import Finding, Policies, Rule, enforce
from cocon.derived import (
    refresh_allocation,
    refresh_project,
    refresh_projects_drawing_on,
    set_origins,
)
from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import clean_code, clean_text, refuse_example_code
from cocon.findings import project_findings
from cocon.i18n import _
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.money import format_yuan, parse_amount
from cocon.orgs import is_within
from cocon.projects import parse_date, parse_year
from cocon.scope import within
from cocon.signatures import sign_recorded

Row = TypeVar("Row", Allocation, FundingLine, Payment)


@dataclass
class Saved(Generic[Row]):
    """A saved row and the warnings its checks raised."""

    row: Row
    warnings: list[Finding] = field(default_factory=list)


def find_allocation(session: Session, code: str) -> Allocation | None:
    """Return the allocation with this code, or None."""
    return (
        session.exec(select(Allocation).where(Allocation.code == str(code).strip()))
        .scalars()
        .first()
    )


def get_allocation(session: Session, code: str, scope: Org | None = None) -> Allocation:
    """Return the allocation with this code within scope, or raise NotFound."""
    allocation = find_allocation(session, code)
    if allocation is None or (
        scope is not None and not is_within(session.get(Org, allocation.org_id), scope)
    ):
        raise NotFound(_("No allocation has the code {code}").format(code=str(code).strip()))
    return allocation


def allocation_title(session: Session, allocation: Allocation) -> str:
    """Name an allocation the way finance says it: 'Gongshu 2023 allocation GS-2023'."""
    org = session.get(Org, allocation.org_id)
    return _("{org} {year} allocation {code}").format(
        org=org.name, year=allocation.year, code=allocation.code
    )


def _lock(session: Session, model, row_id: int):
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


def _check_room(
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


def save_allocation(
    session: Session,
    policies: Policies,
    *,
    org: Org,
    year: object,
    amount: object,
    code: object = None,
    parent: Allocation | None = None,
    source_note: object = None,
    allocation: Allocation | None = None,
) -> Saved[Allocation]:
    """Create or update an allocation; a sub-allocation must fit in its parent."""
    year_value = parse_year(year)
    fen = positive_amount(amount)
    note = clean_text(source_note, "source_note")
    code_value = clean_code(code) if code not in (None, "") else None
    if code_value:
        other = find_allocation(session, code_value)
        if other is not None and (allocation is None or other.id != allocation.id):
            raise Invalid(_("This code cannot be used; choose another"), field="code")
    warnings: list[Finding] = []
    if parent is not None:
        parent = _lock(session, Allocation, parent.id)
        parent_org = session.get(Org, parent.org_id)
        if parent_org.id == org.id or not is_within(org, parent_org):
            raise Invalid(
                _(
                    "A sub-allocation goes to an org below the parent's ({org}); {target} is not below it"
                ).format(org=parent_org.name, target=org.name),
                field="parent",
            )
        if parent.year != year_value:
            raise Invalid(
                _("A sub-allocation has the same year as its parent ({year})").format(
                    year=parent.year
                ),
                field="year",
            )
        current = commitments(session, parent, excluding_sub=allocation.id if allocation else None)
        warnings += _check_subs(session, policies, parent, fen, current)
        warnings += _check_room(session, policies, parent, fen, _("sub-allocation"), current)
    if allocation is not None:
        allocation = _lock(session, Allocation, allocation.id)
        own = commitments(session, allocation)
        _keep_org_and_year(allocation, own, org, year_value)
        if own.total > fen:
            message = _(
                "{title}: {committed} is already committed, more than the new amount {amount}"
            ).format(
                title=allocation_title(session, allocation),
                committed=format_yuan(own.total),
                amount=format_yuan(fen),
            )
            warnings.append(
                enforce(
                    policies,
                    Rule.ALLOCATION_OVERCOMMITTED,
                    allocation.code,
                    org.id,
                    message,
                    own.total - fen,
                )
            )
    else:
        allocation = Allocation(
            code=code_value or next_allocation_code(session, org, year_value),
            org_id=org.id,
            year=year_value,
            amount_fen=fen,
        )
    if code_value:
        allocation.code = code_value
    old_parent_id, old_org_id = allocation.parent_id, allocation.org_id
    allocation.org_id, allocation.year, allocation.amount_fen = org.id, year_value, fen
    allocation.parent_id = parent.id if parent else None
    allocation.source_note = note
    created = allocation.id is None
    session.add(allocation)
    session.flush()
    tree = set_origins(session, allocation.id)
    refresh_allocation(session, allocation.id)
    for parent_id in {old_parent_id, allocation.parent_id} - {None}:
        refresh_allocation(session, parent_id)
    moved = (old_org_id, old_parent_id) != (allocation.org_id, allocation.parent_id)
    if not created and moved:
        # Its holder level, or the origin of its whole tree, changed: so did what projects draw.
        refresh_projects_drawing_on(session, tree)
    return Saved(allocation, warnings)


def _keep_org_and_year(allocation: Allocation, own: Commitments, org: Org, year: int) -> None:
    # Draws and sub-allocations were checked against this org and year: moving the allocation
    # would leave them drawing across the tree (and could make it its own grandparent).
    if (org.id, year) == (allocation.org_id, allocation.year):
        return
    if own.projects or own.sub_allocations:
        raise Invalid(
            _(
                "Projects or sub-allocations draw on {code}: its org and year stay as they are"
            ).format(code=allocation.code),
            field="org" if org.id != allocation.org_id else "year",
        )


def _check_subs(
    session: Session, policies: Policies, parent: Allocation, amount: int, current: Commitments
) -> list[Finding]:
    excess = current.sub_allocated + amount - parent.amount_fen
    if excess <= 0:
        return []
    message = _(
        "{title} {amount}: {subs} already passed down in {count} sub-allocations; this one of {new}"
        " takes them over the parent by {excess}"
    ).format(
        title=allocation_title(session, parent),
        amount=format_yuan(parent.amount_fen),
        subs=format_yuan(current.sub_allocated),
        count=current.sub_allocations,
        new=format_yuan(amount),
        excess=format_yuan(excess),
    )
    return [
        enforce(
            policies, Rule.SUBALLOCATIONS_OVER_PARENT, parent.code, parent.org_id, message, excess
        )
    ]


def next_allocation_code(session: Session, org: Org, year: int) -> str:
    """Return the next free code of the form <org code>-<year>-ANN."""
    number = (
        session.exec(
            select(func.count())
            .select_from(Allocation)
            .where(Allocation.org_id == org.id, Allocation.year == year)
        ).scalar_one()
        + 1
    )
    while find_allocation(session, f"{org.code}-{year}-A{number:02d}") is not None:
        number += 1
    return f"{org.code}-{year}-A{number:02d}"


def positive_amount(amount: object, field_name: str = "amount") -> int:
    """Return the fen an amount names, refusing zero and less (errors name field_name)."""
    try:
        fen = parse_amount(amount)
    except Invalid as error:
        raise Invalid(error.message, field=field_name) from None
    if fen <= 0:
        raise Invalid(_("The amount must be more than zero"), field=field_name)
    return fen


def draw(
    session: Session, policies: Policies, project: Project, allocation: Allocation, amount: object
) -> Saved[FundingLine]:
    """Set how much a project draws from an allocation of its owner or an ancestor."""
    fen = positive_amount(amount)
    owner = session.get(Org, project.owner_id)
    allocation_org = session.get(Org, allocation.org_id)
    if not is_within(owner, allocation_org):
        raise Invalid(
            _(
                "{project} may draw only on allocations of {owner} or the orgs above it, not of {org}"
            ).format(project=project.code, owner=owner.name, org=allocation_org.name),
            field="allocation",
        )
    if allocation.year != project.year:
        raise Invalid(
            _("The allocation is for {year}, the project for {project_year}").format(
                year=allocation.year, project_year=project.year
            ),
            field="allocation",
        )
    allocation = _lock(session, Allocation, allocation.id)
    line = (
        session.exec(
            select(FundingLine).where(
                FundingLine.project_id == project.id, FundingLine.allocation_id == allocation.id
            )
        )
        .scalars()
        .first()
    )
    current = commitments(session, allocation, excluding_line=line.id if line else None)
    warnings = _check_room(session, policies, allocation, fen, _("draw"), current)
    if line is not None:
        paid = paid_on_line(session, line)
        if paid > fen:
            message = _("{paid} is already paid on this funding line, more than {amount}").format(
                paid=format_yuan(paid), amount=format_yuan(fen)
            )
            warnings.append(
                enforce(
                    policies, Rule.PAYMENT_OVER_DRAWN, project.code, owner.id, message, paid - fen
                )
            )
    line = line or FundingLine(project_id=project.id, allocation_id=allocation.id, amount_fen=fen)
    line.amount_fen = fen
    # One line per project and allocation: drawing again on a reversed one revives it with the
    # new amount, and the trail shows the reversal and then this change.
    line.reversed_at = line.reversed_by = line.reversed_by_id = line.reversal_reason = None
    session.add(line)
    session.flush()
    refresh_allocation(session, allocation.id)
    # Lock the project before summing its lines, or a parallel draw on another allocation
    # overwrites its figures with a sum that misses this line (locks go allocation, line, project).
    _lock(session, Project, project.id)
    refresh_project(session, project.id)
    warnings += project_warnings(session, policies, project)
    return Saved(line, warnings)


def project_warnings(session: Session, policies: Policies, project: Project) -> list[Finding]:
    """Return the project's failing project checks (funding vs budget, dates vs year)."""
    return project_findings(session, None, None, policies, project_ids=[project.id])


def paid_on_line(session: Session, line: FundingLine, excluding: int | None = None) -> int:
    """Sum the payments counted on a funding line (awaiting confirmation or reversed: nothing)."""
    statement = select(func.coalesce(func.sum(Payment.counted_fen()), 0)).where(
        Payment.funding_line_id == line.id
    )
    if excluding is not None:
        statement = statement.where(Payment.id != excluding)
    return int(session.exec(statement).scalar_one())


def get_funding_line(session: Session, project: Project, allocation: Allocation) -> FundingLine:
    """Return the line by which project draws on allocation, or raise NotFound."""
    line = (
        session.exec(
            select(FundingLine).where(
                FundingLine.project_id == project.id, FundingLine.allocation_id == allocation.id
            )
        )
        .scalars()
        .first()
    )
    if line is None:
        raise NotFound(
            _("{project} draws nothing from {allocation}").format(
                project=project.code, allocation=allocation.code
            )
        )
    return line


def record_payment(
    session: Session,
    policies: Policies,
    line: FundingLine,
    *,
    paid_on: object,
    amount: object,
    voucher_no: object,
    note: object = None,
    second_signature_fen: int | None = None,
) -> Saved[Payment]:
    """Record a payment on a funding line, never more in all than was drawn.

    Above second_signature_fen it waits for a second finance user (cocon.signatures).
    """
    fen = positive_amount(amount)
    day = parse_date(paid_on, "paid_on")
    if day is None:
        raise Invalid(_("The payment date is missing"), field="paid_on")
    voucher = refuse_example_code(
        clean_text(voucher_no, "voucher_no", required=True, limit=40), "voucher_no"
    )
    existing = session.exec(select(Payment).where(Payment.voucher_no == voucher)).scalars().first()
    from cocon.reversals import refuse_reversed_line, refuse_reversed_payment

    refuse_reversed_payment(existing)
    refuse_reversed_line(line)
    if existing is not None and existing.funding_line_id != line.id:
        raise Invalid(
            _("This voucher number cannot be used: check it, or give the one on the voucher"),
            field="voucher_no",
        )
    line = _lock(session, FundingLine, line.id)
    paid = paid_on_line(session, line, excluding=existing.id if existing else None)
    warnings: list[Finding] = []
    if paid + fen > line.amount_fen:
        project = session.get(Project, line.project_id)
        allocation = session.get(Allocation, line.allocation_id)
        message = _(
            "{project} from {allocation}: {drawn} drawn, {paid} already paid; this payment of {amount}"
            " exceeds it by {excess}"
        ).format(
            project=project.code,
            allocation=allocation.code,
            drawn=format_yuan(line.amount_fen),
            paid=format_yuan(paid),
            amount=format_yuan(fen),
            excess=format_yuan(paid + fen - line.amount_fen),
        )
        warnings.append(
            enforce(
                policies,
                Rule.PAYMENT_OVER_DRAWN,
                project.code,
                project.owner_id,
                message,
                paid + fen - line.amount_fen,
            )
        )
    payment = existing or Payment(
        funding_line_id=line.id, paid_on=day, amount_fen=fen, voucher_no=voucher
    )
    payment.paid_on, payment.amount_fen, payment.note = day, fen, clean_text(note, "note")
    sign_recorded(session, payment, second_signature_fen)
    session.add(payment)
    session.flush()
    _lock(session, Project, line.project_id)  # see draw: parallel payments on other lines
    refresh_project(session, line.project_id)
    return Saved(payment, warnings)


def payments_of(session: Session, line: FundingLine) -> list[Payment]:
    """Return the payments on a funding line by date."""
    return list(
        session.exec(
            select(Payment)
            .where(Payment.funding_line_id == line.id)
            .order_by(Payment.paid_on, Payment.id)
        ).scalars()
    )


def list_allocations(
    session: Session,
    *,
    scope: Org | None = None,
    year: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[Allocation, Org, Commitments]]:
    """List allocations held in scope with their org and commitments, by code, in one query."""
    # The commitments are the figures cocon.derived keeps on each row: no scan of the lines.
    statement = (
        select(Allocation, Org)
        .join(Org, Org.id == Allocation.org_id)
        .where(within(Org, scope))
        .order_by(Allocation.code)
    )
    if year is not None:
        statement = statement.where(Allocation.year == year)
    if limit is not None:  # a page of the list: the national tree holds many thousands
        statement = statement.limit(limit).offset(offset)
    return [
        (allocation, org, kept_commitments(allocation))
        for allocation, org in session.execute(statement)
    ]


def kept_commitments(allocation: Allocation) -> Commitments:
    """Return the commitments of an allocation as its derived figures keep them."""
    return Commitments(
        allocation.drawn_fen,
        allocation.draw_count,
        allocation.sub_allocated_fen,
        allocation.sub_count,
    )


def received_from_above(session: Session, allocation: Allocation, root: Org) -> bool:
    """Tell whether an allocation was passed down from an allocation held outside root's subtree."""
    if allocation.parent_id is None:
        return False
    parent = session.get(Allocation, allocation.parent_id)
    return not is_within(session.get(Org, parent.org_id), root)


def check_allocation_editable(session: Session, allocation: Allocation, root: Org) -> None:
    """Refuse to change an allocation that root's subtree received from above (name, source, amount)."""
    if received_from_above(session, allocation, root):
        raise Refused(
            _(
                "{code} was passed down to you from a higher level: only the org that passed it"
                " down may change it. You may draw on it and pass it further down."
            ).format(code=allocation.code)
        )

