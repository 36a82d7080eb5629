"""What the API reads and writes, as msgspec Structs: Litestar checks them and documents them.

Money is a decimal string in yuan ("2000000.00"), dates are ISO 8601, codes are strings.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from msgspec import Meta
from sqlmodel import Session

from cocon.models import Allocation, FundingLine, Level, Org, Payment, Project
from cocon.money import format_decimal
from cocon.project_list import ProjectTotals
from cocon.rollup import SOURCE_KEYS
from cocon.rules import funded

# What the API writes; what it reads may be written as in the forms ("200万", "2,000,000").
Money = Annotated[
    str,
    Meta(
        pattern=r"^-?[0-9]+\.[0-9]{2}$",
        description="An amount in yuan as a decimal string",
        examples=["2000000.00"],
    ),
]
Text = Annotated[str, Meta(max_length=4000)]
Count = Annotated[int, Meta(ge=0, le=2_000_000_000)]


class OrgOut(msgspec.Struct):
    """A party organization of the five-level tree."""

    code: str
    name: str
    level: str
    parent: str | None


class ProjectOut(msgspec.Struct):
    """A co-construction project with its money as the web shows it."""

    code: str
    name: str
    owner: str
    site: str
    category: str
    year: int
    status: str
    start_date: date | None
    end_date: date | None
    budget: Money
    funded: Money
    paid: Money
    funding: dict[str, Money]
    area_m2: int | None
    households_served: int | None
    description: str | None
    version: int


class ProjectTotalsOut(msgspec.Struct):
    """Count and money of every project the filters keep, not only the page."""

    count: int
    budget: Money
    funded: Money
    paid: Money


class ProjectPage(msgspec.Struct):
    """One page of the filtered, sorted projects, with the totals of the whole filtered set."""

    items: list[ProjectOut]
    page: int
    per_page: int
    pages: int
    totals: ProjectTotalsOut


class ProjectIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new project: the form's fields (owner and site by org code, the budget in yuan)."""

    name: Text
    owner: str
    site: str
    category: str
    year: int
    code: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    budget: str | None = None
    area_m2: Count | None = None
    households_served: Count | None = None
    description: Text | None = None


class ProjectPatch(msgspec.Struct, forbid_unknown_fields=True):
    """A change to a project: the version it was read at, and only the fields to change."""

    version: Annotated[int, Meta(ge=1, le=2_000_000_000)]
    name: Text | None = None
    owner: str | None = None
    site: str | None = None
    category: str | None = None
    year: int | None = None
    code: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    budget: str | None = None
    area_m2: Count | None = None
    households_served: Count | None = None
    description: Text | None = None


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    """A status change: the status to move to (submitted, approved, cancelled…) and a note."""

    to_status: str
    note: str | None = None


class ReturnIn(msgspec.Struct, forbid_unknown_fields=True):
    """A submitted project sent back to draft, with the reason for its owner."""

    reason: str


class FundingLineOut(msgspec.Struct):
    """What a project draws from one allocation, and what is paid on it."""

    allocation: str
    holder: str
    amount: Money
    paid: Money
    reversed: bool


class DrawIn(msgspec.Struct, forbid_unknown_fields=True):
    """How much the project draws from an allocation of its owner or an org above it."""

    allocation: str
    amount: str


class DrawSaved(msgspec.Struct):
    """The funding line as saved, and the warnings the money checks raised."""

    line: FundingLineOut
    warnings: list[str]


class PaymentOut(msgspec.Struct):
    """A payment on one of a project's funding lines."""

    voucher_no: str
    allocation: str
    paid_on: date
    amount: Money
    note: str | None
    awaiting_confirmation: bool
    reversed: bool
    reversal_reason: str | None


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A payment to record on the project's funding line from an allocation."""

    allocation: str
    paid_on: str
    amount: str
    voucher_no: str
    note: str | None = None


class ReverseIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why a payment is reversed (it stays listed and counts zero)."""

    reason: str


class PaymentSaved(msgspec.Struct):
    """The payment recorded, and the warnings the money checks raised (blocking ones refuse)."""

    payment: PaymentOut
    warnings: list[str]


class HoldingOut(msgspec.Struct):
    """An allocation of a tree, its holder and an amount (passed down to it, or unspent in it)."""

    code: str
    org: str
    org_name: str
    amount: Money


class OriginOut(msgspec.Struct):
    """Who put an allocation's money up: the root of its chain of sub-allocations."""

    allocation: str
    org: str
    org_name: str
    level: str


class AllocationCheckOut(msgspec.Struct):
    """One allocation an org holds, checked over its whole tree of sub-allocations."""

    code: str
    year: int
    org: str
    origin: OriginOut
    amount: Money
    passed_down: Money
    passed_to: list[HoldingOut]
    drawn_directly: Money
    drawn_downstream: Money
    drawn: Money
    unspent: Money
    unspent_at: list[HoldingOut]
    paid: Money


class RollupOut(msgspec.Struct):
    """An org's figures summed over its subtree, with its children down to the depth asked.

    funding is by source level (the level that put the money up), funding_by_holder by the
    level holding the allocation drawn on (使用/安排单位).
    """

    code: str
    name: str
    level: str
    project_count: int
    projects_by_status: dict[str, int]
    budget: Money
    funding: dict[str, Money]
    funding_by_holder: dict[str, Money]
    funded: Money
    paid: Money
    held: Money
    drawn: Money
    remaining: Money
    failing_checks: int
    allocations: list[AllocationCheckOut]
    children: list[RollupOut]


def level_key(level: int) -> str:
    """Return a level's key: province, city, district, street, community."""
    return Level(level).name.lower()


def org_out(org: Org, parent_code: str | None) -> OrgOut:
    """Return an org as the API shows it."""
    return OrgOut(org.code, org.name, level_key(org.level), parent_code)


def parent_code(org: Org) -> str | None:
    """Return the code of an org's parent, read from its path."""
    codes = org.path.strip("/").split("/")
    return codes[-2] if len(codes) > 1 else None


def project_out(session: Session, project: Project, owner: Org | None = None, site: Org | None = None) -> ProjectOut:
    """Return a project as the API shows it."""
    owner = owner or session.get(Org, project.owner_id)
    site = site or session.get(Org, project.site_id)
    drawn = [getattr(project, f"drawn_l{level}_fen") for level in range(1, 6)]
    funding = {key: format_decimal(drawn[i]) for i, key in enumerate(SOURCE_KEYS)}
    funding["partners"] = format_decimal(project.partners_fen)
    return ProjectOut(
        code=project.code,
        name=project.name,
        owner=owner.code,
        site=site.code,
        category=project.category,
        year=project.year,
        status=project.status,
        start_date=project.start_date,
        end_date=project.end_date,
        budget=format_decimal(project.budget_fen),
        funded=format_decimal(funded(project)),
        paid=format_decimal(project.paid_fen),
        funding=funding,
        area_m2=project.area_m2,
        households_served=project.households_served,
        description=project.description,
        version=project.version,
    )


def totals_out(totals: ProjectTotals) -> ProjectTotalsOut:
    """Return the totals of a filtered list as the API shows them."""
    return ProjectTotalsOut(
        totals.count,
        format_decimal(totals.budget),
        format_decimal(totals.funded),
        format_decimal(totals.paid),
    )


def line_out(line: FundingLine, allocation: Allocation, holder: Org, paid: int) -> FundingLineOut:
    """Return a funding line as the API shows it."""
    return FundingLineOut(
        allocation.code, holder.code, format_decimal(line.amount_fen), format_decimal(paid),
        line.is_reversed,
    )  # fmt: skip


def payment_out(payment: Payment, allocation_code: str) -> PaymentOut:
    """Return a payment as the API shows it."""
    return PaymentOut(
        voucher_no=payment.voucher_no,
        allocation=allocation_code,
        paid_on=payment.paid_on,
        amount=format_decimal(payment.amount_fen),
        note=payment.note,
        awaiting_confirmation=bool(payment.awaiting_confirmation),
        reversed=payment.is_reversed,
        reversal_reason=payment.reversal_reason,
    )
