"""The project forms: create and edit, errors beside the fields, the conflict of two editors."""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.errors import Invalid, NotFound
from cocon.fields import FieldErrors
from cocon.i18n import _
from cocon.labels import choices
from cocon.models import Category, Level, Org, Project
from cocon.money import format_yuan
from cocon.projects import ProjectInput, clean_project, get_project, save_project
from cocon.rights import Right
from cocon.versions import StaleVersion, check_version
from cocon.web.auth import needs
from cocon.web.projects import FORM_PAGE, ORG_CHOICES_LIMIT, scoped_url
from cocon.web.queries import orgs_in_scope
from cocon.web.scope import current_scope, org_in_scope, year_in_view

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
    values["year"] = year_in_view(request, session, scope)
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


ROUTES = [project_new, project_create, project_edit, project_update]
