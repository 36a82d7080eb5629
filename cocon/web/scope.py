"""Which part of the org tree a request may see, and which year it looks at.

Every page works inside a scope: one org's subtree. The signed-in user's org is the root of
everything they may see; ?org= may narrow the scope within it, never widen it (an org outside
reads as not found, like one that does not exist).
"""

from __future__ import annotations

from datetime import date

from litestar import Request
from sqlalchemy import select, union
from sqlmodel import Session

from cocon.errors import Invalid, NotFound
from cocon.i18n import _
from cocon.models import Allocation, Org, Project
from cocon.orgs import is_within, resolve_org
from cocon.projects import parse_year
from cocon.scope import allocation_scope, project_scope
from cocon.web.auth import current_account


def allowed_root(request: Request, session: Session) -> Org:
    """Return the subtree this request may see at all: the signed-in user's org."""
    org = session.get(Org, current_account(request).org_id)
    if org is None:  # the org was deleted during the request: nothing to see
        raise NotFound(_("There is no such page, or it lies outside the orgs you can see."))
    return org


def current_scope(request: Request, session: Session) -> Org:
    """Return the org whose subtree this request works in."""
    root = allowed_root(request, session)
    picked = (request.query_params.get("org") or "").strip()
    if not picked:
        return root
    try:
        org = resolve_org(session, picked)
    except (NotFound, Invalid):
        raise NotFound(_("No org has the code {code}").format(code=picked)) from None
    if not is_within(org, root):
        raise NotFound(_("No org has the code {code}").format(code=picked))
    return org


def years_with_data(session: Session, scope: Org) -> list[int]:
    """Return the years that have projects or allocations in scope, latest first."""
    projects = project_scope(select(Project.year), scope, None)
    allocations = allocation_scope(select(Allocation.year), Org, scope, None)
    years = union(projects, allocations).subquery()
    statement = select(years.c.year).distinct().order_by(years.c.year.desc())
    return [int(year) for year in session.execute(statement).scalars()]


def selected_year(request: Request, session: Session, scope: Org) -> tuple[int, list[int]]:
    """Return the year asked for (?year=, default the latest with data) and the years to offer."""
    years = years_with_data(session, scope)
    raw = (request.query_params.get("year") or "").strip()
    default = years[0] if years else date.today().year
    year = parse_year(raw) if raw else default
    if year not in years:
        years = sorted([*years, year], reverse=True)
    return year, years


def year_in_view(request: Request, session: Session, scope: Org) -> str:
    """Return the year a new record's form starts with: the one the user is looking at.

    That is the year the page was asked for (?year=, as the dashboard's year filter passes it
    on), else the one the dashboard shows by default: the latest with data in scope.
    """
    raw = (request.query_params.get("year") or "").strip()
    if raw:
        return raw
    return str(selected_year(request, session, scope)[0])
