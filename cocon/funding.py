"""Funding lines (a project drawing on an allocation) and the payments made against them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from cocon import rules
from cocon.checks import Finding, Policies, Rule, enforce
from cocon.commitments import (
    Commitments,
    Saved,
    check_room,
    commitments,
    lock_row,
    positive_amount,
)
from cocon.derived import refresh_allocation, refresh_project
from cocon.errors import Invalid, NotFound
from cocon.fields import clean_text, parse_date, refuse_example_code
from cocon.findings import project_findings
from cocon.i18n import _
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.orgs import breadcrumb, is_within
from cocon.scope import within
from cocon.signatures import sign_recorded


def draw(
    session: Session, policies: Policies, project: Project, allocation: Allocation, amount: object
) -> Saved[FundingLine]:
    """Set how much a project draws from an allocation of its owner or an ancestor."""
    fen = positive_amount(amount)
    owner = session.get(Org, project.owner_id)
    refusal = draw_refusal(session, project, allocation)
    if refusal is not None:
        raise refusal
    allocation = lock_row(session, Allocation, allocation.id)
    line = find_funding_line(session, project, allocation)
    current = commitments(session, allocation, excluding_line=line.id if line else None)
    warnings = check_room(session, policies, allocation, fen, _("draw"), current)
    if line is not None:
        paid = paid_on_line(session, line)
        excess = rules.overpaid(fen, paid)
        if excess > 0:
            message = rules.draw_below_paid_message(paid, fen)
            warnings.append(
                enforce(policies, Rule.PAYMENT_OVER_DRAWN, project.code, owner.id, message, excess)
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
    lock_row(session, Project, project.id)
    refresh_project(session, project.id)
    warnings += project_warnings(session, policies, project)
    return Saved(line, warnings)


def draw_refusal(session: Session, project: Project, allocation: Allocation) -> Invalid | None:
    """Say why a project may not draw on an allocation, or return None if it may.

    It may draw only on allocations of its owner or an org above it, for its own year: the
    same rule as the SQL condition of drawable_allocations.
    """
    owner = session.get(Org, project.owner_id)
    allocation_org = session.get(Org, allocation.org_id)
    if not is_within(owner, allocation_org):
        return Invalid(
            _(
                "{project} may draw only on allocations of {owner} or the orgs above it, not of {org}"
            ).format(project=project.code, owner=owner.name, org=allocation_org.name),
            field="allocation",
        )
    if allocation.year != project.year:
        return Invalid(
            _("The allocation is for {year}, the project for {project_year}").format(
                year=allocation.year, project_year=project.year
            ),
            field="allocation",
        )
    return None


def drawable_allocations(
    session: Session, project: Project, scope: Org | None = None
) -> list[tuple[Allocation, Org, Commitments]]:
    """Return the allocations a project may draw on that scope may use, highest level first.

    They belong to the project's owner or an org above it, for the project's year (draw_refusal
    in SQL); of those, only the ones held inside scope: a street's user does not spend the
    district's money.
    """
    owner = session.get(Org, project.owner_id)
    chain = [org.id for org in breadcrumb(session, owner) if is_within(org, scope)]
    if not chain:
        return []
    statement = (
        select(Allocation, Org)
        .join(Org, Org.id == Allocation.org_id)
        .where(Allocation.org_id.in_(chain), Allocation.year == project.year, within(Org, scope))
        .order_by(Org.level, Allocation.code)
    )
    return [(a, org, commitments(session, a)) for a, org in session.execute(statement)]


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


def find_funding_line(
    session: Session, project: Project, allocation: Allocation
) -> FundingLine | None:
    """Return the line by which project draws on allocation, if there is one."""
    statement = select(FundingLine).where(
        FundingLine.project_id == project.id, FundingLine.allocation_id == allocation.id
    )
    return session.exec(statement).scalars().first()


def get_funding_line(session: Session, project: Project, allocation: Allocation) -> FundingLine:
    """Return the line by which project draws on allocation, or raise NotFound."""
    line = find_funding_line(session, project, allocation)
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
    line = lock_row(session, FundingLine, line.id)
    paid = paid_on_line(session, line, excluding=existing.id if existing else None)
    warnings: list[Finding] = []
    excess = rules.overpaid(line.amount_fen, paid + fen)
    if excess > 0:
        project = session.get(Project, line.project_id)
        allocation = session.get(Allocation, line.allocation_id)
        message = rules.payment_over_drawn_message(
            project.code, allocation.code, line.amount_fen, paid, fen
        )
        warnings.append(
            enforce(
                policies, Rule.PAYMENT_OVER_DRAWN, project.code, project.owner_id, message, excess
            )
        )
    payment = existing or Payment(
        funding_line_id=line.id, paid_on=day, amount_fen=fen, voucher_no=voucher
    )
    payment.paid_on, payment.amount_fen, payment.note = day, fen, clean_text(note, "note")
    sign_recorded(session, payment, second_signature_fen)
    session.add(payment)
    session.flush()
    lock_row(session, Project, line.project_id)  # see draw: parallel payments on other lines
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
