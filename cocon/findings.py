"""Find every failing check in a subtree with a fixed number of queries."""

from __future__ import annotations

from sqlalchemy import and_, extract, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.checks import DEFAULT, Finding, Policies, Rule
from cocon.i18n import _
from cocon.models import Allocation, Contribution, FundingLine, Org, Payment, Project, Status
from cocon.money import format_yuan
from cocon.rollup import GAP_STATUSES
from cocon.scope import project_scope, within


def _sum_by(column, amount, *where):
    statement = select(
        column.label("key"), func.sum(amount).label("total"), func.count().label("n")
    )
    for condition in where:
        statement = statement.where(condition)
    return statement.group_by(column).subquery()


def allocation_findings(
    session: Session, root: Org | None, year: int | None, policies: Policies
) -> list[Finding]:
    """Find allocations committed beyond their amount, and sub-allocations beyond their parent."""
    drawn = _sum_by(FundingLine.allocation_id, FundingLine.amount_fen)
    child = aliased(Allocation)
    subs = select(
        child.parent_id.label("key"),
        func.sum(child.amount_fen).label("total"),
        func.count().label("n"),
    )
    subs = subs.where(child.parent_id.is_not(None)).group_by(child.parent_id).subquery()
    owner = aliased(Org)
    statement = (
        select(
            Allocation.code,
            Allocation.org_id,
            Allocation.year,
            Allocation.amount_fen,
            owner.name,
            func.coalesce(drawn.c.total, 0),
            func.coalesce(drawn.c.n, 0),
            func.coalesce(subs.c.total, 0),
            func.coalesce(subs.c.n, 0),
        )
        .join(owner, owner.id == Allocation.org_id)
        .outerjoin(drawn, drawn.c.key == Allocation.id)
        .outerjoin(subs, subs.c.key == Allocation.id)
        .where(
            or_(
                func.coalesce(drawn.c.total, 0) + func.coalesce(subs.c.total, 0)
                > Allocation.amount_fen,
            )
        )
        .order_by(Allocation.code)
    )
    statement = statement.where(within(owner, root))
    if year is not None:
        statement = statement.where(Allocation.year == year)
    findings = []
    for (
        code,
        org_id,
        alloc_year,
        amount,
        org_name,
        drawn_fen,
        lines,
        subs_fen,
        sub_count,
    ) in session.execute(statement):
        title = _("{org} {year} allocation {code}").format(org=org_name, year=alloc_year, code=code)
        committed = int(drawn_fen) + int(subs_fen)
        if subs_fen > amount:
            findings.append(
                Finding(
                    Rule.SUBALLOCATIONS_OVER_PARENT,
                    policies.of(Rule.SUBALLOCATIONS_OVER_PARENT),
                    code,
                    org_id,
                    _(
                        "{title} {amount}: sub-allocations of {subs} ({count}) exceed it by {excess}"
                    ).format(
                        title=title,
                        amount=format_yuan(amount),
                        subs=format_yuan(subs_fen),
                        count=sub_count,
                        excess=format_yuan(subs_fen - amount),
                    ),
                    int(subs_fen) - amount,
                )
            )
        findings.append(
            Finding(
                Rule.ALLOCATION_OVERCOMMITTED,
                policies.of(Rule.ALLOCATION_OVERCOMMITTED),
                code,
                org_id,
                _(
                    "{title} {amount}: {committed} committed ({projects} projects, {subs} sub-allocations), over by {excess}"
                ).format(
                    title=title,
                    amount=format_yuan(amount),
                    committed=format_yuan(committed),
                    projects=lines,
                    subs=sub_count,
                    excess=format_yuan(committed - amount),
                ),
                committed - amount,
            )
        )
    return findings


def payment_findings(
    session: Session, root: Org | None, year: int | None, policies: Policies
) -> list[Finding]:
    """Find funding lines paid beyond what was drawn."""
    paid = _sum_by(Payment.funding_line_id, Payment.amount_fen)
    statement = project_scope(
        select(
            Project.code, Project.owner_id, Allocation.code, FundingLine.amount_fen, paid.c.total
        )
        .select_from(FundingLine)
        .join(paid, paid.c.key == FundingLine.id)
        .join(Project, Project.id == FundingLine.project_id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .where(paid.c.total > FundingLine.amount_fen)
        .order_by(Project.code, Allocation.code),
        root,
        year,
    )
    return [
        Finding(
            Rule.PAYMENT_OVER_DRAWN,
            policies.of(Rule.PAYMENT_OVER_DRAWN),
            project_code,
            owner_id,
            _(
                "{project} from {allocation}: {paid} paid against {drawn} drawn, over by {excess}"
            ).format(
                project=project_code,
                allocation=allocation_code,
                paid=format_yuan(int(total)),
                drawn=format_yuan(amount),
                excess=format_yuan(int(total) - amount),
            ),
            int(total) - amount,
        )
        for project_code, owner_id, allocation_code, amount, total in session.execute(statement)
    ]


def project_findings(
    session: Session,
    root: Org | None,
    year: int | None,
    policies: Policies,
    project_id: int | None = None,
) -> list[Finding]:
    """Find projects whose funding misses their budget, or whose dates leave their year."""
    lines = _sum_by(FundingLine.project_id, FundingLine.amount_fen)
    given = _sum_by(Contribution.project_id, Contribution.amount_fen)
    funded = func.coalesce(lines.c.total, 0) + func.coalesce(given.c.total, 0)
    gap = and_(Project.status.in_(GAP_STATUSES), funded < Project.budget_fen)
    surplus = and_(Project.status != Status.CANCELLED.value, funded > Project.budget_fen)
    start_outside = extract("year", Project.start_date) != Project.year
    end_outside = extract("year", Project.end_date) != Project.year
    statement = project_scope(
        select(
            Project.code,
            Project.owner_id,
            Project.year,
            Project.budget_fen,
            funded,
            gap,
            surplus,
            Project.start_date,
            Project.end_date,
        )
        .outerjoin(lines, lines.c.key == Project.id)
        .outerjoin(given, given.c.key == Project.id)
        .where(or_(gap, surplus, start_outside, end_outside))
        .order_by(Project.code),
        root,
        year,
    )
    if project_id is not None:
        statement = statement.where(Project.id == project_id)
    findings = []
    for (
        code,
        owner_id,
        project_year,
        budget,
        funded_fen,
        is_gap,
        is_surplus,
        start,
        end,
    ) in session.execute(statement):
        funded_fen = int(funded_fen)
        if is_gap:
            message = _(
                "{code}: funding {funded} leaves a gap of {gap} against the budget {budget}"
            ).format(
                code=code,
                funded=format_yuan(funded_fen),
                gap=format_yuan(budget - funded_fen),
                budget=format_yuan(budget),
            )
            findings.append(
                Finding(
                    Rule.FUNDING_VS_BUDGET,
                    policies.of(Rule.FUNDING_VS_BUDGET),
                    code,
                    owner_id,
                    message,
                    budget - funded_fen,
                )
            )
        if is_surplus:
            message = _("{code}: funding {funded} exceeds the budget {budget} by {surplus}").format(
                code=code,
                funded=format_yuan(funded_fen),
                budget=format_yuan(budget),
                surplus=format_yuan(funded_fen - budget),
            )
            findings.append(
                Finding(
                    Rule.FUNDING_VS_BUDGET,
                    policies.of(Rule.FUNDING_VS_BUDGET),
                    code,
                    owner_id,
                    message,
                    funded_fen - budget,
                )
            )
        outside = [d for d in (start, end) if d is not None and d.year != project_year]
        if outside:
            message = _("{code}: the dates {dates} fall outside the project year {year}").format(
                code=code, dates=", ".join(d.isoformat() for d in outside), year=project_year
            )
            findings.append(
                Finding(
                    Rule.DATES_OUTSIDE_YEAR,
                    policies.of(Rule.DATES_OUTSIDE_YEAR),
                    code,
                    owner_id,
                    message,
                )
            )
    return findings


def failing_rows(
    session: Session, root: Org | None = None, year: int | None = None, policies: Policies = DEFAULT
) -> list[Finding]:
    """Return every failing check in root's subtree (all orgs without one), blocking ones first."""
    findings = (
        allocation_findings(session, root, year, policies)
        + payment_findings(session, root, year, policies)
        + project_findings(session, root, year, policies)
    )
    return sorted(findings, key=lambda f: (f.severity != "block", f.rule.value, f.subject))
