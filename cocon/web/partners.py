"""Partner pages: find partner units, one unit with its contributions in scope, the forms."""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.creditcode import validate_credit_code
from cocon.errors import Invalid
from cocon.fields import clean_text
from cocon.labels import choices, parse_choice
from cocon.models import ContributionKind, Partner, PartnerKind
from cocon.partners import (
    check_partner_editable,
    clean_phone,
    contributes_outside,
    get_partner,
    list_partners,
    partners_working_in,
    save_partner,
)
from cocon.rights import Right, may
from cocon.versions import StaleVersion, check_version
from cocon.web.audit import history
from cocon.web.auth import current_account, needs
from cocon.web.projects import FORM_PAGE, scoped_url
from cocon.web.queries import count_partners_matching, partner_contributions, partner_figures
from cocon.web.scope import allowed_root, current_scope

PAGE_SIZE = 50
FORM_FIELDS = ("credit_code", "name", "kind", "contact", "phone")
# Each field's own check, run one by one so that every wrong field shows its error at once.
FIELD_CHECKS = {
    "credit_code": validate_credit_code,
    "name": lambda text: clean_text(text, "name", required=True),
    "kind": lambda text: parse_choice(PartnerKind, text, "kind"),
    "contact": lambda text: clean_text(text, "contact", limit=50),
    "phone": clean_phone,
}


@get("/partners", name="partner_list", sync_to_thread=True, opt=needs(Right.READ))
def partner_list(request: Request, session: NamedDependency[Session]) -> Template:
    """List partner units by name, those matching ?q= when given, with their figures in scope."""
    scope = current_scope(request, session)
    text = (request.query_params.get("q") or "").strip()[:200]
    raw_page = request.query_params.get("page") or ""
    total = count_partners_matching(session, text)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(int(raw_page), pages) if raw_page.isdigit() and int(raw_page) > 0 else 1
    partners = list_partners(session, text, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    context = {
        "contacts": contacts_shown(request, session, [p.id for p in partners]),
        "scope": scope,
        "q": text,
        "partners": partners,
        "figures": partner_figures(session, scope, [p.id for p in partners]),
        "total": total,
        "page": page,
        "pages": pages,
        "page_url": lambda n: scoped_url(request, "/partners", q=text, page=n),
        "kind_names": dict(choices(PartnerKind)),
    }
    return Template("partners/list.html", context=context)


@get("/partners/{credit_code:str}", name="partner_page", sync_to_thread=True, opt=needs(Right.READ))
def partner_page(
    credit_code: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show a partner unit and everything it put into projects owned in scope."""
    scope = current_scope(request, session)
    partner = get_partner(session, credit_code)
    rows = partner_contributions(session, partner, scope)
    done = request.query_params.get("done")
    root = allowed_root(request, session)
    contacts = contacts_shown(request, session, [partner.id])
    context = {
        "audit_rows": history(request, session, "partner", [partner.credit_code], scope),
        "contacts": contacts,
        "shared": contributes_outside(session, partner, root),
        "scope": scope,
        "partner": partner,
        "rows": rows,
        "total": sum(contribution.amount_fen for contribution, *_rest in rows),
        "projects": len({project.id for _c, project, *_rest in rows}),
        "done": done if done in ("created", "saved") else None,
        "kind_names": dict(choices(PartnerKind)),
        "contribution_names": dict(choices(ContributionKind)),
    }
    return Template("partners/show.html", context=context)


def contacts_shown(request: Request, session: Session, partner_ids: list[int]) -> set[int]:
    """Return the partners whose contact person and phone this user may see."""
    if not may(current_account(request).role, Right.SEE_CONTACTS):
        return set()
    return partners_working_in(session, allowed_root(request, session), partner_ids)


def editable_partner(request: Request, session: Session, credit_code: str) -> Partner:
    """Return a partner this user may change: none of its contributions lies outside their tree."""
    partner = get_partner(session, credit_code)
    check_partner_editable(session, partner, allowed_root(request, session))
    return partner


def form_values(data: Mapping[str, str]) -> dict[str, str]:
    """Keep what the user typed in each field of the partner form."""
    return {key: str(data.get(key) or "").strip() for key in FORM_FIELDS}


def save_form(
    session: Session, values: dict[str, str], partner: Partner | None = None
) -> tuple[Partner | None, dict[str, str]]:
    """Save the partner form; return the partner, or the errors by field (nothing saved)."""
    errors: dict[str, str] = {}
    for field, check in FIELD_CHECKS.items():
        try:
            check(values[field])
        except Invalid as error:
            errors[field] = error.message
    if errors:
        return None, errors
    try:
        return save_partner(session, **values, partner=partner), {}
    except Invalid as error:
        return None, {error.field or "credit_code": error.message}


def form_page(
    scope,
    values: dict,
    errors: dict,
    partner: Partner | None = None,
    status: int = 200,
    conflict: dict | None = None,
) -> Template:
    """Render the partner form with values and errors (and theirs, after a conflict)."""
    context = {
        "scope": scope,
        "partner": partner,
        "values": values,
        "errors": errors,
        "kinds": choices(PartnerKind),
        "conflict": conflict,
    }
    return Template("partners/form.html", context=context, status_code=status)


@get("/partners/new", name="partner_new", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def partner_new(request: Request, session: NamedDependency[Session]) -> Template:
    """Show an empty partner form."""
    scope = current_scope(request, session)
    return form_page(scope, form_values({"kind": PartnerKind.ENTERPRISE.value}), {})


@post("/partners/new", name="partner_create", sync_to_thread=True, opt=needs(Right.EDIT))
def partner_create(
    request: Request, session: NamedDependency[Session], data: URLEncodedBody[dict[str, str]]
) -> Template | Redirect:
    """Create a partner unit and show it, or show the form again with the errors."""
    scope = current_scope(request, session)
    values = form_values(data)
    partner, errors = save_form(session, values)
    if partner is None:
        return form_page(scope, values, errors, status=400)
    url = scoped_url(request, f"/partners/{partner.credit_code}", done="created")
    return Redirect(url, status_code=303)


@get("/partners/{credit_code:str}/edit", name="partner_edit", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def partner_edit(
    credit_code: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show the form of a partner unit, filled in."""
    scope = current_scope(request, session)
    partner = editable_partner(request, session, credit_code)
    return form_page(scope, partner_values(partner), {}, partner)


def partner_values(partner: Partner) -> dict[str, str]:
    """Return a partner's fields as the form shows them, with the version they were read at."""
    values = form_values({key: getattr(partner, key) or "" for key in FORM_FIELDS})
    return {**values, "version": str(partner.version)}


@post("/partners/{credit_code:str}/edit", name="partner_update", sync_to_thread=True, opt=needs(Right.EDIT))
def partner_update(
    credit_code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Save a partner unit and show it, or show the form again with the errors."""
    scope = current_scope(request, session)
    partner = editable_partner(request, session, credit_code)
    values = form_values(data)
    try:
        check_version(partner, data.get("version"))
    except StaleVersion as stale:
        theirs = partner_values(partner)
        conflict = {"theirs": theirs, "message": stale.message}
        return form_page(
            scope, {**values, "version": theirs["version"]}, {}, partner, 409, conflict
        )
    saved, errors = save_form(session, values, partner)
    if saved is None:
        return form_page(scope, values, errors, partner, status=400)
    url = scoped_url(request, f"/partners/{saved.credit_code}", done="saved")
    return Redirect(url, status_code=303)


ROUTES = [partner_list, partner_new, partner_create, partner_page, partner_edit, partner_update]


def router() -> Router:
    """Group the partner routes: one registration per path (Litestar wraps a sync handler again
    each time another handler joins its path, which breaks GET next to POST on a flat list)."""
    return Router(path="/", route_handlers=ROUTES)
