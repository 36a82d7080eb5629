"""Each allocation checked as finance checks Gongshu's ¥2,000,000: what it put up, what it passed
down and to whom, what was drawn on it directly and downstream, what is unspent where, and what
was paid out of it.

Downstream means through its sub-allocations at any depth: every allocation whose chain of
parents reaches it. All of a tree shares one origin (Allocation.origin_id), so one query reads
every tree asked about.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlmodel import Session

from cocon.db import in_list
from cocon.models import Allocation, FundingLine, Level, Org, Payment
from cocon.money import format_decimal

CHUNK = 5000


@dataclass(frozen=True)
class Holding:
    """An allocation of the tree and the org that holds it, with an amount (passed or unspent)."""

    code: str
    org_code: str
    org_name: str
    amount: int


@dataclass
class AllocationReport:
    """One allocation with the figures of its whole tree of sub-allocations."""

    id: int
    code: str
    year: int
    org_code: str
    org_name: str
    origin_code: str
    origin_org_code: str
    origin_org_name: str
    origin_level: int
    amount: int
    passed_down: int = 0
    passed_to: list[Holding] = field(default_factory=list)
    drawn_directly: int = 0
    drawn_downstream: int = 0
    # Each allocation of the tree keeps what it neither passed down nor had drawn on it.
    unspent: int = 0
    unspent_at: list[Holding] = field(default_factory=list)
    paid: int = 0

    @property
    def drawn(self) -> int:
        """Return what projects drew on it, directly and downstream."""
        return self.drawn_directly + self.drawn_downstream


@dataclass(frozen=True)
class _Node:
    id: int
    code: str
    year: int
    parent_id: int | None
    origin_id: int
    amount: int
    drawn: int
    sub_allocated: int
    org_code: str
    org_name: str
    org_level: int

    @property
    def unspent(self) -> int:
        return self.amount - self.drawn - self.sub_allocated


def allocation_reports(session: Session, allocation_ids: Iterable[int]) -> dict[int, AllocationReport]:
    """Return the report of each allocation, by id, reading each tree involved once."""
    connection = session.connection()
    wanted = sorted(set(allocation_ids))
    origins: set[int] = set()
    for chunk in _chunks(wanted):
        origins.update(
            connection.execute(
                select(func.coalesce(Allocation.origin_id, Allocation.id)).where(
                    in_list(connection, Allocation.id, chunk)
                )
            ).scalars()
        )
    nodes: dict[int, _Node] = {}
    for chunk in _chunks(origins):
        origin = func.coalesce(Allocation.origin_id, Allocation.id)
        for row in connection.execute(
            select(
                Allocation.id,
                Allocation.code,
                Allocation.year,
                Allocation.parent_id,
                origin,
                Allocation.amount_fen,
                Allocation.drawn_fen,
                Allocation.sub_allocated_fen,
                Org.code,
                Org.name,
                Org.level,
            )
            .join(Org, Org.id == Allocation.org_id)
            .where(in_list(connection, origin, chunk))
        ):
            nodes[row[0]] = _Node(*row)
    paid: dict[int, int] = defaultdict(int)
    for chunk in _chunks(nodes):
        for allocation_id, amount in connection.execute(
            select(FundingLine.allocation_id, func.sum(Payment.counted_fen()))
            .join(FundingLine, FundingLine.id == Payment.funding_line_id)
            .where(in_list(connection, FundingLine.allocation_id, chunk))
            .group_by(FundingLine.allocation_id)
        ):
            paid[allocation_id] = int(amount)
    children: dict[int, list[_Node]] = defaultdict(list)
    for node in sorted(nodes.values(), key=lambda n: n.code):
        if node.parent_id is not None:
            children[node.parent_id].append(node)
    return {
        allocation_id: _report(nodes[allocation_id], nodes, children, paid)
        for allocation_id in wanted
        if allocation_id in nodes
    }


def _report(
    top: _Node, nodes: dict[int, _Node], children: dict[int, list[_Node]], paid: dict[int, int]
) -> AllocationReport:
    origin = nodes[top.origin_id]
    report = AllocationReport(
        id=top.id,
        code=top.code,
        year=top.year,
        org_code=top.org_code,
        org_name=top.org_name,
        origin_code=origin.code,
        origin_org_code=origin.org_code,
        origin_org_name=origin.org_name,
        origin_level=origin.org_level,
        amount=top.amount,
        passed_down=top.sub_allocated,
        passed_to=[_holding(child, child.amount) for child in children[top.id]],
        drawn_directly=top.drawn,
    )
    pending = [top]
    while pending:
        node = pending.pop()
        if node is not top:
            report.drawn_downstream += node.drawn
        report.unspent += node.unspent
        if node.unspent:
            report.unspent_at.append(_holding(node, node.unspent))
        report.paid += paid.get(node.id, 0)
        pending.extend(reversed(children[node.id]))
    return report


def _holding(node: _Node, amount: int) -> Holding:
    return Holding(node.code, node.org_code, node.org_name, amount)


def reports_of_orgs(
    session: Session, org_ids: Iterable[int], year: int | None = None
) -> dict[int, list[AllocationReport]]:
    """Return the reports of the allocations each org holds itself (of a year), by org id."""
    connection = session.connection()
    held: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(org_ids):
        statement = select(Allocation.id, Allocation.org_id).where(
            in_list(connection, Allocation.org_id, chunk)
        )
        if year is not None:
            statement = statement.where(Allocation.year == year)
        for allocation_id, org_id in connection.execute(statement.order_by(Allocation.code)):
            held[org_id].append(allocation_id)
    reports = allocation_reports(session, [a for ids in held.values() for a in ids])
    return {org_id: [reports[a] for a in ids] for org_id, ids in held.items()}


def report_to_dict(report: AllocationReport) -> dict:
    """Return a report as plain data, money as decimal strings in yuan."""

    def holdings(rows: list[Holding]) -> list[dict]:
        return [
            {
                "code": row.code,
                "org": row.org_code,
                "org_name": row.org_name,
                "amount": format_decimal(row.amount),
            }
            for row in rows
        ]

    return {
        "code": report.code,
        "year": report.year,
        "org": report.org_code,
        "origin": {
            "allocation": report.origin_code,
            "org": report.origin_org_code,
            "org_name": report.origin_org_name,
            "level": Level(report.origin_level).name.lower(),
        },
        "amount": format_decimal(report.amount),
        "passed_down": format_decimal(report.passed_down),
        "passed_to": holdings(report.passed_to),
        "drawn_directly": format_decimal(report.drawn_directly),
        "drawn_downstream": format_decimal(report.drawn_downstream),
        "drawn": format_decimal(report.drawn),
        "unspent": format_decimal(report.unspent),
        "unspent_at": holdings(report.unspent_at),
        "paid": format_decimal(report.paid),
    }


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]
