"""Reads the pages need beyond the core's listings, each restricted to a scope and year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.checks import Policies
from cocon.findings import first_failing_rows
from cocon.models import (
    Allocation,
    CommunityProfile,
    Contribution,
    FundingLine,
    Org,
    Partner,
    Payment,
    Project,
    StatusChange,
)
from cocon.profiles import Qualification, qualify
from cocon.review import entry_step
from cocon.rules import overpaid
from cocon.scope import (
    allocation_scope,
    org_alias,
    org_within,
    project_scope,
    scope_params,
    within,
    within_scope,
)

# Failing checks worded on a page; the count and the export's Checks sheet give them all.
FINDINGS_SHOWN = 50


def findings_context(session: Session, org: Org, year: int | None, policies: Policies) -> dict:
    """Return the first failing checks of org's subtree in year and how many fail in all."""
    findings, count = first_failing_rows(session, org, year, policies, FINDINGS_SHOWN)
    return {"findings": findings, "finding_count": count}


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
) -> tuple[list[tuple[Project, Org, Org]], dict[int, datetime]]:
    """Return the projects owned in scope entered last, and when each was entered (UTC).

    A project just entered comes first, whatever its start date.
    """
    params = {**scope_params(scope), "year": year, "limit": limit}
    rows, moments = [], {}
    for project, owner_org, site_org, moment in session.execute(
        _recent_statement(year is not None), params
    ):
        rows.append((project, owner_org, site_org))
        if moment is not None:
            moments[project.id] = moment
    return rows, moments


@cache
def _recent_statement(yearly: bool) -> Select:
    # Built once, run with the scope, year and limit: the dashboard shows it on every build.
    owner, site = org_alias("owner"), org_alias("site")
    entered = aliased(StatusChange)
    statement = (
        select(Project, owner, site, entered.changed_at)
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .outerjoin(entered, and_(entered.project_id == Project.id, entry_step(entered)))
        .where(within_scope(owner))
        .order_by(entered.changed_at.desc().nulls_last(), Project.id.desc())
        .limit(bindparam("limit"))
    )
    return statement.where(Project.year == bindparam("year")) if yearly else statement


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
    street = org_alias("street")
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


# --- Projects list, project detail and partner pages -------------------------------------

@dataclass(frozen=True)
class LineRow:
    """A funding line of a project with the allocation it draws on, its holder and what is paid."""

    line: FundingLine
    allocation: Allocation
    holder: Org
    paid: int
    # The org that put the money up: the holder of the root of the allocation's chain.
    origin: Org

    @property
    def left_to_pay(self) -> int:
        """Return what is drawn and not yet paid (below zero when paid beyond it)."""
        return -overpaid(self.line.amount_fen, self.paid)


def funding_lines(session: Session, project: Project) -> list[LineRow]:
    """Return a project's funding lines, from the highest level down, with the paid amounts."""
    # Only this project's payments: summing every payment first took most of a second on the
    # national data, on every payment form and funding page.
    own_line = aliased(FundingLine)
    paid = (
        select(Payment.funding_line_id.label("key"), func.sum(Payment.counted_fen()).label("total"))
        .join(own_line, own_line.id == Payment.funding_line_id)
        .where(own_line.project_id == project.id)
        .group_by(Payment.funding_line_id)
        .subquery()
    )
    root, origin = aliased(Allocation), aliased(Org)
    statement = (
        select(FundingLine, Allocation, Org, func.coalesce(paid.c.total, 0), origin)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .join(Org, Org.id == Allocation.org_id)
        .join(root, root.id == func.coalesce(Allocation.origin_id, Allocation.id))
        .join(origin, origin.id == root.org_id)
        .outerjoin(paid, paid.c.key == FundingLine.id)
        .where(FundingLine.project_id == project.id)
        .order_by(origin.level, Org.level, Allocation.code)
    )
    return [
        LineRow(line, alloc, org, int(p), source)
        for line, alloc, org, p, source in session.execute(statement)
    ]


def orgs_in_scope(
    session: Session, scope: Org, *, level: int | None = None, limit: int = 1000
) -> list[Org]:
    """Return up to limit orgs of scope's subtree (of one level if given) in tree order."""
    statement = select(Org).where(org_within(scope)).order_by(Org.path).limit(limit)
    if level is not None:
        statement = statement.where(Org.level == level)
    return list(session.exec(statement).scalars())


def partner_contributions(
    session: Session, partner: Partner, scope: Org
) -> list[tuple[Contribution, Project, Org, Org]]:
    """Return what a partner put into projects owned in scope, latest year first."""
    owner, site = org_alias("owner"), org_alias("site")
    statement = (
        select(Contribution, Project, owner, site)
        .join(Project, Project.id == Contribution.project_id)
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .where(Contribution.partner_id == partner.id, within(owner, scope))
        .order_by(Project.year.desc(), Project.code, Contribution.kind)
    )
    return [tuple(row) for row in session.execute(statement)]


def partner_figures(session: Session, scope: Org, partner_ids: list[int]) -> dict[int, tuple]:
    """Return (projects, amount) each partner contributed to projects owned in scope."""
    if not partner_ids:
        return {}
    owner = org_alias("owner")
    statement = (
        select(
            Contribution.partner_id,
            func.count(func.distinct(Contribution.project_id)),
            func.sum(Contribution.amount_fen),
        )
        .join(Project, Project.id == Contribution.project_id)
        .join(owner, owner.id == Project.owner_id)
        .where(Contribution.partner_id.in_(partner_ids), within(owner, scope))
        .group_by(Contribution.partner_id)
    )
    return {pid: (int(n), int(total)) for pid, n, total in session.execute(statement)}


def count_partners_matching(session: Session, text: str) -> int:
    """Count the partners whose name or credit code contains text (all without text)."""
    statement = select(func.count(Partner.id))
    if text:
        statement = statement.where(
            or_(
                Partner.name.contains(text, autoescape=True),
                Partner.credit_code.contains(text.upper(), autoescape=True),
            )
        )
    return int(session.execute(statement).scalar_one())
