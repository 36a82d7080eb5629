"""Allocations and sub-allocations, with the blocking checks enforced.

Funding lines and payments are in cocon.funding, the commitments and draw rules they share in
cocon.commitments; both are importable from here too, as every surface does.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from cocon import rules
from cocon.checks import Finding, Policies, Rule, enforce
from cocon.commitments import (
    Commitments,
    Saved,
    allocation_title,
    check_room,
    commitments,
    kept_commitments,
    lock_row,
    positive_amount,
)
from cocon.derived import refresh_allocation, refresh_projects_drawing_on, set_origins
from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import clean_code, clean_text, parse_year
from cocon.funding import (
    draw,
    draw_refusal,
    drawable_allocations,
    get_funding_line,
    paid_on_line,
    payments_of,
    project_warnings,
    record_payment,
)
from cocon.i18n import _
from cocon.models import Allocation, Org
from cocon.orgs import is_within
from cocon.scope import within

__all__ = [
    "Commitments",
    "Saved",
    "allocation_title",
    "check_allocation_editable",
    "commitments",
    "draw",
    "draw_refusal",
    "drawable_allocations",
    "find_allocation",
    "get_allocation",
    "get_funding_line",
    "kept_commitments",
    "list_allocations",
    "next_allocation_code",
    "paid_on_line",
    "payments_of",
    "positive_amount",
    "project_warnings",
    "received_from_above",
    "record_payment",
    "save_allocation",
]


def find_allocation(session: Session, code: str) -> Allocation | None:
    """Return the allocation with this code, or None."""
    return (
        session.exec(select(Allocation).where(Allocation.code == str(code).strip()))
        .scalars()
        .first()
    )


def get_allocation(session: Session, code: str, scope: Org | None = None) -> Allocation:
    """Return the allocation with this code within scope, or raise NotFound."""
    allocation = find_allocation(session, code)
    if allocation is None or (
        scope is not None and not is_within(session.get(Org, allocation.org_id), scope)
    ):
        raise NotFound(_("No allocation has the code {code}").format(code=str(code).strip()))
    return allocation


def save_allocation(
    session: Session,
    policies: Policies,
    *,
    org: Org,
    year: object,
    amount: object,
    code: object = None,
    parent: Allocation | None = None,
    source_note: object = None,
    allocation: Allocation | None = None,
) -> Saved[Allocation]:
    """Create or update an allocation; a sub-allocation must fit in its parent."""
    year_value = parse_year(year)
    fen = positive_amount(amount)
    note = clean_text(source_note, "source_note")
    code_value = clean_code(code) if code not in (None, "") else None
    if code_value:
        other = find_allocation(session, code_value)
        if other is not None and (allocation is None or other.id != allocation.id):
            raise Invalid(_("This code cannot be used; choose another"), field="code")
    warnings: list[Finding] = []
    if parent is not None:
        parent = lock_row(session, Allocation, parent.id)
        parent_org = session.get(Org, parent.org_id)
        if parent_org.id == org.id or not is_within(org, parent_org):
            raise Invalid(
                _(
                    "A sub-allocation goes to an org below the parent's ({org}); {target} is not below it"
                ).format(org=parent_org.name, target=org.name),
                field="parent",
            )
        if parent.year != year_value:
            raise Invalid(
                _("A sub-allocation has the same year as its parent ({year})").format(
                    year=parent.year
                ),
                field="year",
            )
        current = commitments(session, parent, excluding_sub=allocation.id if allocation else None)
        warnings += _check_subs(session, policies, parent, fen, current)
        warnings += check_room(session, policies, parent, fen, _("sub-allocation"), current)
    if allocation is not None:
        allocation = lock_row(session, Allocation, allocation.id)
        own = commitments(session, allocation)
        _keep_org_and_year(allocation, own, org, year_value)
        excess = rules.overcommitted(fen, own.drawn, own.sub_allocated)
        if excess > 0:
            title = allocation_title(session, allocation)
            message = rules.shrunk_below_committed_message(title, own.total, fen)
            warnings.append(
                enforce(
                    policies, Rule.ALLOCATION_OVERCOMMITTED, allocation.code, org.id, message, excess
                )
            )
    else:
        allocation = Allocation(
            code=code_value or next_allocation_code(session, org, year_value),
            org_id=org.id,
            year=year_value,
            amount_fen=fen,
        )
    if code_value:
        allocation.code = code_value
    old_parent_id, old_org_id = allocation.parent_id, allocation.org_id
    allocation.org_id, allocation.year, allocation.amount_fen = org.id, year_value, fen
    allocation.parent_id = parent.id if parent else None
    allocation.source_note = note
    created = allocation.id is None
    session.add(allocation)
    session.flush()
    tree = set_origins(session, allocation.id)
    refresh_allocation(session, allocation.id)
    for parent_id in {old_parent_id, allocation.parent_id} - {None}:
        refresh_allocation(session, parent_id)
    moved = (old_org_id, old_parent_id) != (allocation.org_id, allocation.parent_id)
    if not created and moved:
        # Its holder level, or the origin of its whole tree, changed: so did what projects draw.
        refresh_projects_drawing_on(session, tree)
    return Saved(allocation, warnings)


def _keep_org_and_year(allocation: Allocation, own: Commitments, org: Org, year: int) -> None:
    # Draws and sub-allocations were checked against this org and year: moving the allocation
    # would leave them drawing across the tree (and could make it its own grandparent).
    if (org.id, year) == (allocation.org_id, allocation.year):
        return
    if own.projects or own.sub_allocations:
        raise Invalid(
            _(
                "Projects or sub-allocations draw on {code}: its org and year stay as they are"
            ).format(code=allocation.code),
            field="org" if org.id != allocation.org_id else "year",
        )


def _check_subs(
    session: Session, policies: Policies, parent: Allocation, amount: int, current: Commitments
) -> list[Finding]:
    excess = rules.over_parent(parent.amount_fen, current.sub_allocated + amount)
    if excess <= 0:
        return []
    message = rules.sub_over_parent_message(
        allocation_title(session, parent),
        parent.amount_fen,
        current.sub_allocated,
        current.sub_allocations,
        amount,
    )
    return [
        enforce(
            policies, Rule.SUBALLOCATIONS_OVER_PARENT, parent.code, parent.org_id, message, excess
        )
    ]


def next_allocation_code(session: Session, org: Org, year: int) -> str:
    """Return the next free code of the form <org code>-<year>-ANN."""
    number = (
        session.exec(
            select(func.count())
            .select_from(Allocation)
            .where(Allocation.org_id == org.id, Allocation.year == year)
        ).scalar_one()
        + 1
    )
    while find_allocation(session, f"{org.code}-{year}-A{number:02d}") is not None:
        number += 1
    return f"{org.code}-{year}-A{number:02d}"


def list_allocations(
    session: Session,
    *,
    scope: Org | None = None,
    year: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[Allocation, Org, Commitments]]:
    """List allocations held in scope with their org and commitments, by code, in one query."""
    # The commitments are the figures cocon.derived keeps on each row: no scan of the lines.
    statement = (
        select(Allocation, Org)
        .join(Org, Org.id == Allocation.org_id)
        .where(within(Org, scope))
        .order_by(Allocation.code)
    )
    if year is not None:
        statement = statement.where(Allocation.year == year)
    if limit is not None:  # a page of the list: the national tree holds many thousands
        statement = statement.limit(limit).offset(offset)
    return [
        (allocation, org, kept_commitments(allocation))
        for allocation, org in session.execute(statement)
    ]


def received_from_above(session: Session, allocation: Allocation, root: Org) -> bool:
    """Tell whether an allocation was passed down from an allocation held outside root's subtree."""
    if allocation.parent_id is None:
        return False
    parent = session.get(Allocation, allocation.parent_id)
    return not is_within(session.get(Org, parent.org_id), root)


def check_allocation_editable(session: Session, allocation: Allocation, root: Org) -> None:
    """Refuse to change an allocation that root's subtree received from above (name, source, amount)."""
    if received_from_above(session, allocation, root):
        raise Refused(
            _(
                "{code} was passed down to you from a higher level: only the org that passed it"
                " down may change it. You may draw on it and pass it further down."
            ).format(code=allocation.code)
        )
