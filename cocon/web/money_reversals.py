"""Reverse a wrong payment or funding line from a project's funding page, with a reason."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.allocations import get_allocation, get_funding_line, paid_on_line
from cocon.errors import Invalid, Refused
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.projects import get_project
from cocon.reversals import payment_in_scope, reverse_funding_line, reverse_payment
from cocon.rights import Right
from cocon.web.auth import needs
from cocon.web.money_support import refused
from cocon.web.projects import FORM_PAGE, scoped_url
from cocon.web.scope import current_scope


def _payment(
    session: Session, request: Request, code: str, voucher: str
) -> tuple[Org, Project, Payment, FundingLine, Allocation]:
    """Find a project's payment on a line whose allocation scope holds; else not found."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    payment, line, allocation = payment_in_scope(session, project, voucher, scope)
    return scope, project, payment, line, allocation


def _line(
    session: Session, request: Request, code: str, allocation_code: str
) -> tuple[Org, Project, FundingLine, Allocation]:
    """Find a project's funding line on an allocation held in scope; else not found."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    allocation = get_allocation(session, allocation_code, scope)
    return scope, project, get_funding_line(session, project, allocation), allocation


def _form(
    session: Session,
    scope: Org,
    project: Project,
    what: dict,
    values: dict,
    errors: dict | None = None,
    status: int = 200,
) -> Template:
    context = {
        "scope": scope,
        "project": project,
        "owner": session.get(Org, project.owner_id),
        "values": values,
        "errors": errors or {},
        **what,
    }
    return Template("money/reverse.html", context=context, status_code=status)


def _payment_what(project: Project, payment: Payment, allocation: Allocation) -> dict:
    return {
        "kind": "payment",
        "payment": payment,
        "allocation": allocation,
        "action": f"/projects/{project.code}/payments/{payment.voucher_no}/reverse",
    }


def _line_what(
    session: Session, project: Project, line: FundingLine, allocation: Allocation
) -> dict:
    return {
        "kind": "line",
        "line": line,
        "allocation": allocation,
        "paid": paid_on_line(session, line),
        "action": f"/projects/{project.code}/funding/{allocation.code}/reverse",
    }


@get("/projects/{code:str}/payments/{voucher:str}/reverse", name="payment_reverse_form", sync_to_thread=True, opt=needs(Right.PAY, **FORM_PAGE))
def payment_reverse_form(
    code: FromPath[str], voucher: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show the form to reverse a payment, asking why."""
    scope, project, payment, _line_row, allocation = _payment(session, request, code, voucher)
    what = _payment_what(project, payment, allocation)
    return _form(session, scope, project, what, {"reason": ""})


@post("/projects/{code:str}/payments/{voucher:str}/reverse", name="payment_reverse", sync_to_thread=True, opt=needs(Right.PAY))
def payment_reverse(
    code: FromPath[str],
    voucher: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Reverse a payment, or show the form again with what stopped it."""
    scope, project, payment, _line_row, allocation = _payment(session, request, code, voucher)
    values = {"reason": str(data.get("reason") or "").strip()}
    try:
        reverse_payment(session, payment, values["reason"])
    except (Invalid, Refused) as error:
        errors, status = refused(session, error, "reason")
        scope, project, payment, _line_row, allocation = _payment(session, request, code, voucher)
        what = _payment_what(project, payment, allocation)
        return _form(session, scope, project, what, values, errors, status)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}/funding", done="reversed"), status_code=303
    )


@get("/projects/{code:str}/funding/{allocation:str}/reverse", name="line_reverse_form", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def line_reverse_form(
    code: FromPath[str], allocation: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show the form to reverse a funding line, asking why."""
    scope, project, line, found = _line(session, request, code, allocation)
    what = _line_what(session, project, line, found)
    return _form(session, scope, project, what, {"reason": ""})


@post("/projects/{code:str}/funding/{allocation:str}/reverse", name="line_reverse", sync_to_thread=True, opt=needs(Right.EDIT))
def line_reverse(
    code: FromPath[str],
    allocation: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Reverse a funding line, or show the form again with what stopped it."""
    scope, project, line, found = _line(session, request, code, allocation)
    values = {"reason": str(data.get("reason") or "").strip()}
    try:
        reverse_funding_line(session, line, values["reason"])
    except (Invalid, Refused) as error:
        errors, status = refused(session, error, "reason")
        scope, project, line, found = _line(session, request, code, allocation)
        what = _line_what(session, project, line, found)
        return _form(session, scope, project, what, values, errors, status)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}/funding", done="reversed"), status_code=303
    )


ROUTES = [payment_reverse_form, payment_reverse, line_reverse_form, line_reverse]
