"""The review flow's own step on the project page: return a submitted project for revision."""

from __future__ import annotations

from litestar import Request, Router, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.checks import Policies
from cocon.errors import Forbidden, Invalid, Refused
from cocon.projects import get_project
from cocon.review import return_project
from cocon.rights import Right
from cocon.web.auth import needs
from cocon.web.projects import refused_page, scoped_url
from cocon.web.scope import current_scope


@post("/projects/{code:str}/return", name="project_return", sync_to_thread=True, opt=needs(Right.APPROVE))
def project_return(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    policies: NamedDependency[Policies],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Send a submitted project of scope back to draft with the reason, or show why not."""
    scope = current_scope(request, session)
    project = get_project(session, code, scope)
    try:
        return_project(session, project, data.get("reason"))
    except (Refused, Invalid, Forbidden) as error:
        return refused_page(request, session, scope, project, policies, error)
    return Redirect(
        scoped_url(request, f"/projects/{project.code}", done="returned"), status_code=303
    )


ROUTES = [project_return]


def router() -> Router:
    """Group the review routes (see cocon.web.projects.router for why)."""
    return Router(path="/", route_handlers=ROUTES)
