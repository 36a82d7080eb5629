"""Every table of cocon."""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    case,
    or_,
)
from sqlmodel import Field, SQLModel

# Paths compare byte by byte ('/' sorts just before '0'), so PostgreSQL needs the C collation.
PathString = String(120).with_variant(String(120, collation="C"), "postgresql")


class Level(IntEnum):
    """The five levels of the linkage, top down."""

    PROVINCE = 1
    CITY = 2
    DISTRICT = 3
    STREET = 4
    COMMUNITY = 5


CODE_LENGTHS = {
    Level.PROVINCE: 2,
    Level.CITY: 4,
    Level.DISTRICT: 6,
    Level.STREET: 9,
    Level.COMMUNITY: 12,
}


class UnitType(StrEnum):
    """The four types of integrated large community unit."""

    RELOCATION_FLOW = "relocation_flow"
    BUSINESS_INTEGRATION = "business_integration"
    TRADITIONAL_INTEGRATION = "traditional_integration"
    WHOLE_VILLAGE_REFORM = "whole_village_reform"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def version_column() -> Column:
    """Return a row's version counter: SQLAlchemy refuses to save over a newer version."""
    return Column("version", Integer, nullable=False, server_default="1")


class Org(SQLModel, table=True):
    """A party organization at one of the five levels, named by its division code."""

    __tablename__ = "org"
    __table_args__ = (
        UniqueConstraint("id", "level", name="uq_org_id_level"),
        ForeignKeyConstraint(
            ["parent_id", "parent_level"],
            ["org.id", "org.level"],
            name="fk_org_parent",
            ondelete="RESTRICT",
        ),
        CheckConstraint("level BETWEEN 1 AND 5", name="ck_org_level"),
        CheckConstraint(
            "(level = 1 AND parent_id IS NULL AND parent_level IS NULL)"
            " OR (level > 1 AND parent_id IS NOT NULL AND parent_level = level - 1)",
            name="ck_org_parent_one_level_up",
        ),
        CheckConstraint(
            "length(code) = CASE level WHEN 1 THEN 2 WHEN 2 THEN 4 WHEN 3 THEN 6"
            " WHEN 4 THEN 9 ELSE 12 END",
            name="ck_org_code_length",
        ),
        # Covers the rollup's read of the whole tree's shape, a much smaller scan than the table.
        Index("ix_org_tree", "id", "parent_id", "level"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=100)
    level: int = Field(sa_column=Column(SmallInteger, nullable=False))
    parent_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    parent_level: int | None = Field(default=None, sa_column=Column(SmallInteger))
    # "/33/3301/330105/": the codes from the province down; a subtree is one index range.
    path: str = Field(sa_column=Column(PathString, nullable=False, index=True))


PROFILE_VERSION = version_column()


class CommunityProfile(SQLModel, table=True):
    """Households and residents of a community, and its type of large community unit."""

    __tablename__ = "community_profile"
    __mapper_args__ = {"version_id_col": PROFILE_VERSION}
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "org_level"],
            ["org.id", "org.level"],
            name="fk_profile_org",
            ondelete="CASCADE",
        ),
        CheckConstraint("org_level = 5", name="ck_profile_community_only"),
        CheckConstraint("households IS NULL OR households >= 0", name="ck_profile_households"),
        CheckConstraint(
            "permanent_residents IS NULL OR permanent_residents >= 0",
            name="ck_profile_permanent",
        ),
        CheckConstraint(
            "floating_residents IS NULL OR floating_residents >= 0", name="ck_profile_floating"
        ),
        CheckConstraint(
            "unit_type IS NULL OR " + _in("unit_type", UnitType), name="ck_profile_unit_type"
        ),
    )

    org_id: int = Field(primary_key=True)
    version: int = Field(default=1, sa_column=PROFILE_VERSION)
    org_level: int = Field(default=5, sa_column=Column(SmallInteger, nullable=False))
    households: int | None = None
    permanent_residents: int | None = None
    floating_residents: int | None = None
    unit_type: str | None = Field(default=None, max_length=32)


class PartnerKind(StrEnum):
    """Kinds of partner unit."""

    ENTERPRISE = "enterprise"
    PUBLIC_INSTITUTION = "public_institution"
    STATE_ORGAN = "state_organ"
    SOCIAL_ORGANIZATION = "social_organization"
    SCHOOL = "school"
    HOSPITAL = "hospital"
    OTHER = "other"


class Category(StrEnum):
    """Categories of co-construction project."""

    VENUE_RENOVATION = "venue_renovation"
    ELDERLY_CARE = "elderly_care"
    CHILD_CARE = "child_care"
    CULTURE_SPORTS = "culture_sports"
    PARTY_MASS_SERVICE = "party_mass_service"
    COMMUNITY_GOVERNANCE = "community_governance"
    OTHER = "other"


class Status(StrEnum):
    """Where a project stands."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ContributionKind(StrEnum):
    """How a partner contributes."""

    CASH = "cash"
    IN_KIND = "in_kind"


PARTNER_VERSION = version_column()


class Partner(SQLModel, table=True):
    """A partner unit (共建单位) outside the hierarchy, known by its credit code."""

    __tablename__ = "partner"
    __mapper_args__ = {"version_id_col": PARTNER_VERSION}
    __table_args__ = (CheckConstraint(_in("kind", PartnerKind), name="ck_partner_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=PARTNER_VERSION)
    credit_code: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    contact: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=30)


PROJECT_VERSION = version_column()


class Project(SQLModel, table=True):
    """A co-construction project led by an org and sited in a community."""

    __tablename__ = "project"
    __mapper_args__ = {"version_id_col": PROJECT_VERSION}
    __table_args__ = (
        # Covers the rollup's one grouped scan, so it never touches the table itself.
        Index(
            "ix_project_rollup",
            "year",
            "owner_id",
            "status",
            "budget_fen",
            "drawn_l1_fen",
            "drawn_l2_fen",
            "drawn_l3_fen",
            "drawn_l4_fen",
            "drawn_l5_fen",
            "partners_fen",
            "paid_fen",
            "failing_checks",
            "holder_l1_fen",
            "holder_l2_fen",
            "holder_l3_fen",
            "holder_l4_fen",
            "holder_l5_fen",
        ),
        ForeignKeyConstraint(
            ["site_id", "site_level"], ["org.id", "org.level"], name="fk_project_site"
        ),
        CheckConstraint("site_level = 5", name="ck_project_site_community"),
        CheckConstraint(_in("category", Category), name="ck_project_category"),
        CheckConstraint(_in("status", Status), name="ck_project_status"),
        CheckConstraint("budget_fen >= 0", name="ck_project_budget"),
        CheckConstraint("area_m2 IS NULL OR area_m2 >= 0", name="ck_project_area"),
        CheckConstraint(
            "households_served IS NULL OR households_served >= 0", name="ck_project_households"
        ),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_project_year"),
        CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR end_date >= start_date",
            name="ck_project_dates",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=PROJECT_VERSION)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    owner_id: int = Field(foreign_key="org.id", index=True, ondelete="RESTRICT")
    site_id: int = Field(index=True)
    site_level: int = Field(default=5, sa_column=Column(SmallInteger, nullable=False))
    category: str = Field(max_length=32)
    year: int = Field(index=True)
    status: str = Field(default=Status.DRAFT.value, max_length=16)
    start_date: date | None = None
    end_date: date | None = None
    budget_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    area_m2: int | None = None
    households_served: int | None = None
    description: str | None = Field(default=None, sa_column=Column(Text))
    # The user who last saved it: four eyes keep them from approving it (None: the operator).
    last_edited_by_id: int | None = None
    # Kept by cocon.derived from the funding lines, contributions and payments, for fast rollups.
    # drawn_l{n}_fen: drawn on money that level put up (the origin: the root allocation of the
    # drawn allocation's sub-allocation chain); holder_l{n}_fen: drawn on allocations that level
    # holds (使用/安排单位). Both sum to the same total.
    drawn_l1_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    drawn_l2_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    drawn_l3_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    drawn_l4_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    drawn_l5_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    partners_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    paid_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    failing_checks: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )
    holder_l1_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    holder_l2_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    holder_l3_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    holder_l4_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    holder_l5_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class StatusChange(SQLModel, table=True):
    """One step in a project's status history."""

    __tablename__ = "status_change"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    changed_at: datetime
    note: str | None = Field(default=None, max_length=200)
    # Who made the change (a user's name, or the operator's cli:…); None on rows from before.
    changed_by: str | None = Field(default=None, max_length=120)
    changed_by_id: int | None = None
    # A reviewer sent it back to draft for revision; the note holds the reason.
    returned: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class Contribution(SQLModel, table=True):
    """Money or valued in-kind support a partner puts into a project."""

    __tablename__ = "contribution"
    __table_args__ = (
        UniqueConstraint("project_id", "partner_id", "kind", name="uq_contribution"),
        CheckConstraint(_in("kind", ContributionKind), name="ck_contribution_kind"),
        CheckConstraint("amount_fen > 0", name="ck_contribution_amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    partner_id: int = Field(foreign_key="partner.id", index=True, ondelete="RESTRICT")
    kind: str = Field(default=ContributionKind.CASH.value, max_length=16)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: str | None = Field(default=None, max_length=200)


ALLOCATION_VERSION = version_column()


class Allocation(SQLModel, table=True):
    """Money an org puts up for a year; a sub-allocation comes out of its parent allocation."""

    __tablename__ = "allocation"
    __mapper_args__ = {"version_id_col": ALLOCATION_VERSION}
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="ck_allocation_amount"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_allocation_year"),
        # A subtree's allocations of a year: the year, then the subtree's org ids as a list.
        Index("ix_allocation_year_org", "year", "org_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=ALLOCATION_VERSION)
    code: str = Field(max_length=40, unique=True)
    org_id: int = Field(foreign_key="org.id", index=True, ondelete="RESTRICT")
    year: int
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    parent_id: int | None = Field(
        default=None, foreign_key="allocation.id", index=True, ondelete="RESTRICT"
    )
    source_note: str | None = Field(default=None, max_length=200)
    # The root of its sub-allocation chain (itself when its org put the money up): who put the
    # money up. Kept by cocon.derived (set_origins) whenever an allocation is saved.
    origin_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    # Kept by cocon.derived from the funding lines and sub-allocations, for fast rollups.
    drawn_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    draw_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    sub_allocated_fen: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    sub_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    failing_checks: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )


FUNDING_LINE_VERSION = version_column()


class FundingLine(SQLModel, table=True):
    """A project drawing an amount from one allocation."""

    __tablename__ = "funding_line"
    __mapper_args__ = {"version_id_col": FUNDING_LINE_VERSION}
    __table_args__ = (
        UniqueConstraint("project_id", "allocation_id", name="uq_funding_line"),
        CheckConstraint("amount_fen > 0", name="ck_funding_amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=FUNDING_LINE_VERSION)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="RESTRICT")
    allocation_id: int = Field(foreign_key="allocation.id", index=True, ondelete="RESTRICT")
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    # A wrong line is reversed, never deleted: it stays listed and counts zero (counted_fen).
    reversed_at: datetime | None = None
    reversed_by: str | None = Field(default=None, max_length=120)
    reversed_by_id: int | None = None
    reversal_reason: str | None = Field(default=None, max_length=200)

    @property
    def is_reversed(self) -> bool:
        """Tell whether the line was reversed, so it draws nothing."""
        return self.reversed_at is not None

    @classmethod
    def counting(cls):
        """Return the SQL condition that a line still counts: it was not reversed."""
        return cls.reversed_at.is_(None)

    @classmethod
    def counted_fen(cls):
        """Return the SQL amount a line counts as drawn: nothing once reversed."""
        return case((cls.counting(), cls.amount_fen), else_=0)


class Payment(SQLModel, table=True):
    """Money actually paid out against a funding line."""

    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="ck_payment_amount"),)

    id: int | None = Field(default=None, primary_key=True)
    funding_line_id: int = Field(foreign_key="funding_line.id", index=True, ondelete="RESTRICT")
    paid_on: date
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    voucher_no: str = Field(max_length=40, unique=True)
    note: str | None = Field(default=None, max_length=200)
    recorded_by: str | None = Field(default=None, max_length=120)
    recorded_by_id: int | None = None
    # Above COCON_PAYMENT_SECOND_SIGNATURE_FEN a payment waits for a second finance user: until
    # then it counts nowhere as paid (see counted_fen).
    awaiting_confirmation: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    confirmed_by: str | None = Field(default=None, max_length=120)
    confirmed_by_id: int | None = None
    confirmed_at: datetime | None = None
    # A wrong payment is reversed, never deleted: it stays listed and counts zero.
    reversed_at: datetime | None = None
    reversed_by: str | None = Field(default=None, max_length=120)
    reversed_by_id: int | None = None
    reversal_reason: str | None = Field(default=None, max_length=200)

    @property
    def is_reversed(self) -> bool:
        """Tell whether the payment was reversed, so it pays nothing."""
        return self.reversed_at is not None

    @property
    def counts(self) -> bool:
        """Tell whether the payment counts as paid (the Python twin of counted_fen)."""
        return not self.awaiting_confirmation and self.reversed_at is None

    @classmethod
    def counted_fen(cls):
        """Return the SQL amount a payment counts as paid: nothing while it awaits
        confirmation or once it was reversed."""
        waits_or_reversed = or_(cls.awaiting_confirmation.is_(True), cls.reversed_at.is_not(None))
        return case((waits_or_reversed, 0), else_=cls.amount_fen)


# org_figures.figures_text: the org id and the figures in column order, as decimal text.
FIGURES_TEXT = " || ',' || ".join(
    f"CAST({name} AS TEXT)"
    for name in (
        "org_id",
        "projects",
        *(status.value for status in Status),
        "budget_fen",
        *(f"drawn_l{level}_fen" for level in range(1, 6)),
        "partners_fen",
        "paid_fen",
        "failing_checks",
        *(f"holder_l{level}_fen" for level in range(1, 6)),
    )
)


class OrgFigures(SQLModel, table=True):
    """An org's own project figures for one year, summed over the projects it owns.

    Kept by database triggers on project (migrations 0003, 0015), so every write path keeps it exact;
    the full-tree rollup reads about one row per org here instead of scanning every project,
    as the text the database generates from the row (migration 0005).
    """

    __tablename__ = "org_figures"
    # SQLite: the rows live in org order, read as stored for the whole tree, by key for a subtree.
    __table_args__ = ({"sqlite_with_rowid": False},)

    org_id: int = Field(primary_key=True)
    year: int = Field(primary_key=True)
    projects: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    draft: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    submitted: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    approved: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    in_progress: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    completed: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cancelled: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    budget_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    drawn_l1_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    drawn_l2_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    drawn_l3_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    drawn_l4_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    drawn_l5_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    partners_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    failing_checks: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    holder_l1_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    holder_l2_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    holder_l3_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    holder_l4_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    holder_l5_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # SQLite's migration generates the same text with printf, which costs less on each write.
    figures_text: str | None = Field(
        default=None, sa_column=Column(Text, Computed(FIGURES_TEXT, persisted=True))
    )


class DataRevision(SQLModel, table=True):
    """A counter every writing transaction advances: kept pages are valid while it stays."""

    __tablename__ = "data_revision"

    id: int = Field(default=1, primary_key=True)
    revision: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
