"""The second signature on large payments: above a set amount, a second finance user confirms.

Until confirmed such a payment counts nowhere as paid (Payment.counted_fen, the one expression
every sum of payments uses); the user who recorded it cannot confirm it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from cocon.actors import actor_of
from cocon.checks import Policies, Rule, enforce
from cocon.derived import refresh_project
from cocon.errors import Invalid, NotFound, Refused
from cocon.i18n import _
from cocon.models import FundingLine, Payment, Project
from cocon.money import format_yuan
from cocon.rights import may_confirm_payment


def sign_recorded(session: Session, payment: Payment, threshold_fen: int | None) -> None:
    """Name who records a payment, and leave it waiting when it is above the threshold."""
    actor = actor_of(session)
    payment.recorded_by, payment.recorded_by_id = actor.name, actor.user_id
    # The operator (the CLI) is exempt, like from the review flow's four eyes.
    waits = threshold_fen is not None and payment.amount_fen > threshold_fen
    payment.awaiting_confirmation = waits and not actor.is_operator
    payment.confirmed_by = payment.confirmed_by_id = payment.confirmed_at = None


def awaiting_payment(session: Session, project: Project, voucher_no: object) -> Payment:
    """Return the project's payment with this voucher number that awaits confirmation."""
    voucher = str(voucher_no or "").strip()
    if not voucher:
        raise Invalid(_("Give the voucher number of the payment to confirm"), field="voucher_no")
    payment = (
        session.execute(
            select(Payment)
            .join(FundingLine, FundingLine.id == Payment.funding_line_id)
            .where(FundingLine.project_id == project.id, Payment.voucher_no == voucher)
        )
        .scalars()
        .first()
    )
    if payment is None:
        raise NotFound(_("This project has no payment with the voucher number {voucher}").format(
            voucher=voucher
        ))
    if payment.is_reversed:
        raise Refused(_("This payment was reversed: it needs no confirmation"))
    if not payment.awaiting_confirmation:
        raise Refused(_("This payment is already confirmed"))
    return payment


def confirm_payment(session: Session, policies: Policies, payment: Payment) -> Payment:
    """Give a waiting payment its second signature, so it counts as paid from now on."""
    from cocon.commitments import lock_row
    from cocon.funding import paid_on_line

    refusal = may_confirm_payment(actor_of(session), payment.recorded_by_id)
    if refusal is not None:
        raise refusal
    line = lock_row(session, FundingLine, payment.funding_line_id)
    paid = paid_on_line(session, line)
    if paid + payment.amount_fen > line.amount_fen:
        project = session.get(Project, line.project_id)
        excess = paid + payment.amount_fen - line.amount_fen
        message = _(
            "{drawn} drawn, {paid} already paid: confirming this payment of {amount} would exceed"
            " it by {excess}"
        ).format(
            drawn=format_yuan(line.amount_fen),
            paid=format_yuan(paid),
            amount=format_yuan(payment.amount_fen),
            excess=format_yuan(excess),
        )
        enforce(policies, Rule.PAYMENT_OVER_DRAWN, project.code, project.owner_id, message, excess)
    actor = actor_of(session)
    payment.awaiting_confirmation = False
    payment.confirmed_by, payment.confirmed_by_id = actor.name, actor.user_id
    payment.confirmed_at = datetime.now(UTC)
    session.add(payment)
    session.flush()
    lock_row(session, Project, line.project_id)  # as record_payment: parallel payments on other lines
    refresh_project(session, line.project_id)
    return payment
