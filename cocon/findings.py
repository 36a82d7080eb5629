"""List every failing check in a subtree, with a message that says where the money went.

Which rows fail is decided once, in cocon.derived, and kept on the rows as failing_checks; this
module only reads the failing rows and words each finding.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.checks import BLOCK, DEFAULT, Finding, Policies, Rule
from cocon.db import in_list
from cocon.derived import dates_outside, has_gap, has_surplus, project_funded
from cocon.i18n import _
from cocon.models import Allocation, FundingLine, Org, Payment, Project
from cocon.money import format_yuan
from cocon.scope import project_scope, within


def allocation_findings(
    session: Session,
    root: Org | None,
    year: int | None,
    policies: Policies,
    allocation_ids: list[int] | None = None,
) -> list[Finding]:
    """Find allocations committed beyond their amount, and sub-allocations beyond their parent."""
    holder = aliased(Org)
    statement = (
        select(Allocation, holder.name)
        .join(holder, holder.id == Allocation.org_id)
        .where(Allocation.failing_checks > 0, within(holder, root))
        .order_by(Allocation.code)
    )
    if year is not None:
        statement = statement.where(Allocation.year == year)
    if allocation_ids is not None:
        statement = statement.where(Allocation.id.in_(allocation_ids))
    findings = []
    titled, over_parent, overcommitted = (
        title_template(),
        over_parent_template(),
        overcommitted_template(),
    )
    for allocation, org_name in session.execute(statement):
        title = titled.format(org=org_name, year=allocation.year, code=allocation.code)
        amount, subs = allocation.amount_fen, allocation.sub_allocated_fen
        committed = allocation.drawn_fen + subs
        if subs > amount:
            message = over_parent.format(
                title=title,
                amount=format_yuan(amount),
                subs=format_yuan(subs),
                count=allocation.sub_count,
                excess=format_yuan(subs - amount),
            )
            findings.append(
                _finding(
                    policies,
                    Rule.SUBALLOCATIONS_OVER_PARENT,
                    allocation.code,
                    allocation.org_id,
                    message,
                    subs - amount,
                )
            )
        if committed > amount:
            message = overcommitted.format(
                title=title,
                amount=format_yuan(amount),
                committed=format_yuan(committed),
                projects=allocation.draw_count,
                subs=allocation.sub_count,
                excess=format_yuan(committed - amount),
            )
            findings.append(
                _finding(
                    policies,
                    Rule.ALLOCATION_OVERCOMMITTED,
                    allocation.code,
                    allocation.org_id,
                    message,
                    committed - amount,
                )
            )
    return findings


# Each template is looked up once per listing, then formatted per row (by the export too).
def title_template() -> str:
    """Return the wording of an allocation's title."""
    return _("{org} {year} allocation {code}")


def over_parent_template() -> str:
    """Return the wording of sub-allocations beyond their parent."""
    return _("{title} {amount}: sub-allocations of {subs} ({count}) exceed it by {excess}")


def overcommitted_template() -> str:
    """Return the wording of an over-committed allocation."""
    return _(
        "{title} {amount}: {committed} committed ({projects} projects, {subs} sub-allocations), over by {excess}"
    )


def overpaid_template() -> str:
    """Return the wording of a funding line paid beyond what it draws."""
    return _("{project} from {allocation}: {paid} paid against {drawn} drawn, over by {excess}")


def gap_template() -> str:
    """Return the wording of a funding gap."""
    return _("{code}: funding {funded} leaves a gap of {gap} against the budget {budget}")


def surplus_template() -> str:
    """Return the wording of funding beyond the budget."""
    return _("{code}: funding {funded} exceeds the budget {budget} by {surplus}")


def outside_template() -> str:
    """Return the wording of dates outside the project year."""
    return _("{code}: the dates {dates} fall outside the project year {year}")


def _finding(
    policies: Policies, rule: Rule, subject: str, org_id: int, message: str, excess: int = 0
) -> Finding:
    return Finding(rule, policies.of(rule), subject, org_id, message, excess)


def project_findings(
    session: Session,
    root: Org | None,
    year: int | None,
    policies: Policies,
    project_ids: list[int] | None = None,
) -> list[Finding]:
    """Find projects whose funding misses their budget, whose dates leave their year, or overpaid lines."""
    statement = project_scope(
        select(Project).where(Project.failing_checks > 0), root, year
    ).order_by(Project.code)
    if project_ids is not None:
        statement = statement.where(Project.id.in_(project_ids))
    failing = list(session.execute(statement).scalars())
    return _project_messages(failing, _overpaid_lines([p.id for p in failing], session), policies)


# The project columns a finding is worded from.
_WORDED = (
    "id", "code", "owner_id", "status", "budget_fen", "year", "start_date", "end_date",
    *(f"drawn_l{level}_fen" for level in range(1, 6)), "partners_fen",
)  # fmt: skip


def touched_project_findings(
    session: Session, policies: Policies, project_ids: list[int], chunk: int = 500
) -> list[Finding]:
    """Return project_findings(session, None, None, policies, ids) for each chunk of the sorted
    ids in turn, from plain rows rather than ORM objects (what an import touched)."""
    session.flush()
    table = Project.__table__
    statement = select(*(table.c[name] for name in _WORDED)).where(table.c.failing_checks > 0)
    ids = sorted(project_ids)
    findings: list[Finding] = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        failing = (
            session.connection()
            .execute(statement.where(in_list(session, table.c.id, part)).order_by(table.c.code))
            .all()
        )
        overpaid = _overpaid_lines([row.id for row in failing], session)
        findings += _project_messages(failing, overpaid, policies)
    return findings


def count_project_findings(session: Session, project_ids: list[int]) -> int:
    """Count the findings touched_project_findings would word for these projects.

    Each failing check of a project (an overpaid line, a gap, a surplus, dates outside its
    year) is one finding, as its failing_checks counts them.
    """
    table = Project.__table__
    total = session.connection().execute(
        select(func.coalesce(func.sum(table.c.failing_checks), 0)).where(
            in_list(session, table.c.id, project_ids)
        )
    )
    return int(total.scalar_one())


def _project_messages(
    failing: list, overpaid: dict[int, list[tuple[str, int, int]]], policies: Policies
) -> list[Finding]:
    """Word the findings of failing projects (ORM objects or rows with the same names)."""
    findings = []
    overpaid_t, gap_t, surplus_t, outside_t = (
        overpaid_template(),
        gap_template(),
        surplus_template(),
        outside_template(),
    )
    for project in failing:
        funded = project_funded(project)
        budget = project.budget_fen
        for allocation_code, drawn, paid in overpaid.get(project.id, []):
            message = overpaid_t.format(
                project=project.code,
                allocation=allocation_code,
                paid=format_yuan(paid),
                drawn=format_yuan(drawn),
                excess=format_yuan(paid - drawn),
            )
            findings.append(
                _finding(
                    policies,
                    Rule.PAYMENT_OVER_DRAWN,
                    project.code,
                    project.owner_id,
                    message,
                    paid - drawn,
                )
            )
        if has_gap(project.status, budget, funded):
            message = gap_t.format(
                code=project.code,
                funded=format_yuan(funded),
                gap=format_yuan(budget - funded),
                budget=format_yuan(budget),
            )
            findings.append(
                _finding(
                    policies,
                    Rule.FUNDING_VS_BUDGET,
                    project.code,
                    project.owner_id,
                    message,
                    budget - funded,
                )
            )
        if has_surplus(project.status, budget, funded):
            message = surplus_t.format(
                code=project.code,
                funded=format_yuan(funded),
                budget=format_yuan(budget),
                surplus=format_yuan(funded - budget),
            )
            findings.append(
                _finding(
                    policies,
                    Rule.FUNDING_VS_BUDGET,
                    project.code,
                    project.owner_id,
                    message,
                    funded - budget,
                )
            )
        outside = dates_outside(project.year, project.start_date, project.end_date)
        if outside:
            message = outside_t.format(
                code=project.code,
                dates=", ".join(d.isoformat() for d in outside),
                year=project.year,
            )
            findings.append(
                _finding(policies, Rule.DATES_OUTSIDE_YEAR, project.code, project.owner_id, message)
            )
    return findings


def _overpaid_lines(
    project_ids: list[int], session: Session
) -> dict[int, list[tuple[str, int, int]]]:
    result: dict[int, list[tuple[str, int, int]]] = {}
    for start in range(0, len(project_ids), 500):
        chunk = project_ids[start : start + 500]
        paid, drawn = func.sum(Payment.counted_fen()), FundingLine.counted_fen()
        statement = (
            select(FundingLine.project_id, Allocation.code, drawn, paid)
            .select_from(FundingLine)
            .join(Payment, Payment.funding_line_id == FundingLine.id)
            .join(Allocation, Allocation.id == FundingLine.allocation_id)
            .where(FundingLine.project_id.in_(chunk))
            .group_by(
                FundingLine.project_id,
                Allocation.code,
                FundingLine.amount_fen,
                FundingLine.reversed_at,
            )
            .having(paid > drawn)
            .order_by(Allocation.code)
        )
        for project_id, code, drawn, total in session.execute(statement):
            result.setdefault(project_id, []).append((code, int(drawn), int(total)))
    return result


def failing_rows(
    session: Session, root: Org | None = None, year: int | None = None, policies: Policies = DEFAULT
) -> list[Finding]:
    """Return every failing check in root's subtree (all orgs without one), blocking ones first."""
    findings = allocation_findings(session, root, year, policies) + project_findings(
        session, root, year, policies
    )
    return sorted(findings, key=lambda f: (f.severity != BLOCK, f.rule.value, f.subject))
