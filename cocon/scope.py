"""Restrict queries to an org subtree and a year: every query that reads money goes through here."""

from __future__ import annotations

from functools import cache

from sqlalchemy import ColumnElement, Select, and_, bindparam, select, true
from sqlalchemy.orm import aliased

from cocon.models import Allocation, Org, Project
from cocon.orgs import subtree_bounds, subtree_condition

SCOPE_LOW, SCOPE_HIGH = "scope_low", "scope_high"  # within_scope's parameters


@cache
def org_alias(role: str) -> type[Org]:
    """Return the alias of org named role ("owner", "holder", …), made once per process.

    Setting up an alias's columns costs far more than the rest of building a statement (about
    half a millisecond each time), and a page builds a dozen statements: a named alias is made
    once and used by every statement. Within one statement each role must be a distinct name.
    """
    return aliased(Org, name=role)


def within(org_table, root: Org | None) -> ColumnElement[bool]:
    """Select rows of org_table inside root's subtree (everything without a root).

    org_table is usually joined to the rows that matter (a project's owner, an allocation's
    holder). Besides the path range, the condition names the subtree's ids as a list: SQLite
    carries that list across the join to the project's or allocation's org index, where the
    path range alone lets it scan every project of the year (and PostgreSQL plans it well too).
    """
    if root is None:
        return true()
    return _within(org_table, *subtree_bounds(root.path))


def within_scope(org_table) -> ColumnElement[bool]:
    """Select rows of org_table inside the subtree that scope_params names when the statement runs.

    The condition of within with the bounds as parameters, for a statement built once and run
    for any scope: building a statement costs more than running it on a district.
    """
    path_type = Org.__table__.c.path.type
    return _within(
        org_table, bindparam(SCOPE_LOW, type_=path_type), bindparam(SCOPE_HIGH, type_=path_type)
    )


def scope_params(root: Org) -> dict[str, str]:
    """Return the parameters of within_scope for root's subtree."""
    low, high = subtree_bounds(root.path)
    return {SCOPE_LOW: low, SCOPE_HIGH: high}


def _within(org_table, low, high) -> ColumnElement[bool]:
    subtree = org_alias("subtree")  # its own: a plain Org would be correlated with the outer query
    ids = select(subtree.id).where(subtree.path >= low, subtree.path < high)
    return and_(org_table.path >= low, org_table.path < high, org_table.id.in_(ids))


def org_within(root: Org | None) -> ColumnElement[bool]:
    """Select orgs inside root's subtree by their path alone (for listings of the orgs)."""
    return true() if root is None else subtree_condition(root.path, Org.path)


def project_scope(statement: Select, root: Org | None, year: int | None) -> Select:
    """Keep projects owned inside root's subtree and of year."""
    if root is not None:
        statement = statement.join(Org, Org.id == Project.owner_id).where(within(Org, root))
    if year is not None:
        statement = statement.where(Project.year == year)
    return statement


def allocation_scope(
    statement: Select, org_table, root: Org | None, year: int | None, allocation=Allocation
) -> Select:
    """Keep allocations held inside root's subtree and of year."""
    if root is not None:
        statement = statement.join(org_table, org_table.id == allocation.org_id).where(
            within(org_table, root)
        )
    if year is not None:
        statement = statement.where(allocation.year == year)
    return statement
