"""What the tables of cocon share: the levels, the enumerated values, paths and versions."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from sqlalchemy import Column, Integer, String

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


def one_of(column: str, values: type[StrEnum]) -> str:
    """Return the CHECK condition that column holds one of the values of an enum."""
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def version_column() -> Column:
    """Return a row's version counter: SQLAlchemy refuses to save over a newer version."""
    return Column("version", Integer, nullable=False, server_default="1")


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
