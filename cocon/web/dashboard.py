"""The dashboard: one scope org and one year at a glance."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency
from sqlmodel import Session

from cocon.checks import Policies
from cocon.orgs import breadcrumb
from cocon.review import waiting_for
from cocon.rights import Right
from cocon.rollup import rollup_org
from cocon.settings import Settings
from cocon.web.auth import needs
from cocon.web.pagecache import cached_page
from cocon.web.queries import count_projects, findings_context, large_units, recent_projects
from cocon.web.scope import current_scope, selected_year


@get("/", name="dashboard", sync_to_thread=True, opt=needs(Right.READ))
def dashboard(
    request: Request,
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    policies: NamedDependency[Policies],
) -> Response:
    """Show what waits for the user, failing checks, money, children, projects and large units."""
    scope = current_scope(request, session)

    def build_context() -> dict:
        year, years = selected_year(request, session, scope)
        recent, entered = recent_projects(session, scope, year)
        return {
            "scope": scope,
            "org": scope,
            "year": year,
            "years": years,
            "trail": breadcrumb(session, scope),
            "node": rollup_org(session, scope, year),
            **findings_context(session, scope, year, policies),
            "recent": recent,
            "entered": entered,
            "project_count": count_projects(session, scope, year),
            "units": large_units(session, scope, settings.floating_share_threshold),
            "waiting": waiting_for(session, scope),
        }

    return cached_page(request, session, scope, "dashboard.html", build_context)
