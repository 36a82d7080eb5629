"""Which part of the org tree a request may see, and which year it looks at.

Every page works inside a scope: one org's subtree. Until users exist the scope is the org
picked with ?org= (default: the demo district, else the first province) and anything may be
picked; `allowed_root` is where the next step binds the logged-in user's own org.
"""

from __future__ import annotations

from datetime import date

from litestar import Request
from sqlalchemy import select, union
from sqlmodel import Session

from cocon.demo import DEMO_ROOT
from cocon.errors import NotFound
from cocon.i18n import _
from cocon.models import Allocation, Level, Org, Project
from cocon.orgs import find_org, get_org, is_within, resolve_org
from cocon.projects import parse_year
from cocon.scope import allocation_scope, project_scope


def allowed_root(request: Request, session: Session) -> Org | None:
    """Return the subtree this request may see at all (None: the whole tree, until users exist)."""
    return None


def default_scope(session: Session, root: Org | None) -> Org:
    """Return the scope of a request that picks none: the demo district, else the first province."""
    demo = find_org(session, DEMO_ROOT)
    if root is not None:
        return demo if demo is not None and is_within(demo, root) else root
    if demo is not None:
        return demo
    first = session.exec(
        select(Org).where(Org.level == Level.PROVINCE).order_by(Org.code).limit(1)
    ).scalar_one_or_none()
    if first is None:
        raise NotFound(_("There are no orgs yet"))
    return first


def current_scope(request: Request, session: Session) -> Org:
    """Return the org whose subtree this request works in."""
    root = allowed_root(request, session)
    picked = (request.query_params.get("org") or "").strip()
    if not picked:
        return default_scope(session, root)
    org = resolve_org(session, picked)
    if not is_within(org, root):
        raise NotFound(_("No org has the code {code}").format(code=picked))
    return org


def org_in_scope(session: Session, code: str, scope: Org) -> Org:
    """Return the org with code if it lies in scope; outside it reads as not found."""
    org = get_org(session, code)
    if not is_within(org, scope):
        raise NotFound(_("No org has the code {code}").format(code=code.strip()))
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
