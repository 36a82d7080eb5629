"""Org pages: find an org in scope, and one org with its breadcrumb, children and money."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlmodel import Session

from cocon.allocations import list_allocations
from cocon.checks import Policies
from cocon.models import Level
from cocon.orgs import breadcrumb, org_in_scope, search_orgs
from cocon.profiles import get_profile, qualify
from cocon.projects import list_projects
from cocon.rights import Right
from cocon.rollup import rollup_org
from cocon.settings import Settings
from cocon.web.auth import needs
from cocon.web.pagecache import cached_page
from cocon.web.queries import count_allocations, count_projects, findings_context
from cocon.web.scope import current_scope, selected_year

LIST_LIMIT = 50
SEARCH_LIMIT = 50


@get("/orgs", name="org_search", sync_to_thread=True, opt=needs(Right.READ))
def org_search(
    request: Request, session: NamedDependency[Session], q: FromQuery[str | None] = None
) -> Template:
    """Find orgs in scope whose name contains q or whose code starts with it."""
    scope = current_scope(request, session)
    text = (q or "").strip()
    found = search_orgs(session, text, within=scope, limit=SEARCH_LIMIT) if text else []
    context = {"scope": scope, "q": text, "found": found, "limit": SEARCH_LIMIT}
    return Template("orgs/search.html", context=context)


@get("/orgs/{code:str}", name="org_page", sync_to_thread=True, opt=needs(Right.READ))
def org_page(
    code: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    policies: NamedDependency[Policies],
) -> Response:
    """Show an org of scope: breadcrumb, children with figures, projects, allocations, profile."""
    scope = current_scope(request, session)
    org = org_in_scope(session, code, scope)

    def build_context() -> dict:
        year, years = selected_year(request, session, scope)
        profile = get_profile(session, org) if org.level == Level.COMMUNITY else None
        return {
            "scope": scope,
            "org": org,
            "year": year,
            "years": years,
            "trail": breadcrumb(session, org),
            "node": rollup_org(session, org, year),
            **findings_context(session, org, year, policies),
            "projects": list_projects(session, scope=org, year=year, limit=LIST_LIMIT),
            "project_count": count_projects(session, org, year),
            "allocations": list_allocations(session, scope=org, year=year, limit=LIST_LIMIT),
            "allocation_count": count_allocations(session, org, year),
            "profile": profile,
            "qualification": (
                qualify(profile, settings.floating_share_threshold)
                if org.level == Level.COMMUNITY
                else None
            ),
            "limit": LIST_LIMIT,
        }

    return cached_page(request, session, scope, "orgs/show.html", build_context)
