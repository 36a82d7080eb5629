"""A project's money: draw funding from an allocation, record payments, and see the result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon import rules
from cocon.allocations import (
    draw,
    drawable_allocations,
    get_allocation,
    get_funding_line,
    payments_of,
    positive_amount,
    record_payment,
)
from cocon.checks import Blocked, Policies
from cocon.errors import Invalid, NotFound
from cocon.fields import clean_text, parse_date
from cocon.findings import allocation_findings, project_findings
from cocon.i18n import _
from cocon.models import Allocation, Org, Project
from cocon.money import format_yuan
from cocon.orgs import is_within
from cocon.projects import get_project
from cocon.rights import Right
from cocon.settings import Settings
from cocon.signatures import awaiting_payment, confirm_payment
from cocon.web.audit import project_history
from cocon.web.auth import needs
from cocon.web.money_support import check_each, refused, required
from cocon.web.projects import FORM_PAGE, scoped_url
from cocon.web.queries import LineRow, funding_lines
from cocon.web.scope import current_scope

DONE = ("drawn", "paid", "confirmed", "reversed")
DRAW_FIELDS = ("allocation", "amount")
PAY_FIELDS = ("allocation", "paid_on", "amount", "voucher_no", "note")


def _values(data: Mapping[str, str], fields: tuple[str, ...]) -> dict[str, str]:
    return {key: str(data.get(key) or "").strip() for key in fields}


def _allocation(session: Session, scope: Org, values: dict, errors: dict) -> Allocation | None:
    """Find the allocation the form names; one outside scope reads as not found."""
    if not values["allocation"]:
        errors["allocation"] = _("Choose an allocation")
        return None
    try:
        return get_allocation(session, values["allocation"], scope)
    except NotFound as error:
        errors["allocation"] = error.message
        return None


def _line_rows(session: Session, project: Project, scope: Org) -> list[tuple[LineRow, bool]]:
    """Return the project's funding lines, each with whether scope holds its allocation."""
    return [(row, is_within(row.holder, scope)) for row in funding_lines(session, project)]


@get("/projects/{code:str}/funding", name="project_funding", sync_to_thread=True, opt=needs(Right.READ, **FORM_PAGE))
def project_funding(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
) -> Template:
    """Show a project's funding lines, payments and the checks that fail on them now."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    lines = _line_rows(session, project, scope)
    # Warnings of a save are found again from what is stored, never carried in the address.
    held = [row.allocation.id for row, visible in lines if visible]
    findings = project_findings(session, None, None, policies, project_ids=[project.id])
    findings += allocation_findings(session, scope, None, policies, allocation_ids=held)
    funded = rules.funded(project)
    paid_lines = [(row, visible, payments_of(session, row.line)) for row, visible in lines]
    done = request.query_params.get("done")
    context = {
        "scope": scope,
        "project": project,
        "owner": session.get(Org, project.owner_id),
        "lines": paid_lines,
        "payments": [(row.allocation.code, payments) for row, _visible, payments in paid_lines],
        # Payments on lines whose allocation scope holds may be reversed here, as paid there.
        "reversible": [row.allocation.code for row, visible, _payments in paid_lines if visible],
        "audit_rows": project_history(
            request,
            session,
            project,
            [row for row, _visible, _payments in paid_lines],
            [(None, payments) for _row, _visible, payments in paid_lines],
            scope,
        ),
        "funded": funded,
        "balance": funded - project.budget_fen,
        "findings": findings,
        "done": done if done in DONE else None,
    }
    return Template("money/funding.html", context=context)


def draw_context(
    session: Session, scope: Org, project: Project, values: dict, errors: dict
) -> dict:
    """Gather what the draw form shows: the allocations to pick with their room, and the lines."""
    drawn = {
        row.allocation.id: row.line.amount_fen
        for row in funding_lines(session, project)
        if not row.line.is_reversed
    }
    options = [
        (allocation, org, used, drawn.get(allocation.id))
        for allocation, org, used in drawable_allocations(session, project, scope)
    ]
    return {
        "scope": scope,
        "project": project,
        "owner": session.get(Org, project.owner_id),
        "options": options,
        "values": values,
        "errors": errors,
    }


@get("/projects/{code:str}/draw", name="draw_new", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def draw_new(code: FromPath[str], request: Request, session: NamedDependency[Session]) -> Template:
    """Show the form to draw funding for a project of scope (?allocation= picks one)."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    values = _values({"allocation": request.query_params.get("allocation")}, DRAW_FIELDS)
    context = draw_context(session, scope, project, values, {})
    for allocation, _org, _used, current in context["options"]:
        if allocation.code == values["allocation"] and current is not None:
            values["amount"] = format_yuan(current, symbol=False)  # changing a line starts there
    return Template("money/draw.html", context=context)


@post("/projects/{code:str}/draw", name="draw_save", sync_to_thread=True, opt=needs(Right.EDIT))
def draw_save(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Set what a project draws from an allocation, or show the form again with what stopped it."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    values = _values(data, DRAW_FIELDS)
    errors: dict[str, str] = {}
    required(values, errors, "amount")
    allocation = _allocation(session, scope, values, errors)
    check_each(errors, {"amount": (positive_amount, values["amount"])})
    status = 400
    if not errors:
        try:
            draw(session, policies, project, allocation, values["amount"])
        except (Blocked, Invalid, NotFound) as error:
            errors, status = refused(session, error)
    if errors:
        context = draw_context(session, scope, project, values, errors)
        return Template("money/draw.html", context=context, status_code=status)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}/funding", done="drawn"), status_code=303
    )


def pay_context(session: Session, scope: Org, project: Project, values: dict, errors: dict) -> dict:
    """Gather what the payment form shows: the lines scope may pay on, with what is left."""
    lines = [
        row
        for row, visible in _line_rows(session, project, scope)
        if visible and not row.line.is_reversed
    ]
    return {
        "scope": scope,
        "project": project,
        "owner": session.get(Org, project.owner_id),
        "lines": lines,
        "values": values,
        "errors": errors,
    }


@get("/projects/{code:str}/pay", name="payment_new", sync_to_thread=True, opt=needs(Right.PAY, **FORM_PAGE))
def payment_new(
    code: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show the form to record a payment on a funding line of a project of scope."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    values = _values({"allocation": request.query_params.get("allocation")}, PAY_FIELDS)
    values["paid_on"] = date.today().isoformat()
    context = pay_context(session, scope, project, values, {})
    if not values["allocation"] and len(context["lines"]) == 1:
        values["allocation"] = context["lines"][0].allocation.code
    return Template("money/pay.html", context=context)


@post("/projects/{code:str}/pay", name="payment_save", sync_to_thread=True, opt=needs(Right.PAY))
def payment_save(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    settings: NamedDependency[Settings],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Record a payment, or show the form again with what stopped it."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    values = _values(data, PAY_FIELDS)
    errors: dict[str, str] = {}
    required(values, errors, "paid_on", "amount", "voucher_no")
    line = None
    allocation = _allocation(session, scope, values, errors)
    if allocation is not None:
        try:
            line = get_funding_line(session, project, allocation)
        except NotFound as error:
            errors["allocation"] = error.message
    check_each(
        errors,
        {
            "paid_on": (lambda text: parse_date(text, "paid_on"), values["paid_on"]),
            "amount": (positive_amount, values["amount"]),
            "voucher_no": (
                lambda text: clean_text(text, "voucher_no", limit=40),
                values["voucher_no"],
            ),
            "note": (lambda text: clean_text(text, "note"), values["note"]),
        },
    )
    status = 400
    if not errors:
        try:
            record_payment(
                session,
                policies,
                line,
                paid_on=values["paid_on"],
                amount=values["amount"],
                voucher_no=values["voucher_no"],
                note=values["note"],
                second_signature_fen=settings.payment_second_signature_fen,
            )
        except (Blocked, Invalid, NotFound) as error:
            errors, status = refused(session, error)
    if errors:
        context = pay_context(session, scope, project, values, errors)
        return Template("money/pay.html", context=context, status_code=status)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}/funding", done="paid"), status_code=303
    )


@post("/projects/{code:str}/confirm-payment", name="payment_confirm", sync_to_thread=True, opt=needs(Right.PAY))
def payment_confirm(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: URLEncodedBody[dict[str, str]],
) -> Redirect:
    """Give a payment awaiting its second signature the confirmation of another finance user."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    confirm_payment(session, policies, awaiting_payment(session, project, data.get("voucher_no")))
    return Redirect(
        scoped_url(request, f"/projects/{project.code}/funding", done="confirmed"), status_code=303
    )


ROUTES = [project_funding, draw_new, draw_save, payment_new, payment_save, payment_confirm]
