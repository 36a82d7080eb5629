"""Every table of cocon: the org tree, community profiles, partners and the rollup's figures here,
projects in cocon.project_models, money in cocon.money_models; all importable from here."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from cocon.model_types import (
    CODE_LENGTHS,
    Category,
    ContributionKind,
    Level,
    PartnerKind,
    PathString,
    Status,
    UnitType,
    one_of,
    version_column,
)
from cocon.money_models import Allocation, FundingLine, Payment, Reversible
from cocon.project_models import Contribution, Project, StatusChange

__all__ = [
    "CODE_LENGTHS",
    "Allocation",
    "Category",
    "CommunityProfile",
    "Contribution",
    "ContributionKind",
    "DataRevision",
    "FundingLine",
    "Level",
    "Org",
    "OrgFigures",
    "Partner",
    "PartnerKind",
    "PathString",
    "Payment",
    "Project",
    "Reversible",
    "SQLModel",
    "Status",
    "StatusChange",
    "UnitType",
    "version_column",
]


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
            "unit_type IS NULL OR " + one_of("unit_type", UnitType), name="ck_profile_unit_type"
        ),
    )

    org_id: int = Field(primary_key=True)
    version: int = Field(default=1, sa_column=PROFILE_VERSION)
    org_level: int = Field(default=5, sa_column=Column(SmallInteger, nullable=False))
    households: int | None = None
    permanent_residents: int | None = None
    floating_residents: int | None = None
    unit_type: str | None = Field(default=None, max_length=32)


PARTNER_VERSION = version_column()


class Partner(SQLModel, table=True):
    """A partner unit (共建单位) outside the hierarchy, known by its credit code."""

    __tablename__ = "partner"
    __mapper_args__ = {"version_id_col": PARTNER_VERSION}
    __table_args__ = (CheckConstraint(one_of("kind", PartnerKind), name="ck_partner_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=PARTNER_VERSION)
    credit_code: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    contact: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=30)


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

    Kept by database triggers on project (migrations 0003, 0014), so every write path keeps it exact;
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
