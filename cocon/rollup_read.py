"""Reading for rollups: columns and org figures as numpy arrays, and the tree's shape.

Values come over as a few long comma-joined texts that numpy parses in C: the driver makes a
handful of Python objects instead of one int per value, which would cost most of the time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np
from sqlalchemy import Connection

from cocon.models import Level

LEVELS = tuple(int(level) for level in Level)
# Values in each org_figures.figures_text: the org id, then the figures (migrations 0005, 0014).
FIGURE_TEXT_VALUES = 22


def _one_row(connection: Connection, sql: str, params: dict) -> tuple:
    """Run sql with :name parameters on the driver's own cursor and return its one row."""
    if connection.dialect.name == "postgresql":
        for name in params:
            sql = sql.replace(f":{name}", f"%({name})s")
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchone()
    finally:
        cursor.close()


def _parse(text: str | bytes | None, expected: int) -> np.ndarray:
    """Parse comma-separated integers, checking that there are as many as expected."""
    if not expected:
        return np.zeros(0, dtype=np.int64)
    # Without count: given one, numpy fills a short text's missing values with garbage.
    values = np.fromstring(text, dtype=np.int64, sep=",")
    if len(values) != expected:
        raise RuntimeError("rollup: the database sent values numpy could not read")
    return values


def fetch_columns(
    connection: Connection, columns: list[str], rest: str, params: dict
) -> list[np.ndarray]:
    """Return each column of SELECT columns rest as an int64 array."""
    named = ", ".join(f"{column} AS c{i}" for i, column in enumerate(columns))
    if connection.dialect.name == "postgresql":
        joined = [f"string_agg(CAST(c{i} AS TEXT), ',')" for i in range(len(columns))]
    else:
        joined = [f"group_concat(c{i})" for i in range(len(columns))]
    sql = f"SELECT COUNT(*), {', '.join(joined)} FROM (SELECT {named} {rest}) AS q"
    count, *texts = _one_row(connection, sql, params)
    return [_parse(text, count) for text in texts]


def fetch_figures(connection: Connection, where: str, params: dict) -> np.ndarray:
    """Return the org_figures rows WHERE where as an (org id, figures...) matrix by org id."""
    if connection.dialect.name == "postgresql":
        sql = (
            "SELECT COUNT(*), string_agg(figures_text, ',' ORDER BY org_id)"
            f" FROM org_figures WHERE {where}"
        )
    else:
        # As a BLOB: the driver hands the bytes over instead of decoding them into a str.
        sql = (
            "SELECT COUNT(*), CAST(group_concat(figures_text) AS BLOB)"
            f" FROM (SELECT figures_text FROM org_figures WHERE {where} ORDER BY org_id)"
        )
    count, text = _one_row(connection, sql, params)
    return _parse(text, count * FIGURE_TEXT_VALUES).reshape(count, FIGURE_TEXT_VALUES)


def positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the row of each wanted id in the sorted ids, or -1 where it is not there."""
    if not len(ids):
        return np.full(len(wanted), -1)
    rows = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    return np.where(ids[rows] == wanted, rows, -1)


@dataclass(frozen=True)
class Tree:
    """The shape of a tree in org-id order and the steps that sum it bottom-up."""

    ids: np.ndarray
    parents: np.ndarray
    levels: np.ndarray
    # Per level, deepest first: the child rows grouped by parent (a slice when they lie in one
    # run, as a division import leaves them), where each parent's group starts, the parent rows
    # (ascending).
    steps: tuple[tuple[slice | np.ndarray, np.ndarray, np.ndarray], ...]

    @classmethod
    def build(cls, ids: np.ndarray, parent_ids: np.ndarray, levels: np.ndarray) -> Tree:
        """Plan the bottom-up sums of the orgs' (id, parent id, level) rows, sorted by id."""
        parents = positions(ids, parent_ids)
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

    # The figure arrays below hold one row per figure and one column per org: summing runs of
    # orgs then adds long contiguous rows, about three times faster than the other way round.

    def sum_up(self, figures: np.ndarray) -> None:
        """Turn every org's own figures into its subtree's totals, in place."""
        for children, starts, parents in self.steps:
            figures[:, parents] += np.add.reduceat(figures[:, children], starts, axis=1)

    def own(self, total: np.ndarray) -> np.ndarray:
        """Return every org's own figures from the subtree totals."""
        own = total.copy()
        for children, starts, parents in self.steps:
            own[:, parents] -= np.add.reduceat(total[:, children], starts, axis=1)
        return own

    def own_of(self, total: np.ndarray, row: int) -> np.ndarray:
        """Return one org's own figures from the subtree totals."""
        own = total[:, row].copy()
        for children, starts, parents in self.steps:
            index = int(np.searchsorted(parents, row))
            if index == len(parents) or parents[index] != row:
                continue
            end = int(starts[index + 1]) if index + 1 < len(starts) else None
            if isinstance(children, slice):
                stop = children.stop if end is None else children.start + end
                group = total[:, children.start + int(starts[index]) : stop]
            else:
                group = total[:, children[int(starts[index]) : end]]
            own -= group.sum(axis=1)
        return own


# The whole tree's shape per connection pool, with the key it was read under.
_TREES: WeakKeyDictionary[object, tuple[tuple, Tree]] = WeakKeyDictionary()
# The tree's key: org count, highest id and the counter that triggers advance on a move or delete
# (migrations 0003 and 0006), which changes only when the move commits.
_TREE_KEY = ["COUNT(*)", "COALESCE(MAX(id), 0)", "{moves}"]
_MOVES = {
    "sqlite": "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'org_tree_moves'), 0)",
    "postgresql": "COALESCE((SELECT version FROM org_tree_state WHERE id = 1), 0)",
}
TREE_ROWS = ["id", "COALESCE(parent_id, 0)", "level"]


def whole_tree(connection: Connection) -> Tree:
    """Return the whole tree's shape, read again only when an org was added, moved or deleted."""
    key_sql = ", ".join(_TREE_KEY).format(moves=_MOVES[connection.dialect.name])
    key = tuple(int(value) for value in _one_row(connection, f"SELECT {key_sql} FROM org", {}))
    cached = _TREES.get(connection.engine.pool)
    if cached is not None and cached[0] == key:
        return cached[1]
    tree = Tree.build(*fetch_columns(connection, TREE_ROWS, "FROM org ORDER BY id", {}))
    if _may_keep(connection, key):
        _TREES[connection.engine.pool] = (key, tree)
    return tree


def _may_keep(connection: Connection, key: tuple) -> bool:
    """Tell whether a shape read under key is the committed tree's, safe to keep for others."""
    if connection.dialect.name == "postgresql":
        # A transaction that has written nothing has read committed rows only (the key too:
        # org_tree_state changes on commit, migration 0006); one that wrote may roll back.
        unwritten = "SELECT pg_current_xact_id_if_assigned() IS NULL"
        return bool(connection.exec_driver_sql(unwritten).scalar())
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
