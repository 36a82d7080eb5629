"""Allocation pages: the list of a scope and year, one allocation, and the allocate forms."""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.allocation_report import allocation_reports
from cocon.allocations import (
    allocation_title,
    check_allocation_editable,
    commitments,
    get_allocation,
    list_allocations,
    positive_amount,
    received_from_above,
    save_allocation,
)
from cocon.checks import Blocked, Policies
from cocon.errors import Invalid, NotFound
from cocon.fields import clean_code, clean_text, parse_year
from cocon.findings import allocation_findings
from cocon.i18n import _
from cocon.models import Allocation, Org
from cocon.money import format_yuan
from cocon.orgs import breadcrumb, is_within, org_in_scope
from cocon.rights import Right
from cocon.versions import StaleVersion, check_version
from cocon.web.audit import history
from cocon.web.auth import needs
from cocon.web.money_support import (
    allocation_totals,
    check_each,
    draws_on,
    refused,
    required,
    sub_allocations,
)
from cocon.web.projects import FORM_PAGE, ORG_CHOICES_LIMIT, scoped_url
from cocon.web.queries import orgs_in_scope
from cocon.web.scope import allowed_root, current_scope, selected_year, year_in_view

PAGE_SIZE = 50
FORM_FIELDS = ("org", "year", "amount", "code", "parent", "source_note")
DONE = ("created", "saved")


def _page(raw: str | None) -> int:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


@get("/allocations", name="allocation_list", sync_to_thread=True, opt=needs(Right.READ))
def allocation_list(
    request: Request, session: NamedDependency[Session], policies: NamedDependency[Policies]
) -> Template:
    """List the allocations held in scope for a year, a page at a time, with totals of them all."""
    scope = current_scope(request, session)
    year, years = selected_year(request, session, scope)
    totals = allocation_totals(session, scope, year)
    pages = max(1, -(-totals.count // PAGE_SIZE))
    page = min(_page(request.query_params.get("page")), pages)
    rows = list_allocations(
        session, scope=scope, year=year, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )

    def page_url(number: int) -> str:
        return scoped_url(request, "/allocations", year=year, page=number if number > 1 else None)

    context = {
        "scope": scope,
        "year": year,
        "years": years,
        "rows": rows,
        "totals": totals,
        "page": page,
        "pages": pages,
        "page_url": page_url,
    }
    return Template("allocations/list.html", context=context)


def allocation_context(session: Session, scope: Org, allocation: Allocation, policies: Policies):
    """Gather what the allocation page shows: holder, parent, sub-allocations, draws, checks."""
    holder = session.get(Org, allocation.org_id)
    parent = session.get(Allocation, allocation.parent_id) if allocation.parent_id else None
    parent_org = session.get(Org, parent.org_id) if parent else None
    visible_parent = parent is not None and is_within(parent_org, scope)
    subs = sub_allocations(session, allocation)
    # The checks of this allocation and of the parent it comes out of, if scope may see it.
    ids = [allocation.id] + ([parent.id] if visible_parent else [])
    return {
        "scope": scope,
        "allocation": allocation,
        "title": allocation_title(session, allocation),
        "holder": holder,
        "trail": breadcrumb(session, holder),
        "parent": parent,
        "parent_org": parent_org,
        "parent_visible": visible_parent,
        "committed": commitments(session, allocation),
        "report": allocation_reports(session, [allocation.id])[allocation.id],
        "subs": subs,
        "draws": draws_on(session, allocation),
        "findings": allocation_findings(session, scope, None, policies, allocation_ids=ids),
    }


@get("/allocations/{code:str}", name="allocation_page", sync_to_thread=True, opt=needs(Right.READ))
def allocation_page(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
) -> Template:
    """Show one allocation of scope: its money, where it came from and where it went."""
    scope = current_scope(request, session)
    allocation = get_allocation(session, code, scope)
    context = allocation_context(session, scope, allocation, policies)
    context["audit_rows"] = history(request, session, "allocation", [allocation.code], scope)
    context["editable"] = not received_from_above(
        session, allocation, allowed_root(request, session)
    )
    done = request.query_params.get("done")
    context["done"] = done if done in DONE else None
    return Template("allocations/show.html", context=context)


def form_values(data: Mapping[str, str]) -> dict[str, str]:
    """Keep what the user typed in each field of the allocation form."""
    return {key: str(data.get(key) or "").strip() for key in FORM_FIELDS}


def allocation_values(session: Session, allocation: Allocation) -> dict[str, str]:
    """Return an allocation's fields as the form shows them."""
    parent = session.get(Allocation, allocation.parent_id) if allocation.parent_id else None
    return {
        "org": session.get(Org, allocation.org_id).code,
        "year": str(allocation.year),
        "amount": format_yuan(allocation.amount_fen, symbol=False),
        "code": allocation.code,
        "parent": parent.code if parent else "",
        "source_note": allocation.source_note or "",
        "version": str(allocation.version),
    }


def fixed_parent(request: Request, session: Session, scope: Org) -> Allocation | None:
    """Return the allocation a sub-allocation form splits (?parent=), which scope must hold."""
    code = (request.query_params.get("parent") or "").strip()
    return get_allocation(session, code, scope) if code else None


def _lookup(errors: dict[str, str], field: str, find) -> object | None:
    try:
        return find()
    except (Invalid, NotFound) as error:
        errors[field] = error.message
        return None


def save_form(
    session: Session,
    policies: Policies,
    scope: Org,
    values: dict[str, str],
    allocation: Allocation | None = None,
    locked_parent: Allocation | None = None,
) -> tuple[Allocation | None, dict[str, str], int]:
    """Save the allocation form; return the allocation, or the errors and status (nothing saved)."""
    errors: dict[str, str] = {}
    required(values, errors, "org", "year", "amount")
    org, parent = None, locked_parent
    if values["org"]:
        org = _lookup(errors, "org", lambda: org_in_scope(session, values["org"], scope))
    if values["parent"] and locked_parent is None:
        parent = _lookup(errors, "parent", lambda: get_allocation(session, values["parent"], scope))
    checks = {
        "year": (parse_year, values["year"]),
        "amount": (positive_amount, values["amount"]),
        "source_note": (lambda text: clean_text(text, "source_note"), values["source_note"]),
    }
    if values["code"]:
        checks["code"] = (clean_code, values["code"])
    check_each(errors, checks)  # every error shows at once; nothing is saved while one remains
    if allocation is not None and org is not None and not errors:
        _check_fixed_fields(session, allocation, org, values, locked_parent, errors)
    if errors:
        return None, errors, 400
    try:
        saved = save_allocation(
            session,
            policies,
            org=org,
            year=values["year"],
            amount=values["amount"],
            code=values["code"] or None,
            parent=parent,
            source_note=values["source_note"],
            allocation=allocation,
        )
    except (Blocked, Invalid, NotFound) as error:
        errors, status = refused(session, error)
        return None, errors, status
    return saved.row, {}, 200


def _check_fixed_fields(
    session: Session,
    allocation: Allocation,
    org: Org,
    values: dict[str, str],
    locked_parent: Allocation | None,
    errors: dict[str, str],
) -> None:
    if locked_parent is not None and positive_amount(values["amount"]) != allocation.amount_fen:
        # Resizing a sub-allocation takes from its parent: that is the parent holder's call.
        errors["amount"] = _(
            "{code} comes out of {parent}, which lies outside your scope: its amount stays"
        ).format(code=allocation.code, parent=locked_parent.code)


def outside_parent(session: Session, allocation: Allocation, scope: Org) -> Allocation | None:
    """Return the parent of an allocation when it lies outside scope (it is then kept as is)."""
    if allocation.parent_id is None:
        return None
    parent = session.get(Allocation, allocation.parent_id)
    return None if is_within(session.get(Org, parent.org_id), scope) else parent


def form_context(
    session: Session,
    scope: Org,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    allocation: Allocation | None = None,
    parent: Allocation | None = None,
) -> dict:
    """Gather what the allocation form shows: values, errors, the orgs to pick, the fixed parent."""
    parent_org = session.get(Org, parent.org_id) if parent else None
    visible = parent_org is not None and is_within(parent_org, scope)
    root = parent_org if visible else scope
    orgs = orgs_in_scope(session, root, limit=ORG_CHOICES_LIMIT + 2)
    if parent_org is not None:  # a sub-allocation goes strictly below its parent's org
        orgs = [o for o in orgs if o.id != parent_org.id]
    room = None
    if visible:
        room = commitments(session, parent).remaining
    return {
        "scope": scope,
        "allocation": allocation,
        "parent": parent,
        "parent_org": parent_org,
        "parent_visible": visible,
        "parent_room": room,
        "root": root,
        "values": values,
        "errors": errors,
        "orgs": orgs if len(orgs) <= ORG_CHOICES_LIMIT else None,
    }


@get("/allocations/new", name="allocation_new", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def allocation_new(request: Request, session: NamedDependency[Session]) -> Template:
    """Show an empty allocation form, or a sub-allocation form for ?parent=CODE."""
    scope = current_scope(request, session)
    parent = fixed_parent(request, session, scope)
    values = form_values({"org": "" if parent else scope.code})
    values["year"] = str(parent.year) if parent else year_in_view(request, session, scope)
    values["parent"] = parent.code if parent else ""
    context = form_context(session, scope, values, {}, parent=parent)
    return Template("allocations/form.html", context=context)


@post("/allocations/new", name="allocation_create", sync_to_thread=True, opt=needs(Right.EDIT))
def allocation_create(
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Create an allocation and show it, or show the form again with what stopped it."""
    scope = current_scope(request, session)
    parent = fixed_parent(request, session, scope)
    values = form_values(data)
    if parent is not None:
        values["parent"] = parent.code
    saved, errors, status = save_form(session, policies, scope, values)
    if saved is None:
        context = form_context(session, scope, values, errors, parent=parent)
        return Template("allocations/form.html", context=context, status_code=status)
    return Redirect(
        scoped_url(request, f"/allocations/{saved.code}", done="created"), status_code=303
    )


@get("/allocations/{code:str}/edit", name="allocation_edit", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def allocation_edit(
    code: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show the form of an allocation of scope, filled in."""
    scope = current_scope(request, session)
    allocation = get_allocation(session, code, scope)
    check_allocation_editable(session, allocation, allowed_root(request, session))
    values = allocation_values(session, allocation)
    locked = outside_parent(session, allocation, scope)
    context = form_context(session, scope, values, {}, allocation=allocation, parent=locked)
    return Template("allocations/form.html", context=context)


@post("/allocations/{code:str}/edit", name="allocation_update", sync_to_thread=True, opt=needs(Right.EDIT))
def allocation_update(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Save an allocation of scope and show it, or show the form again with what stopped it."""
    scope = current_scope(request, session)
    allocation = get_allocation(session, code, scope)
    check_allocation_editable(session, allocation, allowed_root(request, session))
    locked = outside_parent(session, allocation, scope)
    values = form_values(data)
    if locked is not None:
        values["parent"] = locked.code
    try:
        check_version(allocation, data.get("version"))
    except StaleVersion as stale:
        theirs = allocation_values(session, allocation)
        values["version"] = theirs["version"]
        context = form_context(session, scope, values, {}, allocation=allocation, parent=locked)
        context["conflict"] = {"theirs": theirs, "message": stale.message}
        return Template("allocations/form.html", context=context, status_code=409)
    saved, errors, status = save_form(session, policies, scope, values, allocation, locked)
    if saved is None:
        context = form_context(session, scope, values, errors, allocation=allocation, parent=locked)
        return Template("allocations/form.html", context=context, status_code=status)
    return Redirect(
        scoped_url(request, f"/allocations/{saved.code}", done="saved"), status_code=303
    )


ROUTES = [
    allocation_list,
    allocation_new,
    allocation_create,
    allocation_page,
    allocation_edit,
    allocation_update,
]
