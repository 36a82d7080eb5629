"""Keep the figures derived from funding lines, contributions and payments on their project and
allocation rows, so rollups and checks read one row instead of joining millions.

Every write that touches money calls refresh_project / refresh_allocation in its transaction;
recompute_all rebuilds everything after a bulk load. Each org's own project figures per year sit
in org_figures, which triggers on project keep (migration 0003); rebuild_org_figures refills it.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from cocon.db import in_list, update_rows
from cocon.models import (
    Allocation,
    Contribution,
    FundingLine,
    Org,
    OrgFigures,
    Payment,
    Project,
    Status,
)
from cocon.rules import allocation_failures, is_overpaid, project_failures

# Ids go to the database as one parameter (cocon.db.in_list), so a chunk can be large.
CHUNK = 5000
STATUS_VALUES = tuple(status.value for status in Status)
# Project columns that org_figures sums per (year, owner) under the same names.
FIGURE_SUMS = (
    "budget_fen",
    *(f"drawn_l{level}_fen" for level in range(1, 6)),
    "partners_fen",
    "paid_fen",
    "failing_checks",
    *(f"holder_l{level}_fen" for level in range(1, 6)),
)
_figures_table = OrgFigures.__table__
_project_table = Project.__table__
_allocation_table = Allocation.__table__
_UPDATE_ALLOCATION = (
    update(_allocation_table)
    .where(_allocation_table.c.id == bindparam("aid"))
    .values(
        drawn_fen=bindparam("drawn"),
        draw_count=bindparam("draws"),
        sub_allocated_fen=bindparam("subs"),
        sub_count=bindparam("sub_count"),
        failing_checks=bindparam("failing"),
    )
)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def refresh_projects(session: Session, ids: Iterable[int]) -> None:
    """Recompute the funding by origin and holder level, partner money, paid and failing checks
    of projects."""
    ids = list(ids)
    if _defer(session, "projects", ids):
        return
    session.flush()
    connection = session.connection()
    root, holder = aliased(Allocation), aliased(Org)
    for chunk in _chunks(ids):
        by_level: dict[int, dict[int, int]] = defaultdict(dict)
        by_holder: dict[int, dict[int, int]] = defaultdict(dict)
        for project_id, level, holder_level, amount in connection.execute(
            select(
                FundingLine.project_id, Org.level, holder.level, func.sum(FundingLine.counted_fen())
            )
            .select_from(FundingLine)
            .join(Allocation, Allocation.id == FundingLine.allocation_id)
            .join(holder, holder.id == Allocation.org_id)
            # An origin not set yet (rows loaded raw, before recompute_all) counts as the holder.
            .join(root, root.id == func.coalesce(Allocation.origin_id, Allocation.id))
            .join(Org, Org.id == root.org_id)
            .where(in_list(connection, FundingLine.project_id, chunk))
            .group_by(FundingLine.project_id, Org.level, holder.level)
        ):
            origin = by_level[project_id]
            origin[level] = origin.get(level, 0) + int(amount)
            held = by_holder[project_id]
            held[holder_level] = held.get(holder_level, 0) + int(amount)
        partners = {
            project_id: int(amount)
            for project_id, amount in connection.execute(
                select(Contribution.project_id, func.sum(Contribution.amount_fen))
                .where(in_list(connection, Contribution.project_id, chunk))
                .group_by(Contribution.project_id)
            )
        }
        lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for project_id, drawn, paid in connection.execute(
            select(
                FundingLine.project_id,
                FundingLine.counted_fen(),
                func.coalesce(func.sum(Payment.counted_fen()), 0),
            )
            .select_from(FundingLine)
            .outerjoin(Payment, Payment.funding_line_id == FundingLine.id)
            .where(in_list(connection, FundingLine.project_id, chunk))
            .group_by(
                FundingLine.id,
                FundingLine.project_id,
                FundingLine.amount_fen,
                FundingLine.reversed_at,
            )
        ):
            lines[project_id].append((int(drawn), int(paid)))
        updates = []
        for project_id, status, budget, year, start, end in connection.execute(
            select(
                Project.id,
                Project.status,
                Project.budget_fen,
                Project.year,
                Project.start_date,
                Project.end_date,
            ).where(in_list(connection, Project.id, chunk))
        ):
            levels = by_level.get(project_id, {})
            given = partners.get(project_id, 0)
            funded = sum(levels.values()) + given
            overpaid = sum(1 for drawn, paid in lines.get(project_id, ()) if is_overpaid(drawn, paid))
            updates.append(
                {
                    "id": project_id,
                    **{f"drawn_l{level}_fen": levels.get(level, 0) for level in range(1, 6)},
                    **{
                        f"holder_l{level}_fen": by_holder[project_id].get(level, 0)
                        for level in range(1, 6)
                    },
                    "partners_fen": given,
                    "paid_fen": sum(paid for _drawn, paid in lines.get(project_id, ())),
                    "failing_checks": project_failures(
                        status, budget, year, start, end, funded, overpaid
                    ),
                }
            )
        update_rows(connection, _project_table, updates)
    _expire(session, Project, ids)


def refresh_project(session: Session, project_id: int) -> None:
    """Recompute the derived figures of one project."""
    refresh_projects(session, [project_id])


def refresh_allocations(session: Session, ids: Iterable[int]) -> None:
    """Recompute what is drawn on and passed down from allocations, and their failing checks."""
    ids = list(ids)
    if _defer(session, "allocations", ids):
        return
    session.flush()
    connection = session.connection()
    child = aliased(Allocation)
    for chunk in _chunks(ids):
        drawn = dict(
            (allocation_id, (int(total), int(count)))
            for allocation_id, total, count in connection.execute(
                select(
                    FundingLine.allocation_id, func.sum(FundingLine.counted_fen()), func.count()
                )
                .where(
                    in_list(connection, FundingLine.allocation_id, chunk), FundingLine.counting()
                )
                .group_by(FundingLine.allocation_id)
            )
        )
        subs = dict(
            (parent_id, (int(total), int(count)))
            for parent_id, total, count in connection.execute(
                select(child.parent_id, func.sum(child.amount_fen), func.count())
                .where(in_list(connection, child.parent_id, chunk))
                .group_by(child.parent_id)
            )
        )
        updates = []
        for allocation_id, amount in connection.execute(
            select(Allocation.id, Allocation.amount_fen).where(
                in_list(connection, Allocation.id, chunk)
            )
        ):
            drawn_fen, draws = drawn.get(allocation_id, (0, 0))
            sub_fen, sub_count = subs.get(allocation_id, (0, 0))
            updates.append(
                {
                    "aid": allocation_id,
                    "drawn": drawn_fen,
                    "draws": draws,
                    "subs": sub_fen,
                    "sub_count": sub_count,
                    "failing": allocation_failures(amount, drawn_fen, sub_fen),
                }
            )
        if updates:
            connection.execute(_UPDATE_ALLOCATION, updates)
    _expire(session, Allocation, ids)


def refresh_allocation(session: Session, allocation_id: int) -> None:
    """Recompute the derived figures of one allocation."""
    refresh_allocations(session, [allocation_id])


def _expire(session: Session, model, ids: Iterable[int]) -> None:
    # The rows changed under the ORM: make loaded instances read them again.
    for row_id in set(ids):
        instance = session.identity_map.get(identity_key(model, row_id))
        if instance is not None:
            session.expire(instance)


class IdLog:
    """Ids gathered over a long transaction, packed 8 bytes each; read back sorted, once each."""

    def __init__(self) -> None:
        self._ids = array("q")

    def update(self, ids: Iterable[int]) -> None:
        """Add ids (repeats are fine)."""
        self._ids.extend(ids)

    def chunks(self, size: int, *others: IdLog) -> Iterator[list[int]]:
        """Yield the distinct ids (of this log and others) in ascending order, size at a time."""
        logs = [log._ids for log in (self, *others) if log._ids]
        if not logs:
            return
        import numpy as np  # only bulk loads gather ids: a save or a check needs no numpy

        distinct = np.unique(np.concatenate([np.frombuffer(ids, dtype=np.int64) for ids in logs]))
        for start in range(0, len(distinct), size):
            yield distinct[start : start + size].tolist()


def note_checked_projects(session: Session, ids: Iterable[int]) -> None:
    """Count projects whose figures are already right among what a deferred block touched."""
    _defer(session, "checked_projects", ids)


def _defer(session: Session, kind: str, ids: Iterable[int]) -> bool:
    pending = session.info.get(_DEFERRED)
    if pending is None:
        return False
    pending[kind].update(ids)
    return True


_DEFERRED = "cocon_deferred_refresh"


@contextmanager
def deferred_refresh(session: Session) -> Iterator[dict[str, IdLog]]:
    """Collect the refreshes asked for inside the block and run them once, set-based, at its end.

    Yields the ids collected so far ("projects", "allocations" to refresh; "checked_projects"
    already right): what the block touched.
    """
    if _DEFERRED in session.info:
        yield session.info[_DEFERRED]
        return
    pending = {"projects": IdLog(), "allocations": IdLog(), "checked_projects": IdLog()}
    session.info[_DEFERRED] = pending
    try:
        yield pending
    finally:
        del session.info[_DEFERRED]
    for chunk in pending["allocations"].chunks(CHUNK):
        refresh_allocations(session, chunk)
    for chunk in pending["projects"].chunks(CHUNK):
        refresh_projects(session, chunk)


def refresh_projects_drawing_on(session: Session, allocation_ids: int | Iterable[int]) -> None:
    """Refresh every project that draws on allocations (after their org, level or origin changed)."""
    wanted = [allocation_ids] if isinstance(allocation_ids, int) else list(allocation_ids)
    connection = session.connection()
    ids: set[int] = set()
    for chunk in _chunks(wanted):
        ids.update(
            connection.execute(
                select(FundingLine.project_id).where(
                    in_list(connection, FundingLine.allocation_id, chunk)
                )
            ).scalars()
        )
    refresh_projects(session, ids)


def set_origins(session: Session, allocation_id: int) -> list[int]:
    """Set the origin of an allocation and of every allocation passed down from it.

    Returns the ids of that tree, the allocation first, whose projects draw on what it put up.
    """
    session.flush()
    connection = session.connection()
    table = _allocation_table.c
    parent_id = connection.execute(
        select(table.parent_id).where(table.id == allocation_id)
    ).scalar_one()
    origin = allocation_id
    if parent_id is not None:
        origin = connection.execute(
            select(func.coalesce(table.origin_id, table.id)).where(table.id == parent_id)
        ).scalar_one()
    tree, level = [allocation_id], [allocation_id]
    while level:  # a sub-allocation goes one org level down at least: at most five steps
        level = list(
            connection.execute(select(table.id).where(table.parent_id.in_(level))).scalars()
        )
        tree += level
    for chunk in _chunks(tree):
        connection.execute(
            update(_allocation_table)
            .where(in_list(connection, table.id, chunk))
            .values(origin_id=origin)
        )
    _expire(session, Allocation, tree)
    return tree


def set_all_origins(session: Session) -> None:
    """Set every allocation's origin, level by level from the roots (after a bulk load)."""
    session.flush()
    connection = session.connection()
    table = _allocation_table.c
    parent = _allocation_table.alias("parent")
    connection.execute(update(_allocation_table).values(origin_id=None))
    connection.execute(
        update(_allocation_table).where(table.parent_id.is_(None)).values(origin_id=table.id)
    )
    for _level in range(4):
        connection.execute(
            update(_allocation_table)
            .where(table.parent_id.is_not(None), table.origin_id.is_(None))
            .values(
                origin_id=select(parent.c.origin_id)
                .where(parent.c.id == table.parent_id)
                .scalar_subquery()
            )
        )


def recompute_all(session: Session) -> None:
    """Rebuild every derived figure from the source rows (after a bulk load)."""
    set_all_origins(session)
    connection = session.connection()
    refresh_allocations(session, connection.execute(select(Allocation.id)).scalars().all())
    refresh_projects(session, connection.execute(select(Project.id)).scalars().all())
    rebuild_org_figures(session)


def rebuild_org_figures(session: Session) -> None:
    """Refill org_figures from the project rows (the triggers keep it in step after that)."""
    session.flush()
    connection = session.connection()
    connection.execute(delete(OrgFigures))
    figures = _figures_table.c
    status_counts = [
        func.sum(case((Project.status == status, 1), else_=0)) for status in STATUS_VALUES
    ]
    summed = [func.sum(getattr(Project, name)) for name in FIGURE_SUMS]
    connection.execute(
        insert(OrgFigures).from_select(
            [figures.year, figures.org_id, figures.projects]
            + [figures[status] for status in STATUS_VALUES]
            + [figures[name] for name in FIGURE_SUMS],
            select(Project.year, Project.owner_id, func.count(), *status_counts, *summed).group_by(
                Project.year, Project.owner_id
            ),
        )
    )
