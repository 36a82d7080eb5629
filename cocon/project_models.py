"""The tables of projects: the project, its status history and what partners put into it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from cocon.model_types import Category, ContributionKind, Status, one_of, version_column

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
        CheckConstraint(one_of("category", Category), name="ck_project_category"),
        CheckConstraint(one_of("status", Status), name="ck_project_status"),
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
        CheckConstraint(one_of("kind", ContributionKind), name="ck_contribution_kind"),
        CheckConstraint("amount_fen > 0", name="ck_contribution_amount"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    partner_id: int = Field(foreign_key="partner.id", index=True, ondelete="RESTRICT")
    kind: str = Field(default=ContributionKind.CASH.value, max_length=16)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: str | None = Field(default=None, max_length=200)
