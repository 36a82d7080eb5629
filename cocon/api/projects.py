"""Projects on the API: the filtered list with its totals, one project, create, update with
its version, and the status changes of the review flow (their money: cocon.api.money).

Each handler calls what the pages call: the list's parser, statements and totals
(cocon.project_list), the form's checks (cocon.project_input) and the status rules
(cocon.projects, cocon.review).
"""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlmodel import Session

from cocon.api.errors import problems
from cocon.api.schemas import (
    ProjectIn,
    ProjectOut,
    ProjectPage,
    ProjectPatch,
    ReturnIn,
    StatusIn,
    project_out,
    totals_out,
)
from cocon.checks import Policies
from cocon.errors import Invalid
from cocon.project_input import form_values, project_values, save_form
from cocon.project_list import parse_project_filters, project_rows, project_totals
from cocon.projects import FieldErrors, change_status, get_project
from cocon.review import return_project
from cocon.rights import Right, status_right
from cocon.versions import check_version
from cocon.web.auth import current_account, needs, require
from cocon.web.scope import allowed_root

ProjectCode = Annotated[str, PathParameter(description="The project's code, e.g. GS-2023-001")]
Filter = Annotated[str | None, QueryParameter(max_length=200)]


def _refuse(errors: dict[str, str]) -> FieldErrors:
    return FieldErrors([Invalid(message, field=name) for name, message in errors.items()])


@get("/projects", sync_to_thread=True, opt=needs(Right.READ), responses=problems(400, 403))
def project_list(
    request: Request,
    session: NamedDependency[Session],
    year: Filter = None,
    status: Filter = None,
    category: Filter = None,
    level: Filter = None,
    under: Annotated[str | None, QueryParameter(max_length=200, description="Owned within this org")] = None,
    partner: Annotated[str | None, QueryParameter(max_length=200, description="A partner's credit code or part of its name")] = None,
    q: Annotated[str | None, QueryParameter(max_length=200, description="Part of the name or code")] = None,
    sort: Annotated[Literal["code", "name", "budget", "funded", "year"], QueryParameter()] = "code",
    dir: Annotated[Literal["asc", "desc"], QueryParameter()] = "asc",
    page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
) -> ProjectPage:
    """List the projects of the token's subtree as the web list does: same filters, order, totals.

    The order is stable: ties are broken by code. The totals cover every project the filters
    keep, not only the page.
    """
    root = allowed_root(request, session)
    params = {
        "year": year, "status": status, "category": category, "level": level, "under": under,
        "partner": partner, "q": q, "sort": sort, "dir": dir,
    }  # fmt: skip
    filters, _page, errors = parse_project_filters(session, root, params)
    if errors:
        raise _refuse(errors)
    totals = project_totals(session, root, filters)
    rows = project_rows(session, root, filters, limit=per_page, offset=(page - 1) * per_page)
    return ProjectPage(
        items=[project_out(session, project, owner, site) for project, owner, site, _f in rows],
        page=page,
        per_page=per_page,
        pages=max(1, -(-totals.count // per_page)),
        totals=totals_out(totals),
    )


@get("/projects/{code:str}", sync_to_thread=True, opt=needs(Right.READ), responses=problems(403, 404))
def project_get(code: ProjectCode, request: Request, session: NamedDependency[Session]) -> ProjectOut:
    """Return one project of the token's subtree."""
    return project_out(session, get_project(session, code, allowed_root(request, session)))


def _text(value: object) -> str:
    return "" if value is None else str(value)


@post("/projects", sync_to_thread=True, opt=needs(Right.EDIT), responses=problems(400, 403))
def project_create(
    request: Request, session: NamedDependency[Session], data: JSONBody[ProjectIn]
) -> ProjectOut:
    """Create a project (a draft) with the form's checks; every wrong field is named at once."""
    root = allowed_root(request, session)
    values = form_values({key: _text(getattr(data, key)) for key in data.__struct_fields__})
    project, errors = save_form(session, root, values)
    if project is None:
        raise _refuse(errors)
    return project_out(session, project)


@patch("/projects/{code:str}", sync_to_thread=True, opt=needs(Right.EDIT), responses=problems(400, 403, 404, 409))
def project_update(
    code: ProjectCode, request: Request, session: NamedDependency[Session], data: JSONBody[ProjectPatch]
) -> ProjectOut:
    """Change the fields given (an empty string clears one); 409 with the current version if it
    was saved since the version given was read."""
    root = allowed_root(request, session)
    project = get_project(session, code, root)
    check_version(project, data.version)
    values = project_values(session, project)
    for key in data.__struct_fields__:
        if key != "version" and (value := getattr(data, key)) is not None:
            values[key] = _text(value).strip()
    saved, errors = save_form(session, root, values, project)
    if saved is None:
        raise _refuse(errors)
    return project_out(session, saved)


@post("/projects/{code:str}/status", sync_to_thread=True, opt=needs(Right.CHANGE_STATUS), status_code=200, responses=problems(400, 403, 404, 409))
def project_status(
    code: ProjectCode,
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: JSONBody[StatusIn],
) -> ProjectOut:
    """Move a project to another status (submit, approve, start, complete, cancel, reopen) as the
    review flow allows; each change needs its own right too."""
    project = get_project(session, code, allowed_root(request, session))
    require(current_account(request), status_right(data.to_status))
    change_status(session, project, data.to_status, data.note, policies)
    return project_out(session, project)


@post("/projects/{code:str}/return", sync_to_thread=True, opt=needs(Right.APPROVE), status_code=200, responses=problems(400, 403, 404, 409))
def project_return(
    code: ProjectCode, request: Request, session: NamedDependency[Session], data: JSONBody[ReturnIn]
) -> ProjectOut:
    """Send a submitted project back to draft, with the reason its owner reads."""
    project = get_project(session, code, allowed_root(request, session))
    return_project(session, project, data.reason)
    return project_out(session, project)


ROUTES = [
    project_list, project_get, project_create, project_update, project_status, project_return,
]  # fmt: skip
