"""Rollups: every org's figures over its subtree, for all nodes at once in a fixed number of queries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.models import Allocation, Contribution, FundingLine, Level, Org, Payment, Project, Status
from cocon.money import format_decimal
from cocon.scope import allocation_scope, project_scope, within

LEVELS = tuple(int(level) for level in Level)
# A gap is a problem once a project is approved; a surplus always is, unless it was cancelled.
GAP_STATUSES = (Status.APPROVED.value, Status.IN_PROGRESS.value, Status.COMPLETED.value)


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


def own_figures(session: Session, root: Org | None, year: int | None) -> dict[int, Figures]:
    """Compute each org's own figures with one grouped query per kind of money."""
    figures: dict[int, Figures] = {}

    def of(org_id: int) -> Figures:
        found = figures.get(org_id)
        if found is None:
            found = figures[org_id] = Figures()
        return found

    projects = project_scope(
        select(
            Project.owner_id, Project.status, func.count(), func.sum(Project.budget_fen)
        ).group_by(Project.owner_id, Project.status),
        root,
        year,
    )
    for owner_id, status, count, budget in session.execute(projects):
        figures_of = of(owner_id)
        figures_of.projects[status] += count
        figures_of.budget += int(budget or 0)

    source_org = aliased(Org)
    funding = project_scope(
        select(Project.owner_id, source_org.level, func.sum(FundingLine.amount_fen))
        .select_from(FundingLine)
        .join(Project, Project.id == FundingLine.project_id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .join(source_org, source_org.id == Allocation.org_id)
        .group_by(Project.owner_id, source_org.level),
        root,
        year,
    )
    for owner_id, level, amount in session.execute(funding):
        of(owner_id).funding_by_level[level - 1] += int(amount)

    partners = project_scope(
        select(Project.owner_id, func.sum(Contribution.amount_fen))
        .select_from(Contribution)
        .join(Project, Project.id == Contribution.project_id)
        .group_by(Project.owner_id),
        root,
        year,
    )
    for owner_id, amount in session.execute(partners):
        of(owner_id).partners += int(amount)

    paid = project_scope(
        select(Project.owner_id, func.sum(Payment.amount_fen))
        .select_from(Payment)
        .join(FundingLine, FundingLine.id == Payment.funding_line_id)
        .join(Project, Project.id == FundingLine.project_id)
        .group_by(Project.owner_id),
        root,
        year,
    )
    for owner_id, amount in session.execute(paid):
        of(owner_id).paid += int(amount)

    # Held counts each yuan once: an org's allocations minus what it passed down below itself.
    held = allocation_scope(
        select(Allocation.org_id, func.sum(Allocation.amount_fen)).group_by(Allocation.org_id),
        aliased(Org),
        root,
        year,
    )
    for org_id, amount in session.execute(held):
        of(org_id).held += int(amount)
    parent = aliased(Allocation)
    passed_down = allocation_scope(
        select(parent.org_id, func.sum(Allocation.amount_fen))
        .select_from(Allocation)
        .join(parent, parent.id == Allocation.parent_id)
        .group_by(parent.org_id),
        aliased(Org),
        root,
        year,
        allocation=parent,
    )
    for org_id, amount in session.execute(passed_down):
        of(org_id).held -= int(amount)

    drawn = allocation_scope(
        select(Allocation.org_id, func.sum(FundingLine.amount_fen))
        .select_from(FundingLine)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .group_by(Allocation.org_id),
        aliased(Org),
        root,
        year,
    )
    for org_id, amount in session.execute(drawn):
        of(org_id).drawn += int(amount)

    for org_id, count in failing_counts(session, root, year).items():
        of(org_id).failing += count
    return figures


def failing_counts(session: Session, root: Org | None, year: int | None) -> Counter:
    """Count the failing checks per org (by allocation org, or by project owner)."""
    from cocon.findings import failing_rows

    counts: Counter = Counter()
    for row in failing_rows(session, root, year):
        counts[row.org_id] += 1
    return counts


def rollup_tree(
    session: Session, root: Org | None = None, year: int | None = None, depth: int | None = None
) -> list[RollupNode]:
    """Return the subtree of root (or every province) with each node's own and total figures."""
    top = root.level if root is not None else Level.PROVINCE
    statement = (
        select(Org.id, Org.code, Org.name, Org.level, Org.parent_id)
        .where(within(Org, root))
        .order_by(Org.path)
    )
    nodes = {row[0]: RollupNode(*row) for row in session.execute(statement)}
    for org_id, figures in own_figures(session, root, year).items():
        node = nodes.get(org_id)
        if node is not None:
            node.own = figures
    # Deepest first, so each node is complete before it is added into its parent.
    for node in sorted(nodes.values(), key=lambda n: -n.level):
        node.total.add(node.own)
        parent = nodes.get(node.parent_id)
        if parent is not None:
            parent.total.add(node.total)
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id)
        if parent is None:
            roots.append(node)
        elif depth is None or node.level - top <= depth:
            parent.children.append(node)
    return roots


def rollup_org(session: Session, org: Org, year: int | None = None) -> RollupNode:
    """Return one org's rollup with its direct children."""
    return rollup_tree(session, org, year, depth=1)[0]


SOURCE_KEYS = ("province", "city", "district", "street", "community")


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
        "projects_by_status": {
            status.value: total.projects.get(status.value, 0) for status in Status
        },
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
