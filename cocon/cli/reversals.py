"""Commands that reverse a wrong payment or funding line (冲销), saying why."""

from __future__ import annotations

import click

from cocon.cli.base import AppContext, pass_app, report_errors
from cocon.cli.money import funding_group, payments_group
from cocon.i18n import _
from cocon.money import format_yuan


@payments_group.command("reverse")
@click.argument("voucher_no")
@click.option("--reason", required=True, help="Why the payment is reversed (冲销原因).")
@pass_app
@report_errors
def payment_reverse(app: AppContext, voucher_no: str, reason: str) -> None:
    """Reverse a wrong payment: it stays listed and counts nothing."""
    from cocon.reversals import find_payment, reverse_payment

    with app.session(write=True) as session:
        payment = reverse_payment(session, find_payment(session, voucher_no), reason)
        click.echo(
            _("Reversed payment {voucher} of {amount}").format(
                voucher=payment.voucher_no, amount=format_yuan(payment.amount_fen)
            )
        )


@funding_group.command("reverse")
@click.argument("project_code")
@click.argument("allocation_code")
@click.option("--reason", required=True, help="Why the funding line is reversed (冲销原因).")
@pass_app
@report_errors
def funding_reverse(app: AppContext, project_code: str, allocation_code: str, reason: str) -> None:
    """Reverse a wrong funding line whose payments are all reversed: it draws nothing after."""
    from cocon import allocations, projects
    from cocon.reversals import reverse_funding_line

    with app.session(write=True) as session:
        project = projects.get_project(session, project_code)
        allocation = allocations.get_allocation(session, allocation_code)
        line = allocations.get_funding_line(session, project, allocation)
        line = reverse_funding_line(session, line, reason)
        click.echo(
            _("Reversed the funding line {project} ← {allocation} of {amount}").format(
                project=project.code, allocation=allocation.code, amount=format_yuan(line.amount_fen)
            )
        )
