"""The project forms: create and edit, errors beside the fields, the conflict of two editors."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.labels import choices
from cocon.models import Category, Level, Org, Project
from cocon.project_input import form_values, project_values, save_form
from cocon.projects import get_project
from cocon.rights import Right
from cocon.versions import StaleVersion, check_version
from cocon.web.auth import needs
from cocon.web.projects import FORM_PAGE, ORG_CHOICES_LIMIT, scoped_url
from cocon.web.queries import orgs_in_scope
from cocon.web.scope import current_scope, year_in_view


def conflict_form(
    session: Session, scope: Org, project: Project, values: dict[str, str], stale: StaleVersion
) -> Template:
    """Show the form with the user's values over the current version, theirs beside them."""
    theirs = project_values(session, project)
    values = {**values, "version": theirs["version"]}
    context = form_context(session, scope, values, {}, project)
    context["conflict"] = {"theirs": theirs, "message": stale.message}
    return Template("projects/form.html", context=context, status_code=409)


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
