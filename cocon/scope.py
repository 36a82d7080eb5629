"""Restrict queries to an org subtree and a year: every query that reads money goes through here."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, true

from cocon.models import Allocation, Org, Project
from cocon.orgs import subtree_condition


def within(org_table, root: Org | None) -> ColumnElement[bool]:
    """Select rows of org_table inside root's subtree (everything without a root)."""
    return true() if root is None else subtree_condition(root.path, org_table.path)


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
