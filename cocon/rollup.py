"""Rollups: every org's figures over its subtree, for all nodes at once in a fixed number of queries.

Each org's own figures come from two grouped scans (projects by owner, allocations by org) over
the figures cocon.derived keeps on those rows; totals are summed bottom-up with numpy, level by
level, in exact 64-bit integers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, select
from sqlmodel import Session

from cocon.derived import GAP_STATUSES
from cocon.models import Level, Org, Status
from cocon.money import format_decimal
from cocon.scope import within

LEVELS = tuple(int(level) for level in Level)
STATUSES = tuple(status.value for status in Status)
SOURCE_KEYS = ("province", "city", "district", "street", "community")
# Columns of the figure arrays.
COLUMNS = (
    "projects",
    *STATUSES,
    "budget",
    "l1",
    "l2",
    "l3",
    "l4",
    "l5",
    "partners",
    "paid",
    "held",
    "drawn",
    "failing",
)
COL = {name: index for index, name in enumerate(COLUMNS)}
PROJECT_COLUMNS = (*COLUMNS[: COL["paid"] + 1], "failing")
__all__ = [
    "GAP_STATUSES",
    "Figures",
    "Rollup",
    "RollupNode",
    "compute_rollup",
    "node_to_dict",
    "rollup_tree",
]


@dataclass
class Figures:
    """The additive figures of one org, or of a subtree when summed."""

    projects: Counter = field(default_factory=Counter)
    budget: int = 0
    funding_by_level: list[int] = field(default_factory=lambda: [0] * len(LEVELS))
    partners: int = 0
    paid: int = 0
    held: int = 0
    drawn: int = 0
    failing: int = 0

    @property
    def project_count(self) -> int:
        """Count the projects of every status."""
        return sum(self.projects.values())

    @property
    def funded(self) -> int:
        """Sum the funding from all levels and partners."""
        return sum(self.funding_by_level) + self.partners

    @property
    def remaining(self) -> int:
        """Return what is held but not yet drawn."""
        return self.held - self.drawn

    def add(self, other: Figures) -> None:
        """Add other's figures into these."""
        self.projects.update(other.projects)
        self.budget += other.budget
        for index, amount in enumerate(other.funding_by_level):
            self.funding_by_level[index] += amount
        self.partners += other.partners
        self.paid += other.paid
        self.held += other.held
        self.drawn += other.drawn
        self.failing += other.failing

    @classmethod
    def from_row(cls, row: np.ndarray) -> Figures:
        """Build figures from one row of a figure array."""
        values = [int(v) for v in row]
        return cls(
            projects=Counter({s: values[COL[s]] for s in STATUSES if values[COL[s]]}),
            budget=values[COL["budget"]],
            funding_by_level=[values[COL[f"l{level}"]] for level in LEVELS],
            partners=values[COL["partners"]],
            paid=values[COL["paid"]],
            held=values[COL["held"]],
            drawn=values[COL["drawn"]],
            failing=values[COL["failing"]],
        )


@dataclass
class Rollup:
    """Own and subtree figures of every org under a root, as arrays in org-id order."""

    ids: np.ndarray
    parents: np.ndarray
    levels: np.ndarray
    own: np.ndarray
    total: np.ndarray

    def position(self, org_id: int) -> int:
        """Return the row of an org, or raise KeyError."""
        index = int(np.searchsorted(self.ids, org_id))
        if index >= len(self.ids) or self.ids[index] != org_id:
            raise KeyError(org_id)
        return index

    def own_figures(self, org_id: int) -> Figures:
        """Return an org's own figures."""
        return Figures.from_row(self.own[self.position(org_id)])

    def total_figures(self, org_id: int) -> Figures:
        """Return the figures of an org's whole subtree."""
        return Figures.from_row(self.total[self.position(org_id)])


def _fetch(connection: Connection, sql: str, params: dict) -> list[tuple]:
    # The driver's own cursor: these scans return up to a row per org, so Row objects would cost.
    if connection.dialect.name == "postgresql":
        sql = sql.replace(":lo", "%(lo)s").replace(":hi", "%(hi)s").replace(":year", "%(year)s")
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _as_array(rows: list[tuple], width: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, width), dtype=np.int64)
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the row of each wanted id in the sorted ids, or -1 where it is not there."""
    rows = np.minimum(np.searchsorted(ids, wanted), max(len(ids) - 1, 0))
    if not len(ids):
        return np.full(len(wanted), -1)
    return np.where(ids[rows] == wanted, rows, -1)


def compute_rollup(session: Session, root: Org | None = None, year: int | None = None) -> Rollup:
    """Compute every org's own and subtree figures under root (the whole tree without one)."""
    connection = session.connection()
    params: dict = {}
    org_filter, owner_filter, year_filter = "", "", ""
    if root is not None:
        params.update(lo=root.path, hi=root.path[:-1] + "0")
        org_filter = "WHERE path >= :lo AND path < :hi"
        owner_filter = " AND {column} IN (SELECT id FROM org WHERE path >= :lo AND path < :hi)"
    if year is not None:
        params["year"] = year
        year_filter = " AND year = :year"
    orgs = _as_array(
        _fetch(
            connection,
            f"SELECT id, COALESCE(parent_id, 0), level FROM org {org_filter} ORDER BY id",
            params,
        ),
        3,
    )
    ids, parent_ids, levels = orgs[:, 0], orgs[:, 1], orgs[:, 2]
    status_sums = ", ".join(
        f"CAST(SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END) AS BIGINT)" for s in STATUSES
    )
    projects = _fetch(
        connection,
        f"""SELECT owner_id, COUNT(*), {status_sums}, CAST(SUM(budget_fen) AS BIGINT), CAST(SUM(drawn_l1_fen) AS BIGINT), CAST(SUM(drawn_l2_fen) AS BIGINT),
            CAST(SUM(drawn_l3_fen) AS BIGINT), CAST(SUM(drawn_l4_fen) AS BIGINT), CAST(SUM(drawn_l5_fen) AS BIGINT), CAST(SUM(partners_fen) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT),
            CAST(SUM(failing_checks) AS BIGINT)
            FROM project WHERE 1 = 1{year_filter}{owner_filter.format(column="owner_id")} GROUP BY owner_id""",
        params,
    )
    allocations = _fetch(
        connection,
        f"""SELECT org_id, CAST(SUM(amount_fen - sub_allocated_fen) AS BIGINT), CAST(SUM(drawn_fen) AS BIGINT), CAST(SUM(failing_checks) AS BIGINT)
            FROM allocation WHERE 1 = 1{year_filter}{owner_filter.format(column="org_id")} GROUP BY org_id""",
        params,
    )
    own = np.zeros((len(ids), len(COLUMNS)), dtype=np.int64)
    project_array = _as_array(projects, 1 + len(PROJECT_COLUMNS))
    if len(project_array):
        rows = np.searchsorted(ids, project_array[:, 0])
        own[rows, : COL["paid"] + 1] = project_array[:, 1:-1]
        own[rows, COL["failing"]] += project_array[:, -1]
    allocation_array = _as_array(allocations, 4)
    if len(allocation_array):
        rows = np.searchsorted(ids, allocation_array[:, 0])
        own[rows, COL["held"]] += allocation_array[:, 1]
        own[rows, COL["drawn"]] += allocation_array[:, 2]
        own[rows, COL["failing"]] += allocation_array[:, 3]
    parents = np.searchsorted(ids, parent_ids)
    parents[parents >= len(ids)] = 0
    parents = (
        np.where((len(ids) > 0) & (ids[parents] == parent_ids), parents, -1)
        if len(ids)
        else parents
    )
    total = own.copy()
    for level in reversed(LEVELS[1:]):
        rows = np.nonzero((levels == level) & (parents >= 0))[0]
        np.add.at(total, parents[rows], total[rows])
    return Rollup(ids=ids, parents=parents, levels=levels, own=own, total=total)


@dataclass
class RollupNode:
    """One org with its own figures and the totals of its subtree."""

    id: int
    code: str
    name: str
    level: int
    parent_id: int | None
    own: Figures = field(default_factory=Figures)
    total: Figures = field(default_factory=Figures)
    children: list[RollupNode] = field(default_factory=list)


def rollup_tree(
    session: Session, root: Org | None = None, year: int | None = None, depth: int | None = None
) -> list[RollupNode]:
    """Return the subtree of root (or every province) down to depth, with figures on each node."""
    rollup = compute_rollup(session, root, year)
    top = root.level if root is not None else Level.PROVINCE
    statement = select(Org.id, Org.code, Org.name, Org.level, Org.parent_id).where(
        within(Org, root)
    )
    if depth is not None:
        statement = statement.where(Org.level <= top + depth)
    nodes: dict[int, RollupNode] = {}
    for org_id, code, name, level, parent_id in session.execute(statement.order_by(Org.path)):
        position = rollup.position(org_id)
        nodes[org_id] = RollupNode(
            org_id,
            code,
            name,
            level,
            parent_id,
            Figures.from_row(rollup.own[position]),
            Figures.from_row(rollup.total[position]),
        )
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id)
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    return roots


def rollup_org(session: Session, org: Org, year: int | None = None) -> RollupNode:
    """Return one org's rollup with its direct children."""
    return rollup_tree(session, org, year, depth=1)[0]


def node_to_dict(node: RollupNode) -> dict:
    """Return a node and its children as plain data, money as decimal strings in yuan."""
    total = node.total
    funding = {key: format_decimal(total.funding_by_level[i]) for i, key in enumerate(SOURCE_KEYS)}
    funding["partners"] = format_decimal(total.partners)
    return {
        "code": node.code,
        "name": node.name,
        "level": Level(node.level).name.lower(),
        "project_count": total.project_count,
        "projects_by_status": {status: total.projects.get(status, 0) for status in STATUSES},
        "budget": format_decimal(total.budget),
        "funding": funding,
        "funded": format_decimal(total.funded),
        "paid": format_decimal(total.paid),
        "held": format_decimal(total.held),
        "drawn": format_decimal(total.drawn),
        "remaining": format_decimal(total.remaining),
        "failing_checks": total.failing,
        "children": [node_to_dict(child) for child in node.children],
    }
