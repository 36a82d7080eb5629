"""A project's money on the API: its funding lines and draws, its payments, recorded and
reversed, each through the rules the pages use (cocon.allocations, cocon.reversals), so a
blocking check refuses with the form's message."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from sqlmodel import Session

from cocon.allocations import (
    draw,
    get_allocation,
    get_funding_line,
    paid_on_line,
    payments_of,
    record_payment,
)
from cocon.api.errors import problems
from cocon.api.projects import ProjectCode
from cocon.api.schemas import (
    DrawIn,
    DrawSaved,
    FundingLineOut,
    PaymentIn,
    PaymentOut,
    PaymentSaved,
    ReverseIn,
    line_out,
    payment_out,
)
from cocon.checks import Policies
from cocon.errors import Invalid, NotFound
from cocon.models import Org
from cocon.projects import get_project
from cocon.reversals import payment_in_scope, reverse_payment
from cocon.rights import Right
from cocon.settings import Settings
from cocon.web.auth import needs
from cocon.web.queries import funding_lines
from cocon.web.scope import allowed_root


@get("/projects/{code:str}/funding", sync_to_thread=True, opt=needs(Right.READ), responses=problems(403, 404))
def funding_list(
    code: ProjectCode, request: Request, session: NamedDependency[Session]
) -> list[FundingLineOut]:
    """List a project's funding lines, from the highest level down, with what is paid on each."""
    project = get_project(session, code, allowed_root(request, session))
    return [
        line_out(row.line, row.allocation, row.holder, row.paid)
        for row in funding_lines(session, project)
    ]


@post("/projects/{code:str}/funding", sync_to_thread=True, opt=needs(Right.EDIT), responses=problems(400, 403, 404, 409))
def funding_draw(
    code: ProjectCode,
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: JSONBody[DrawIn],
) -> DrawSaved:
    """Set what a project draws from an allocation held in the token's orgs; a blocking check
    refuses it (409, with the form's message)."""
    root = allowed_root(request, session)
    project = get_project(session, code, root)
    allocation = _allocation(session, data.allocation, root)
    saved = draw(session, policies, project, allocation, data.amount)
    line = saved.row
    holder = session.get(Org, allocation.org_id)
    paid = paid_on_line(session, line)
    return DrawSaved(
        line_out(line, allocation, holder, paid), [warning.message for warning in saved.warnings]
    )


def _allocation(session: Session, code: str, root: Org):
    """Return the allocation a body names, held in root; else an error beside the field."""
    try:
        return get_allocation(session, code, root)
    except NotFound as error:  # as the form says it: beside the allocation field
        raise Invalid(error.message, field="allocation") from None


@get("/projects/{code:str}/payments", sync_to_thread=True, opt=needs(Right.READ), responses=problems(403, 404))
def payment_list(
    code: ProjectCode, request: Request, session: NamedDependency[Session]
) -> list[PaymentOut]:
    """List the payments on every funding line of a project, reversed ones too (they count zero)."""
    project = get_project(session, code, allowed_root(request, session))
    return [
        payment_out(payment, row.allocation.code)
        for row in funding_lines(session, project)
        for payment in payments_of(session, row.line)
    ]


@post("/projects/{code:str}/payments", sync_to_thread=True, opt=needs(Right.PAY), responses=problems(400, 403, 404, 409))
def payment_create(
    code: ProjectCode,
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    settings: NamedDependency[Settings],
    data: JSONBody[PaymentIn],
) -> PaymentSaved:
    """Record a payment on the project's line from an allocation; a blocking check refuses it (409)."""
    root = allowed_root(request, session)
    project = get_project(session, code, root)
    allocation = _allocation(session, data.allocation, root)
    try:
        line = get_funding_line(session, project, allocation)
    except NotFound as error:
        raise Invalid(error.message, field="allocation") from None
    saved = record_payment(
        session,
        policies,
        line,
        paid_on=data.paid_on,
        amount=data.amount,
        voucher_no=data.voucher_no,
        note=data.note,
        second_signature_fen=settings.payment_second_signature_fen,
    )
    return PaymentSaved(
        payment_out(saved.row, allocation.code), [warning.message for warning in saved.warnings]
    )


@post("/projects/{code:str}/payments/{voucher:str}/reverse", sync_to_thread=True, opt=needs(Right.PAY), status_code=200, responses=problems(400, 403, 404, 409))
def payment_reverse(
    code: ProjectCode,
    voucher: Annotated[str, PathParameter(description="The payment's voucher number")],
    request: Request,
    session: NamedDependency[Session],
    data: JSONBody[ReverseIn],
) -> PaymentOut:
    """Reverse a wrong payment with the reason: it stays listed, counts zero, and says who and why."""
    root = allowed_root(request, session)
    project = get_project(session, code, root)
    payment, _line, allocation = payment_in_scope(session, project, voucher, root)
    return payment_out(reverse_payment(session, payment, data.reason), allocation.code)


ROUTES = [funding_list, funding_draw, payment_list, payment_create, payment_reverse]
