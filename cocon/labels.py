"""Names of the enumerated values in the user's language, and parsing them back."""

from __future__ import annotations

from enum import StrEnum
from functools import cache

from cocon.errors import Invalid
from cocon.i18n import N_, _, translations
from cocon.models import Category, ContributionKind, PartnerKind, Status, UnitType

LABELS: list[tuple[StrEnum, str]] = [
    (PartnerKind.ENTERPRISE, N_("enterprise")),
    (PartnerKind.PUBLIC_INSTITUTION, N_("public institution")),
    (PartnerKind.STATE_ORGAN, N_("state organ")),
    (PartnerKind.SOCIAL_ORGANIZATION, N_("social organization")),
    (PartnerKind.SCHOOL, N_("school")),
    (PartnerKind.HOSPITAL, N_("hospital")),
    (PartnerKind.OTHER, N_("other")),
    (Category.VENUE_RENOVATION, N_("venue renovation")),
    (Category.ELDERLY_CARE, N_("elderly care")),
    (Category.CHILD_CARE, N_("child care")),
    (Category.CULTURE_SPORTS, N_("culture and sports")),
    (Category.PARTY_MASS_SERVICE, N_("party-mass service")),
    (Category.COMMUNITY_GOVERNANCE, N_("community governance")),
    (Category.OTHER, N_("other")),
    (Status.DRAFT, N_("draft")),
    (Status.SUBMITTED, N_("submitted")),
    (Status.APPROVED, N_("approved")),
    (Status.IN_PROGRESS, N_("in progress")),
    (Status.COMPLETED, N_("completed")),
    (Status.CANCELLED, N_("cancelled")),
    (ContributionKind.CASH, N_("cash")),
    (ContributionKind.IN_KIND, N_("in kind (valued)")),
    (UnitType.RELOCATION_FLOW, N_("relocation and floating population")),
    (UnitType.BUSINESS_INTEGRATION, N_("business and residential mix")),
    (UnitType.TRADITIONAL_INTEGRATION, N_("traditional integration")),
    (UnitType.WHOLE_VILLAGE_REFORM, N_("whole-village redevelopment")),
]


def _label_of(member: StrEnum) -> str:
    # Members of different enums can be equal strings ("other"): match the class too.
    return next(text for key, text in LABELS if key is member)


def label(enum_class: type[StrEnum], value: str | None) -> str:
    """Return the name of value in the current language ('' for none)."""
    if not value:
        return ""
    return _(_label_of(enum_class(value)))


def choices(enum_class: type[StrEnum]) -> list[tuple[str, str]]:
    """Return (value, name) pairs of an enumeration in the current language."""
    return [(member.value, _(_label_of(member))) for member in enum_class]


@cache
def _spellings(enum_class: type[StrEnum]) -> dict[str, str]:
    """Map every accepted spelling of an enumeration's members (lower case) to its value."""
    spellings = {}
    for member in enum_class:
        english = _label_of(member)
        chinese = translations("zh_CN").gettext(english)
        # The key with spaces or hyphens too: older workbooks wrote whole-village-reform.
        keys = (member.value.replace("_", " "), member.value.replace("_", "-"))
        for text in (member.value, english, chinese, *keys):
            spellings[text.lower()] = member.value
    return spellings


def parse_choice(enum_class: type[StrEnum], raw: object, field: str) -> str:
    """Accept an enumerated value by its key, English name or Chinese name."""
    text = str(raw or "").strip()
    found = _spellings(enum_class).get(text.lower())
    if found is not None:
        return found
    raise Invalid(
        _("'{value}' is not one of: {choices}").format(
            value=text, choices=" / ".join(name for _value, name in choices(enum_class))
        ),
        field=field,
    )


# Sentence case: they head table columns and rows.
SOURCE_LABELS: dict[str, str] = {
    "province": N_("Province funds"),
    "city": N_("City funds"),
    "district": N_("District funds"),
    "street": N_("Street funds"),
    "community": N_("Community funds"),
    "partners": N_("Partner contributions"),
}


def source_label(key: str) -> str:
    """Return the name of a funding source level in the current language."""
    return _(SOURCE_LABELS[key])
