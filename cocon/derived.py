"""Keep the figures derived from funding lines, contributions and payments on their project and
allocation rows, so rollups and checks read one row instead of joining millions.

Every write that touches money calls refresh_project / refresh_allocation in its transaction;
recompute_all rebuilds everything after a bulk load.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, extract, func, select, text, update
from sqlmodel import Session

from cocon.models import Allocation, Contribution, FundingLine, Org, Payment, Project, Status

# A gap is a problem once a project is approved; a surplus always is, unless it was cancelled.
GAP_STATUSES = (Status.APPROVED.value, Status.IN_PROGRESS.value, Status.COMPLETED.value)


def has_gap(status: str, budget: int, funded: int) -> bool:
    """Tell whether an approved project lacks funding for its budget."""
    return status in GAP_STATUSES and funded < budget


def has_surplus(status: str, budget: int, funded: int) -> bool:
    """Tell whether a live project is funded beyond its budget."""
    return status != Status.CANCELLED.value and funded > budget


def dates_outside(year: int, start: date | None, end: date | None) -> list[date]:
    """Return the project dates that fall outside its year."""
    return [d for d in (start, end) if d is not None and d.year != year]


def project_failures(project: Project, funded: int, overpaid_lines: int) -> int:
    """Count the failing checks of one project."""
    count = overpaid_lines
    count += has_gap(project.status, project.budget_fen, funded)
    count += has_surplus(project.status, project.budget_fen, funded)
    count += bool(dates_outside(project.year, project.start_date, project.end_date))
    return count


def allocation_failures(amount: int, drawn: int, sub_allocated: int) -> int:
    """Count the failing checks of one allocation."""
    return int(drawn + sub_allocated > amount) + int(sub_allocated > amount)


def refresh_project(session: Session, project_id: int) -> None:
    """Recompute a project's funding by level, partner money, paid and failing checks."""
    session.flush()
    project = session.get(Project, project_id)
    by_level = dict(
        session.execute(
            select(Org.level, func.sum(FundingLine.amount_fen))
            .select_from(FundingLine)
            .join(Allocation, Allocation.id == FundingLine.allocation_id)
            .join(Org, Org.id == Allocation.org_id)
            .where(FundingLine.project_id == project_id)
            .group_by(Org.level)
        ).all()
    )
    partners = session.execute(
        select(func.coalesce(func.sum(Contribution.amount_fen), 0)).where(
            Contribution.project_id == project_id
        )
    ).scalar_one()
    paid_by_line = (
        select(FundingLine.amount_fen, func.coalesce(func.sum(Payment.amount_fen), 0))
        .select_from(FundingLine)
        .outerjoin(Payment, Payment.funding_line_id == FundingLine.id)
        .where(FundingLine.project_id == project_id)
        .group_by(FundingLine.id, FundingLine.amount_fen)
    )
    lines = session.execute(paid_by_line).all()
    for level in range(1, 6):
        setattr(project, f"drawn_l{level}_fen", int(by_level.get(level, 0)))
    project.partners_fen = int(partners)
    project.paid_fen = sum(int(paid) for _drawn, paid in lines)
    funded = sum(int(v) for v in by_level.values()) + int(partners)
    overpaid = sum(1 for drawn, paid in lines if paid > drawn)
    project.failing_checks = project_failures(project, funded, overpaid)
    session.add(project)
    session.flush()


def project_funded(project: Project) -> int:
    """Return a project's funding from every level and its partners."""
    return (
        project.drawn_l1_fen
        + project.drawn_l2_fen
        + project.drawn_l3_fen
        + project.drawn_l4_fen
        + project.drawn_l5_fen
        + project.partners_fen
    )


def refresh_allocation(session: Session, allocation_id: int) -> None:
    """Recompute what is drawn on and passed down from an allocation, and its failing checks."""
    session.flush()
    allocation = session.get(Allocation, allocation_id)
    drawn, draws = session.execute(
        select(func.coalesce(func.sum(FundingLine.amount_fen), 0), func.count()).where(
            FundingLine.allocation_id == allocation_id
        )
    ).one()
    subs, sub_count = session.execute(
        select(func.coalesce(func.sum(Allocation.amount_fen), 0), func.count()).where(
            Allocation.parent_id == allocation_id
        )
    ).one()
    allocation.drawn_fen, allocation.draw_count = int(drawn), int(draws)
    allocation.sub_allocated_fen, allocation.sub_count = int(subs), int(sub_count)
    allocation.failing_checks = allocation_failures(allocation.amount_fen, int(drawn), int(subs))
    session.add(allocation)
    session.flush()


def refresh_projects_drawing_on(session: Session, allocation_id: int) -> None:
    """Refresh every project that draws on an allocation (after its org or level changed)."""
    ids = session.execute(
        select(FundingLine.project_id).where(FundingLine.allocation_id == allocation_id)
    ).scalars()
    for project_id in list(ids):
        refresh_project(session, project_id)


_RECOMPUTE = [
    # Allocations: drawn and passed down.
    """UPDATE allocation SET
        drawn_fen = COALESCE((SELECT SUM(amount_fen) FROM funding_line f WHERE f.allocation_id = allocation.id), 0),
        draw_count = (SELECT COUNT(*) FROM funding_line f WHERE f.allocation_id = allocation.id),
        sub_allocated_fen = COALESCE((SELECT SUM(amount_fen) FROM allocation c WHERE c.parent_id = allocation.id), 0),
        sub_count = (SELECT COUNT(*) FROM allocation c WHERE c.parent_id = allocation.id)""",
    """UPDATE allocation SET failing_checks =
        (CASE WHEN drawn_fen + sub_allocated_fen > amount_fen THEN 1 ELSE 0 END)
        + (CASE WHEN sub_allocated_fen > amount_fen THEN 1 ELSE 0 END)""",
    # Projects: funding by the level of the allocation's org, partners, paid.
    *[
        f"""UPDATE project SET drawn_l{level}_fen = COALESCE((SELECT SUM(f.amount_fen) FROM funding_line f
            JOIN allocation a ON a.id = f.allocation_id JOIN org o ON o.id = a.org_id
            WHERE f.project_id = project.id AND o.level = {level}), 0)"""
        for level in range(1, 6)
    ],
    """UPDATE project SET
        partners_fen = COALESCE((SELECT SUM(amount_fen) FROM contribution c WHERE c.project_id = project.id), 0),
        paid_fen = COALESCE((SELECT SUM(p.amount_fen) FROM payment p JOIN funding_line f ON f.id = p.funding_line_id
                             WHERE f.project_id = project.id), 0)""",
]


def recompute_all(connection: Connection) -> None:
    """Rebuild every derived figure from the source rows (after a bulk load)."""
    for statement in _RECOMPUTE:
        connection.execute(text(statement))
    funded = (
        "(drawn_l1_fen + drawn_l2_fen + drawn_l3_fen + drawn_l4_fen + drawn_l5_fen + partners_fen)"
    )
    gap_statuses = ", ".join(f"'{s}'" for s in GAP_STATUSES)
    overpaid = """(SELECT COUNT(*) FROM funding_line f WHERE f.project_id = project.id AND f.amount_fen <
        (SELECT COALESCE(SUM(p.amount_fen), 0) FROM payment p WHERE p.funding_line_id = f.id))"""
    connection.execute(
        text(
            f"""UPDATE project SET failing_checks =
            (CASE WHEN status IN ({gap_statuses}) AND {funded} < budget_fen THEN 1 ELSE 0 END)
            + (CASE WHEN status <> 'cancelled' AND {funded} > budget_fen THEN 1 ELSE 0 END)
            + {overpaid}"""
        )
    )
    _recompute_dates(connection)


def _recompute_dates(connection: Connection) -> None:
    # Date arithmetic differs between SQLite and PostgreSQL; compare year numbers via EXTRACT.
    start_year = extract("year", Project.start_date)
    end_year = extract("year", Project.end_date)
    outside = ((Project.start_date.is_not(None)) & (start_year != Project.year)) | (
        (Project.end_date.is_not(None)) & (end_year != Project.year)
    )
    connection.execute(
        update(Project).where(outside).values(failing_checks=Project.failing_checks + 1)
    )
