"""Rollups: every org's figures over its subtree, for all nodes at once in a fixed number of queries.

Each org's own project figures come from org_figures (about one row per org and year, kept by
triggers on project), its allocation figures from one grouped scan of the allocations; totals are
summed bottom-up with numpy, level by level, in exact 64-bit integers. The whole tree's shape is
kept in memory per engine while its key (org count, highest id, move counter) stays the same.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import Connection, select
from sqlmodel import Session

from cocon.derived import FIGURE_SUMS, GAP_STATUSES
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
# org_figures columns read by the rollup.
FIGURE_COLUMNS = (*STATUSES, *FIGURE_SUMS)
# The column of the figure arrays that each of FIGURE_COLUMNS adds to.
FIGURE_TARGETS = tuple(
    COL[name]
    for name in (*STATUSES, "budget", "l1", "l2", "l3", "l4", "l5", "partners", "paid", "failing")
)
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


def _fetch(connection: Connection, columns: list[str], rest: str, params: dict) -> list[np.ndarray]:
    """Return each column of SELECT columns rest as an int64 array."""
    # Each column comes over as one comma-joined text that numpy parses in C: the driver makes
    # a handful of Python objects instead of one int per value, which cost most of the time.
    named = ", ".join(f"{column} AS c{i}" for i, column in enumerate(columns))
    if connection.dialect.name == "postgresql":
        joined = [f"string_agg(CAST(c{i} AS TEXT), ',')" for i in range(len(columns))]
        rest = rest.replace(":lo", "%(lo)s").replace(":hi", "%(hi)s").replace(":year", "%(year)s")
    else:
        joined = [f"group_concat(c{i})" for i in range(len(columns))]
    sql = f"SELECT COUNT(*), {', '.join(joined)} FROM (SELECT {named} {rest}) AS q"
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        count, *texts = cursor.fetchone()
    finally:
        cursor.close()
    if not count:
        return [np.zeros(0, dtype=np.int64) for _ in columns]
    result = [np.fromstring(text, dtype=np.int64, sep=",") for text in texts]
    if any(len(values) != count for values in result):
        raise RuntimeError("rollup: the database sent a column numpy could not read")
    return result


def _add_rows(target: np.ndarray, rows: np.ndarray, column: int, values: np.ndarray) -> None:
    """Add values into one column of target's rows, summing where a row comes more than once."""
    if np.all(rows[1:] > rows[:-1]):
        target[rows, column] += values
    else:
        np.add.at(target[:, column], rows, values)


@dataclass(frozen=True)
class _Tree:
    """The shape of a tree in org-id order and the steps that sum it bottom-up."""

    ids: np.ndarray
    parents: np.ndarray
    levels: np.ndarray
    # Per level, deepest first: the child rows grouped by parent (a slice when they lie in one
    # run, as a division import leaves them), where each parent's group starts, the parent rows.
    steps: tuple[tuple[slice | np.ndarray, np.ndarray, np.ndarray], ...]

    @classmethod
    def build(cls, ids: np.ndarray, parent_ids: np.ndarray, levels: np.ndarray) -> _Tree:
        """Plan the bottom-up sums of the orgs' (id, parent id, level) rows, sorted by id."""
        parents = _positions(ids, parent_ids)
        steps = []
        for level in reversed(LEVELS[1:]):
            children = np.nonzero((levels == level) & (parents >= 0))[0]
            if not len(children):
                continue
            above = parents[children]
            if np.any(above[1:] < above[:-1]):
                order = np.argsort(above, kind="stable")
                children, above = children[order], above[order]
            starts = np.concatenate(([0], np.nonzero(above[1:] != above[:-1])[0] + 1))
            run = children[-1] - children[0] + 1 == len(children) and bool(
                np.all(children[1:] > children[:-1])
            )
            rows = slice(int(children[0]), int(children[-1]) + 1) if run else children
            steps.append((rows, starts, above[starts]))
        for array in (ids, parents, levels):
            array.flags.writeable = False  # shared by every rollup while the shape is cached
        return cls(ids, parents, levels, tuple(steps))

    def sum_up(self, own: np.ndarray) -> np.ndarray:
        """Return every org's subtree totals from the orgs' own figures."""
        total = own.copy()
        for children, starts, parents in self.steps:
            total[parents] += np.add.reduceat(total[children], starts, axis=0)
        return total


# The whole tree's shape per connection pool, with the key it was read under.
_TREES: WeakKeyDictionary[object, tuple[tuple, _Tree]] = WeakKeyDictionary()
# The tree's key: org count, highest id and the counter that triggers advance on a move or delete
# (migration 0003), which lives outside the tables.
_TREE_KEY = ["COUNT(*)", "COALESCE(MAX(id), 0)", "{moves}"]
_MOVES = {
    "sqlite": "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'org_tree_moves'), 0)",
    "postgresql": "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM org_tree_version)",
}
_TREE_ROWS = ["id", "COALESCE(parent_id, 0)", "level"]


def _whole_tree(connection: Connection) -> _Tree:
    """Return the whole tree's shape, read again only when an org was added, moved or deleted."""
    key_columns = [c.format(moves=_MOVES[connection.dialect.name]) for c in _TREE_KEY]
    key = tuple(int(column[0]) for column in _fetch(connection, key_columns, "FROM org", {}))
    cached = _TREES.get(connection.engine.pool)
    if cached is not None and cached[0] == key:
        return cached[1]
    tree = _Tree.build(*_fetch(connection, _TREE_ROWS, "FROM org ORDER BY id", {}))
    if _may_keep(connection, key):
        _TREES[connection.engine.pool] = (key, tree)
    return tree


def _may_keep(connection: Connection, key: tuple) -> bool:
    """Tell whether a shape read under key is the committed tree's, safe to keep for others."""
    if connection.dialect.name != "sqlite":
        # Ids come from sequences, which a rollback does not take back: a rolled-back org's
        # count and id never come again, and the move counter is a sequence, never taken back.
        return True
    # SQLite hands a rolled-back id out again, so a shape holding orgs this transaction has not
    # committed could meet its key again with other orgs: compare with what others see.
    database = connection.engine.url.database
    if database in (None, "", ":memory:"):
        return False
    try:
        other = sqlite3.connect(database, timeout=0)
        try:
            key_sql = ", ".join(_TREE_KEY).format(moves=_MOVES["sqlite"])
            return other.execute(f"SELECT {key_sql} FROM org").fetchone() == key
        finally:
            other.close()
    except sqlite3.Error:
        return False


def forget_tree_shapes() -> None:
    """Drop the tree shapes held in memory, so the next rollup reads the org table again."""
    _TREES.clear()


def compute_rollup(session: Session, root: Org | None = None, year: int | None = None) -> Rollup:
    """Compute every org's own and subtree figures under root (the whole tree without one)."""
    connection = session.connection()
    params: dict = {}
    scope, year_filter = "", ""
    if root is not None:
        params.update(lo=root.path, hi=root.path[:-1] + "0")
        scope = " AND {column} IN (SELECT id FROM org WHERE path >= :lo AND path < :hi)"
        subtree = "FROM org WHERE path >= :lo AND path < :hi ORDER BY id"
        tree = _Tree.build(*_fetch(connection, _TREE_ROWS, subtree, params))
    else:
        tree = _whole_tree(connection)
    if year is not None:
        params["year"] = year
        year_filter = " AND year = :year"
    ids = tree.ids
    own = np.zeros((len(ids), len(COLUMNS)), dtype=np.int64)
    # org_figures holds each org's own project figures per year, kept by triggers on project.
    org_ids, *figures = _fetch(
        connection,
        ["org_id", *FIGURE_COLUMNS],
        f"FROM org_figures WHERE 1 = 1{year_filter}{scope.format(column='org_id')} ORDER BY org_id",
        params,
    )
    rows = np.searchsorted(ids, org_ids)
    for column, values in zip(FIGURE_TARGETS, figures, strict=True):
        _add_rows(own, rows, column, values)
    own[:, COL["projects"]] = own[:, COL[STATUSES[0]] : COL[STATUSES[-1]] + 1].sum(axis=1)
    org_ids, *allocations = _fetch(
        connection,
        [
            "org_id",
            "CAST(SUM(amount_fen - sub_allocated_fen) AS BIGINT)",
            "CAST(SUM(drawn_fen) AS BIGINT)",
            "CAST(SUM(failing_checks) AS BIGINT)",
        ],
        f"FROM allocation WHERE 1 = 1{year_filter}{scope.format(column='org_id')}"
        " GROUP BY org_id ORDER BY org_id",
        params,
    )
    rows = np.searchsorted(ids, org_ids)
    for column, values in zip(("held", "drawn", "failing"), allocations, strict=True):
        _add_rows(own, rows, COL[column], values)
    return Rollup(
        ids=ids, parents=tree.parents, levels=tree.levels, own=own, total=tree.sum_up(own)
    )


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the row of each wanted id in the sorted ids, or -1 where it is not there."""
    if not len(ids):
        return np.full(len(wanted), -1)
    rows = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    return np.where(ids[rows] == wanted, rows, -1)


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
