"""Rollups: every org's figures over its subtree, for all nodes at once in a fixed number of queries.

Each org's own project figures come from org_figures (about one row per org and year, kept by
triggers on project, read as the text the database generates per row), its allocation figures
from one grouped scan of the allocations; totals are summed bottom-up with numpy, level by level,
in exact 64-bit integers. The whole tree's shape is kept in memory per engine while its key (org
count, highest id, move counter) stays the same; see cocon.rollup_read.
"""

from __future__ import annotations

import mmap
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from sqlalchemy import select
from sqlmodel import Session

from cocon.models import Level, Org, Status
from cocon.money import format_decimal
from cocon.rollup_read import (
    FIGURE_TEXT_VALUES,
    LEVELS,
    TREE_ROWS,
    Tree,
    fetch_columns,
    fetch_figures,
    forget_tree_shapes,
    whole_tree,
)
from cocon.rules import GAP_STATUSES
from cocon.scope import within

STATUSES = tuple(status.value for status in Status)
SOURCE_KEYS = ("province", "city", "district", "street", "community")
# Columns of the figure arrays: first those of org_figures.figures_text in its order, so that its
# rows land in one slice, then those that only allocations add to.
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
    "failing",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "held",
    "drawn",
)
COL = {name: index for index, name in enumerate(COLUMNS)}
FROM_FIGURES = slice(0, FIGURE_TEXT_VALUES - 1)
# Above this many nodes, rollup_tree works out every org's own figures at once.
_OWN_ROW_BY_ROW = 64
__all__ = [
    "GAP_STATUSES",
    "Figures",
    "Rollup",
    "RollupNode",
    "compute_rollup",
    "forget_tree_shapes",
    "node_to_dict",
    "nodes_to_dicts",
    "rollup_tree",
]


@dataclass
class Figures:
    """The additive figures of one org, or of a subtree when summed."""

    projects: Counter = field(default_factory=Counter)
    budget: int = 0
    # Funding by source level (资金来源层级): drawn on money each level put up, its origin.
    funding_by_level: list[int] = field(default_factory=lambda: [0] * len(LEVELS))
    partners: int = 0
    paid: int = 0
    held: int = 0
    drawn: int = 0
    failing: int = 0
    # The same funding by the level that holds the allocation drawn on (使用/安排单位).
    funding_by_holder_level: list[int] = field(default_factory=lambda: [0] * len(LEVELS))

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
        for index, amount in enumerate(other.funding_by_holder_level):
            self.funding_by_holder_level[index] += amount
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
            funding_by_holder_level=[values[COL[f"h{level}"]] for level in LEVELS],
        )


@dataclass
class Rollup:
    """Subtree figures of every org under a root, a row per org in org-id order; own ones on demand.

    Each org's own figures are its total less its children's: worked out only when asked for,
    so a rollup does not fill a second array as big as the totals that nobody reads.
    """

    tree: Tree
    # One row per figure (see Tree): total is its transposed view, one row per org.
    by_figure: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """Return every org's subtree figures."""
        return self.by_figure.T

    @property
    def ids(self) -> np.ndarray:
        """Return the org ids, ascending."""
        return self.tree.ids

    @property
    def parents(self) -> np.ndarray:
        """Return each org's parent row, or -1."""
        return self.tree.parents

    @property
    def levels(self) -> np.ndarray:
        """Return each org's level."""
        return self.tree.levels

    @cached_property
    def own(self) -> np.ndarray:
        """Return every org's own figures."""
        return self.tree.own(self.by_figure).T

    def position(self, org_id: int) -> int:
        """Return the row of an org, or raise KeyError."""
        index = int(np.searchsorted(self.ids, org_id))
        if index >= len(self.ids) or self.ids[index] != org_id:
            raise KeyError(org_id)
        return index

    def own_row(self, position: int) -> np.ndarray:
        """Return the own figures of the org in a row."""
        return self.tree.own_of(self.by_figure, position)

    def own_figures(self, org_id: int) -> Figures:
        """Return an org's own figures."""
        return Figures.from_row(self.own_row(self.position(org_id)))

    def total_figures(self, org_id: int) -> Figures:
        """Return the figures of an org's whole subtree."""
        return Figures.from_row(self.total[self.position(org_id)])


def _zeroed(rows: int, columns: int) -> np.ndarray:
    """Return a zeroed int64 array, a large one in fresh 4 KiB pages."""
    # numpy asks for huge pages for arrays from 4 MiB, and faulting in fresh huge pages cost
    # about four times as much as small ones here: on the first whole-tree rollups of a process
    # that was a fifth of the time. Private anonymous memory comes zeroed, goes with the array.
    size = rows * columns * 8
    if size < 1 << 22 or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.zeros((rows, columns), dtype=np.int64)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(memory, dtype=np.int64).reshape(rows, columns)


def compute_rollup(session: Session, root: Org | None = None, year: int | None = None) -> Rollup:
    """Compute every org's own and subtree figures under root (the whole tree without one)."""
    connection = session.connection()
    params: dict = {}
    where, scope = "1 = 1", ""
    if root is not None:
        params.update(lo=root.path, hi=root.path[:-1] + "0")
        scope = " AND {column} IN (SELECT id FROM org WHERE path >= :lo AND path < :hi)"
        subtree = "FROM org WHERE path >= :lo AND path < :hi ORDER BY id"
        tree = Tree.build(*fetch_columns(connection, TREE_ROWS, subtree, params))
    else:
        tree = whole_tree(connection)
    if year is not None:
        params["year"] = year
        where += " AND year = :year"
    by_figure = _zeroed(len(COLUMNS), len(tree.ids))
    # org_figures holds each org's own project figures per year, kept by triggers on project.
    figures = fetch_figures(connection, where + scope.format(column="org_id"), params)
    org_ids, values = figures[:, 0], figures[:, 1:]
    if np.any(org_ids[1:] < org_ids[:-1]):
        order = np.argsort(org_ids, kind="stable")
        org_ids, values = org_ids[order], values[order]
    repeated = org_ids[1:] == org_ids[:-1]
    if repeated.any():  # one row per year
        starts = np.flatnonzero(np.concatenate(([True], ~repeated)))
        org_ids, values = org_ids[starts], np.add.reduceat(values, starts, axis=0)
    by_figure[FROM_FIGURES, np.searchsorted(tree.ids, org_ids)] = values.T
    org_ids, *allocations = fetch_columns(
        connection,
        [
            "org_id",
            "CAST(SUM(amount_fen - sub_allocated_fen) AS BIGINT)",
            "CAST(SUM(drawn_fen) AS BIGINT)",
            "CAST(SUM(failing_checks) AS BIGINT)",
        ],
        f"FROM allocation WHERE {where}{scope.format(column='org_id')} GROUP BY org_id",
        params,
    )
    rows = np.searchsorted(tree.ids, org_ids)  # one per org: grouped
    for column, amounts in zip(("held", "drawn", "failing"), allocations, strict=True):
        by_figure[COL[column], rows] += amounts
    tree.sum_up(by_figure)
    return Rollup(tree, by_figure)


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
    found = session.execute(statement.order_by(Org.path)).all()
    # Row by row for a few nodes; all at once for many, where that costs less.
    own = rollup.own if len(found) > _OWN_ROW_BY_ROW else None
    nodes: dict[int, RollupNode] = {}
    for org_id, code, name, level, parent_id in found:
        position = rollup.position(org_id)
        nodes[org_id] = RollupNode(
            org_id,
            code,
            name,
            level,
            parent_id,
            Figures.from_row(rollup.own_row(position) if own is None else own[position]),
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


def node_to_dict(node: RollupNode, allocations: Mapping[int, list] | None = None) -> dict:
    """Return a node and its children as plain data, money as decimal strings in yuan.

    funding is by source level (the level that put the money up); funding_by_holder by the
    level holding the allocation drawn on. Given allocations (reports by org id, see
    cocon.allocation_report.reports_of_orgs), each node lists its own allocations' reports.
    """
    total = node.total
    funding = {key: format_decimal(total.funding_by_level[i]) for i, key in enumerate(SOURCE_KEYS)}
    funding["partners"] = format_decimal(total.partners)
    by_holder = {
        key: format_decimal(total.funding_by_holder_level[i]) for i, key in enumerate(SOURCE_KEYS)
    }
    extra = {}
    if allocations is not None:
        from cocon.allocation_report import report_to_dict

        extra["allocations"] = [report_to_dict(r) for r in allocations.get(node.id, [])]
    return {
        "code": node.code,
        "name": node.name,
        "level": Level(node.level).name.lower(),
        "project_count": total.project_count,
        "projects_by_status": {status: total.projects.get(status, 0) for status in STATUSES},
        "budget": format_decimal(total.budget),
        "funding": funding,
        "funding_by_holder": by_holder,
        "funded": format_decimal(total.funded),
        "paid": format_decimal(total.paid),
        "held": format_decimal(total.held),
        "drawn": format_decimal(total.drawn),
        "remaining": format_decimal(total.remaining),
        "failing_checks": total.failing,
        **extra,
        "children": [node_to_dict(child, allocations) for child in node.children],
    }


def nodes_to_dicts(session: Session, roots: list[RollupNode], year: int | None) -> list[dict]:
    """Return roots as plain data (node_to_dict), each org with its own allocations' reports."""
    from cocon.allocation_report import reports_of_orgs

    def walk(nodes: list[RollupNode]):
        for node in nodes:
            yield node
            yield from walk(node.children)

    reports = reports_of_orgs(session, [node.id for node in walk(roots)], year)
    return [node_to_dict(root, reports) for root in roots]
