"""Reads the pages need beyond the core's listings, each restricted to a scope and year."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.models import Allocation, CommunityProfile, Org, Project
from cocon.profiles import Qualification, qualify
from cocon.scope import allocation_scope, project_scope, within


def count_projects(session: Session, scope: Org, year: int | None) -> int:
    """Count the projects owned in scope in year."""
    statement = project_scope(select(func.count(Project.id)), scope, year)
    return int(session.execute(statement).scalar_one())


def count_allocations(session: Session, scope: Org, year: int | None) -> int:
    """Count the allocations held in scope in year."""
    statement = allocation_scope(select(func.count(Allocation.id)), Org, scope, year)
    return int(session.execute(statement).scalar_one())


def recent_projects(
    session: Session, scope: Org, year: int | None, limit: int = 10
) -> list[tuple[Project, Org, Org]]:
    """Return the latest projects owned in scope (by start date, then newest entered)."""
    owner, site = aliased(Org), aliased(Org)
    statement = (
        select(Project, owner, site)
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .where(within(owner, scope))
        .order_by(Project.start_date.desc().nulls_last(), Project.id.desc())
        .limit(limit)
    )
    if year is not None:
        statement = statement.where(Project.year == year)
    return [tuple(row) for row in session.execute(statement)]


@dataclass(frozen=True)
class LargeUnit:
    """A community of scope with its profile and whether it meets the standard."""

    org: Org
    street: Org | None
    profile: CommunityProfile
    qualification: Qualification


def large_units(
    session: Session, scope: Org, threshold: Decimal, *, qualifying_only: bool = True
) -> list[LargeUnit]:
    """Return the communities in scope with a profile, those that qualify by default."""
    street = aliased(Org)
    statement = (
        select(CommunityProfile, Org, street)
        .join(Org, Org.id == CommunityProfile.org_id)
        .outerjoin(street, street.id == Org.parent_id)
        .where(within(Org, scope))
        .order_by(Org.code)
    )
    units = []
    for profile, org, parent in session.execute(statement):
        qualification = qualify(profile, threshold)
        if qualification.qualifies or not qualifying_only:
            units.append(LargeUnit(org, parent, profile, qualification))
    return units
