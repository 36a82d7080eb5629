"""Every table of cocon."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
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
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=100)
    level: int = Field(sa_column=Column(SmallInteger, nullable=False))
    parent_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    parent_level: int | None = Field(default=None, sa_column=Column(SmallInteger))
    # "/33/3301/330105/": the codes from the province down; a subtree is one index range.
    path: str = Field(sa_column=Column(PathString, nullable=False, index=True))


class CommunityProfile(SQLModel, table=True):
    """Households and residents of a community, and its type of large community unit."""

    __tablename__ = "community_profile"
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
    org_level: int = Field(default=5, sa_column=Column(SmallInteger, nullable=False))
    households: int | None = None
    permanent_residents: int | None = None
    floating_residents: int | None = None
    unit_type: str | None = Field(default=None, max_length=32)
