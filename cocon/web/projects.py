"""Project pages: the filtered list, one project with its money, the forms, status changes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.allocations import payments_of
from cocon.checks import Policies
from cocon.derived import project_funded
from cocon.errors import CoconError, Forbidden, Invalid, NotFound, Refused
from cocon.i18n import _
from cocon.labels import choices, parse_choice, source_label
from cocon.models import Category, ContributionKind, Level, Org, Project, Status
from cocon.money import format_yuan
from cocon.orgs import breadcrumb, level_name
from cocon.projects import (
    FieldErrors,
    ProjectInput,
    change_status,
    clean_project,
    contributions_of,
    get_project,
    parse_year,
    save_project,
)
from cocon.review import review_panel, status_history
from cocon.rights import Right, status_right
from cocon.rollup import SOURCE_KEYS
from cocon.times import china_time
from cocon.versions import StaleVersion, check_version
from cocon.web.audit import project_history
from cocon.web.auth import current_account, needs, require
from cocon.web.errors import status_of
from cocon.web.pagecache import cached_page
from cocon.web.queries import (
    SORT_KEYS,
    ProjectFilters,
    funding_lines,
    orgs_in_scope,
    project_rows,
    project_totals,
)
from cocon.web.scope import current_scope, org_in_scope, years_with_data

PAGE_SIZE = 50
# Above this many orgs in scope, owner and site are typed as codes instead of picked.
ORG_CHOICES_LIMIT = 600
FILTER_PARAMS = ("year", "status", "category", "level", "under", "partner", "q")
FORM_FIELDS = (
    "code",
    "name",
    "owner",
    "site",
    "category",
    "year",
    "start_date",
    "end_date",
    "budget",
    "area_m2",
    "households_served",
    "description",
)
LEVEL_KEYS = {level.name.lower(): int(level) for level in Level}
DONE = ("created", "saved", "status", "returned")
# Text a code must not hold to stay one segment of a web address.
# Handlers whose page holds a POST form: only these hand out the CSRF cookie.
FORM_PAGE = {"csrf_form": True}


def scoped_url(request: Request, path: str, **params: object) -> str:
    """Link to path in the scope of this request (?org=), with params."""
    pairs = {"org": request.query_params.get("org"), **params}
    query = urlencode({k: v for k, v in pairs.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def _level(raw: str) -> int:
    value = LEVEL_KEYS.get(raw.lower()) or (int(raw) if raw.isdigit() else 0)
    if value not in LEVEL_KEYS.values():
        names = " / ".join(level_name(level) for level in Level)
        raise Invalid(_("Choose one of: {choices}").format(choices=names), field="level")
    return value


def parse_filters(
    session: Session, scope: Org, params: Mapping[str, str]
) -> tuple[ProjectFilters, int, dict[str, str]]:
    """Read the list's filters, sorting and page from the query; collect errors by field."""
    raw = {key: (params.get(key) or "").strip() for key in (*FILTER_PARAMS, "sort", "dir", "page")}
    errors: dict[str, str] = {}
    parsers = {
        "year": parse_year,
        "status": lambda text: parse_choice(Status, text, "status"),
        "category": lambda text: parse_choice(Category, text, "category"),
        "level": _level,
        "under": lambda text: org_in_scope(session, text, scope),
    }
    values: dict[str, Any] = {}
    for key, parse in parsers.items():
        if raw[key]:
            try:
                values[key] = parse(raw[key])
            except (Invalid, NotFound) as error:
                errors[key] = error.message
    page = int(raw["page"]) if raw["page"].isdigit() and int(raw["page"]) > 0 else 1
    filters = ProjectFilters(
        **values,
        partner=raw["partner"][:200],
        text=raw["q"][:200],
        sort=raw["sort"] if raw["sort"] in SORT_KEYS else "code",
        descending=raw["dir"] == "desc",
    )
    return filters, page, errors


def list_link(request: Request):
    """Return a function that links to the list with this page's query changed (None drops)."""

    def link(**changes: object) -> str:
        params: dict[str, object] = {
            k: v for k, v in request.query_params.items() if k not in ("lang", "page")
        }
        params.update(changes)
        return scoped_url(request, "/projects", **{k: v for k, v in params.items() if k != "org"})

    return link


@get("/projects", name="project_list", sync_to_thread=True, opt=needs(Right.READ))
def project_list(request: Request, session: NamedDependency[Session]) -> Template | Response:
    """List the projects of scope, filtered, sorted and paged, with totals of the filtered set."""
    scope = current_scope(request, session)
    filters, page, errors = parse_filters(session, scope, request.query_params)

    def build_context() -> dict:
        totals, rows, shown = None, [], page
        if not errors:
            totals = project_totals(session, scope, filters)
            shown = min(page, max(1, -(-totals.count // PAGE_SIZE)))
            offset = (shown - 1) * PAGE_SIZE
            rows = project_rows(session, scope, filters, limit=PAGE_SIZE, offset=offset)
        export = urlencode(
            {k: v for k in ("org", *FILTER_PARAMS) if (v := request.query_params.get(k))}
        )
        return {
            "scope": scope,
            "filters": filters,
            "raw": {k: request.query_params.get(k) or "" for k in FILTER_PARAMS},
            "errors": errors,
            "totals": totals,
            "rows": rows,
            "page": shown,
            "pages": max(1, -(-totals.count // PAGE_SIZE)) if totals else 1,
            "page_size": PAGE_SIZE,
            "link": list_link(request),
            "export_url": f"/export?{export}" if export else "/export",
            "years": years_with_data(session, scope),
            "statuses": choices(Status),
            "categories": choices(Category),
            "levels": [(key, value, level_name(value)) for key, value in LEVEL_KEYS.items()],
        }

    if errors:
        return Template("projects/list.html", context=build_context(), status_code=400)
    return cached_page(request, session, scope, "projects/list.html", build_context)


def beijing_time(moment: datetime) -> str:
    """Show a stored UTC moment in China's time (UTC+8, no daylight saving)."""
    return china_time(moment)


def detail_context(
    request: Request, session: Session, scope: Org, project: Project, policies: Policies
) -> dict:
    """Gather what the project page shows."""
    owner, site = session.get(Org, project.owner_id), session.get(Org, project.site_id)
    drawn = [getattr(project, f"drawn_l{level}_fen") for level in range(1, 6)]
    sources = [(source_label(key), drawn[i]) for i, key in enumerate(SOURCE_KEYS)]
    funded = project_funded(project)
    lines = [(row, payments_of(session, row.line)) for row in funding_lines(session, project)]
    panel = review_panel(session, scope, project, policies)
    return {
        "scope": scope,
        "project": project,
        "owner": owner,
        "site": site,
        "trail": breadcrumb(session, owner),
        "site_trail": breadcrumb(session, site),
        "sources": [*sources, (source_label("partners"), project.partners_fen)],
        "funded": funded,
        "balance": funded - project.budget_fen,
        "lines": lines,
        "payments": [(row.allocation.code, payments) for row, payments in lines],
        "contributions": contributions_of(session, project),
        "kind_names": dict(choices(ContributionKind)),
        "history": [(c, beijing_time(c.changed_at)) for c in status_history(session, project)],
        **panel,
        "returned_when": beijing_time(panel["returned"].changed_at) if panel["returned"] else None,
        "refused": None,
        "audit_rows": project_history(
            request, session, project, [row for row, _p in lines], [(None, p) for _r, p in lines], scope
        ),
    }


@get("/projects/{code:str}", name="project_page", sync_to_thread=True, opt=needs(Right.READ, **FORM_PAGE))
def project_page(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
) -> Template:
    """Show one project of scope: fields, funding by level, lines, partners, payments, history."""
    scope = current_scope(request, session)
    context = detail_context(request, session, scope, get_project(session, code, scope), policies)
    done = request.query_params.get("done")
    context["done"] = done if done in DONE else None
    return Template("projects/show.html", context=context)


@post("/projects/{code:str}/status", name="project_status", sync_to_thread=True, opt=needs(Right.CHANGE_STATUS))
def project_status(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Move a project of scope to another status; a refused change is shown, nothing saved."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    require(current_account(request), status_right(str(data.get("to_status") or "")))
    try:
        change_status(session, project, data.get("to_status"), data.get("note"), policies)
    except (Refused, Invalid, Forbidden) as error:
        return refused_page(request, session, scope, project, policies, error)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}", done="status"), status_code=303
    )


def refused_page(
    request: Request,
    session: Session,
    scope: Org,
    project: Project,
    policies: Policies,
    error: CoconError,
) -> Template:
    """Show the project page again with why a status change was refused, nothing saved."""
    context = detail_context(request, session, scope, project, policies)
    context["refused"] = error.message
    return Template(
        "projects/show.html", context={**context, "done": None}, status_code=status_of(error)
    )


def form_values(data: Mapping[str, str]) -> dict[str, str]:
    """Keep what the user typed in each field of the project form."""
    return {key: str(data.get(key) or "").strip() for key in FORM_FIELDS}


def project_values(session: Session, project: Project) -> dict[str, str]:
    """Return a project's fields as the form shows them."""
    dates = {k: getattr(project, k) for k in ("start_date", "end_date")}
    return {
        "code": project.code,
        "name": project.name,
        "owner": session.get(Org, project.owner_id).code,
        "site": session.get(Org, project.site_id).code,
        "category": project.category,
        "year": str(project.year),
        **{k: d.isoformat() if d else "" for k, d in dates.items()},
        "budget": format_yuan(project.budget_fen, symbol=False),
        "area_m2": "" if project.area_m2 is None else str(project.area_m2),
        "households_served": (
            "" if project.households_served is None else str(project.households_served)
        ),
        "description": project.description or "",
        "version": str(project.version),
    }


def conflict_form(
    session: Session, scope: Org, project: Project, values: dict[str, str], stale: StaleVersion
) -> Template:
    """Show the form with the user's values over the current version, theirs beside them."""
    theirs = project_values(session, project)
    values = {**values, "version": theirs["version"]}
    context = form_context(session, scope, values, {}, project)
    context["conflict"] = {"theirs": theirs, "message": stale.message}
    return Template("projects/form.html", context=context, status_code=409)


def save_form(
    session: Session, scope: Org, values: dict[str, str], project: Project | None = None
) -> tuple[Project | None, dict[str, str]]:
    """Save the project form; return the project, or the errors by field (nothing saved)."""
    errors: dict[str, str] = {}
    orgs: dict[str, Org | None] = {"owner": None, "site": None}
    for field in orgs:
        if values[field]:
            try:
                orgs[field] = org_in_scope(session, values[field], scope)
            except (Invalid, NotFound) as error:
                errors[field] = error.message
    data = ProjectInput(**{**{k: v for k, v in values.items() if k != "version"}, **orgs})
    try:
        if errors:  # check the rest too, so every error shows at once, but save nothing
            clean_project(data, code_holder=None, project_id=None)
            return None, errors
        return save_project(session, data, project), {}
    except FieldErrors as error:
        errors = {**error.by_field(), **errors}
    except Invalid as error:
        errors = {error.field or "name": error.message, **errors}
    for field in ("category", "year"):  # left empty: say so rather than list what is valid
        if field in errors and not values[field]:
            errors[field] = _("This field is required")
    return None, errors


def form_context(
    session: Session,
    scope: Org,
    values: dict[str, str],
    errors: dict[str, str],
    project: Project | None = None,
) -> dict:
    """Gather what the project form shows: values, errors, and the orgs to pick from."""
    owners = orgs_in_scope(session, scope, limit=ORG_CHOICES_LIMIT + 1)
    sites = orgs_in_scope(session, scope, level=Level.COMMUNITY, limit=ORG_CHOICES_LIMIT + 1)
    streets = {o.id: o.name for o in orgs_in_scope(session, scope, level=Level.STREET)}
    return {
        "scope": scope,
        "project": project,
        "values": values,
        "errors": errors,
        "owners": owners if len(owners) <= ORG_CHOICES_LIMIT else None,
        "sites": sites if len(sites) <= ORG_CHOICES_LIMIT else None,
        "streets": streets,
        "categories": choices(Category),
    }


@get("/projects/new", name="project_new", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def project_new(request: Request, session: NamedDependency[Session]) -> Template:
    """Show an empty project form; the owner starts as the scope org."""
    scope = current_scope(request, session)
    values = form_values({"owner": scope.code, "site": request.query_params.get("site") or ""})
    values["year"] = request.query_params.get("year") or str(date.today().year)
    return Template("projects/form.html", context=form_context(session, scope, values, {}))


@post("/projects/new", name="project_create", sync_to_thread=True, opt=needs(Right.EDIT))
def project_create(
    request: Request, session: NamedDependency[Session], data: URLEncodedBody[dict[str, str]]
) -> Template | Redirect:
    """Create a project and show it, or show the form again with the errors beside the fields."""
    scope = current_scope(request, session)
    values = form_values(data)
    project, errors = save_form(session, scope, values)
    if project is None:
        context = form_context(session, scope, values, errors)
        return Template("projects/form.html", context=context, status_code=400)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}", done="created"), status_code=303
    )


@get("/projects/{code:str}/edit", name="project_edit", sync_to_thread=True, opt=needs(Right.EDIT, **FORM_PAGE))
def project_edit(
    code: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show the form of a project of scope, filled in."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    values = project_values(session, project)
    return Template("projects/form.html", context=form_context(session, scope, values, {}, project))


@post("/projects/{code:str}/edit", name="project_update", sync_to_thread=True, opt=needs(Right.EDIT))
def project_update(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Save a project of scope and show it, or show the form again with the errors."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    values = {**form_values(data), "version": str(data.get("version") or "").strip()}
    try:
        check_version(project, values["version"])
    except StaleVersion as stale:
        return conflict_form(session, scope, project, values, stale)
    saved, errors = save_form(session, scope, values, project)
    if saved is None:
        context = form_context(session, scope, values, errors, project)
        return Template("projects/form.html", context=context, status_code=400)
    return Redirect(scoped_url(request, f"/projects/{saved.code}", done="saved"), status_code=303)


ROUTES = [
    project_list,
    project_new,
    project_create,
    project_page,
    project_edit,
    project_update,
    project_status,
]


def router() -> Router:
    """Group the project routes: one registration per path (Litestar wraps a sync handler again
    each time another handler joins its path, which breaks GET next to POST on a flat list)."""
    return Router(path="/", route_handlers=ROUTES)
