"""Project pages: the filtered list, one project with its money and its status changes."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon import rules
from cocon.allocations import payments_of
from cocon.checks import Policies
from cocon.errors import CoconError, Forbidden, Invalid, Refused
from cocon.labels import choices, source_label
from cocon.models import Category, ContributionKind, Org, Project, Status
from cocon.orgs import breadcrumb, level_name
from cocon.project_list import (
    FILTER_PARAMS,
    LEVEL_KEYS,
    parse_project_filters,
    project_rows,
    project_totals,
)
from cocon.projects import change_status, contributions_of, get_project
from cocon.review import review_panel, status_history
from cocon.rights import Right, status_right
from cocon.rollup import SOURCE_KEYS
from cocon.times import china_time
from cocon.web.audit import project_history
from cocon.web.auth import current_account, needs, require
from cocon.web.errors import status_of
from cocon.web.pagecache import cached_page
from cocon.web.queries import funding_lines
from cocon.web.scope import current_scope, years_with_data

PAGE_SIZE = 50
# Above this many orgs in scope, owner and site are typed as codes instead of picked.
ORG_CHOICES_LIMIT = 600
DONE = ("created", "saved", "status", "returned")
# Text a code must not hold to stay one segment of a web address.
# Handlers whose page holds a POST form: only these hand out the CSRF cookie.
FORM_PAGE = {"csrf_form": True}


def scoped_url(request: Request, path: str, **params: object) -> str:
    """Link to path in the scope of this request (?org=), with params."""
    pairs = {"org": request.query_params.get("org"), **params}
    query = urlencode({k: v for k, v in pairs.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


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
    filters, page, errors = parse_project_filters(session, scope, request.query_params)

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
    funded = rules.funded(project)
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
        "by_origin": drawn,
        "by_holder": [getattr(project, f"holder_l{level}_fen") for level in range(1, 6)],
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


ROUTES = [project_list, project_page, project_status]


def router() -> Router:
    """Group the project routes: one registration per path (Litestar wraps a sync handler again
    each time another handler joins its path, which breaks GET next to POST on a flat list)."""
    from cocon.web import project_forms

    return Router(path="/", route_handlers=[*ROUTES, *project_forms.ROUTES])
