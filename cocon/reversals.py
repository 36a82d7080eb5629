"""Reversals instead of deletes: a wrong payment or funding line is reversed by who and why.

A reversed entry stays listed and counts zero in every figure (Payment.counted_fen and
FundingLine.counted_fen, the expressions every sum goes through); the audit trail records the
reversal as the fields it sets change on flush.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from cocon.actors import actor_of
from cocon.commitments import lock_row
from cocon.derived import refresh_allocation, refresh_project
from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import clean_text
from cocon.funding import paid_on_line
from cocon.i18n import _
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.money import format_yuan
from cocon.orgs import is_within


def clean_reason(reason: object) -> str:
    """Return the reason of a reversal as clean text, refusing an empty one."""
    return clean_text(reason, "reason", required=True, limit=200)


def find_payment(session: Session, voucher_no: object, project: Project | None = None) -> Payment:
    """Return the payment with this voucher number (of project, if given), or raise NotFound."""
    voucher = str(voucher_no or "").strip()
    statement = select(Payment).where(Payment.voucher_no == voucher)
    if project is not None:
        statement = statement.join(FundingLine, FundingLine.id == Payment.funding_line_id).where(
            FundingLine.project_id == project.id
        )
    payment = session.execute(statement).scalars().first()
    if payment is None:
        if project is None:
            raise NotFound(_("No payment has the voucher number {voucher}").format(voucher=voucher))
        raise NotFound(
            _("This project has no payment with the voucher number {voucher}").format(
                voucher=voucher
            )
        )
    return payment


def payment_in_scope(
    session: Session, project: Project, voucher_no: object, scope: Org
) -> tuple[Payment, FundingLine, Allocation]:
    """Return a project's payment, its line and allocation, if scope holds the allocation.

    Money from above is paid by whoever holds it: outside reads as no such payment.
    """
    payment = find_payment(session, voucher_no, project)
    line = session.get(FundingLine, payment.funding_line_id)
    allocation = session.get(Allocation, line.allocation_id)
    if not is_within(session.get(Org, allocation.org_id), scope):
        raise NotFound(
            _("This project has no payment with the voucher number {voucher}").format(
                voucher=str(voucher_no or "").strip()
            )
        )
    return payment, line, allocation


def _sign(session: Session, row: Payment | FundingLine, reason: str) -> None:
    actor = actor_of(session)
    row.reversed_at = datetime.now(UTC)
    row.reversed_by, row.reversed_by_id = actor.name, actor.user_id
    row.reversal_reason = reason


def reverse_payment(session: Session, payment: Payment, reason: object) -> Payment:
    """Reverse a wrong payment: it stays listed, counts nothing, and says who and why."""
    text = clean_reason(reason)
    line = lock_row(session, FundingLine, payment.funding_line_id)
    payment = lock_row(session, Payment, payment.id)
    if payment.is_reversed:
        raise Refused(_("This payment is already reversed"))
    _sign(session, payment, text)
    session.add(payment)
    session.flush()
    lock_row(session, Project, line.project_id)  # as record_payment: parallel payments on other lines
    refresh_project(session, line.project_id)
    return payment


def reverse_funding_line(session: Session, line: FundingLine, reason: object) -> FundingLine:
    """Reverse a wrong funding line once none of its payments count: it draws nothing after."""
    text = clean_reason(reason)
    lock_row(session, Allocation, line.allocation_id)  # the order draw() locks in
    line = lock_row(session, FundingLine, line.id)
    if line.is_reversed:
        raise Refused(_("This funding line is already reversed"))
    paid = paid_on_line(session, line)
    if paid:
        raise Refused(
            _(
                "{paid} is still paid on this funding line: reverse its payments first, then the line"
            ).format(paid=format_yuan(paid))
        )
    waiting = session.execute(
        select(Payment.voucher_no).where(
            Payment.funding_line_id == line.id,
            Payment.awaiting_confirmation.is_(True),
            Payment.reversed_at.is_(None),
        )
    ).scalars().first()
    if waiting is not None:
        # Confirmed later, it would count on a line that draws nothing.
        raise Refused(
            _("Payment {voucher} awaits its second signature: reverse it first, then the line").format(
                voucher=waiting
            )
        )
    _sign(session, line, text)
    session.add(line)
    session.flush()
    refresh_allocation(session, line.allocation_id)
    lock_row(session, Project, line.project_id)  # see draw: parallel draws on other allocations
    refresh_project(session, line.project_id)
    return line


def refuse_reversed_line(line: FundingLine) -> None:
    """Refuse to pay on a reversed funding line (drawing on the allocation again revives it)."""
    if line.is_reversed:
        raise Invalid(
            _("This funding line was reversed: draw on the allocation again before paying on it"),
            field="allocation",
        )


def refuse_reversed_payment(payment: Payment | None) -> None:
    """Refuse to change or confirm a reversed payment: a new one needs its own voucher number."""
    if payment is not None and payment.is_reversed:
        raise Invalid(
            _("The payment with this voucher number was reversed: record a new one under its own number"),
            field="voucher_no",
        )
