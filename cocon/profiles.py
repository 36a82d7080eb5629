"""Community profiles and the integrated-large-community-unit standard."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from cocon.errors import Invalid
from cocon.i18n import _
from cocon.labels import choices, label, parse_choice
from cocon.models import CommunityProfile, Level, Org, UnitType
from cocon.percent import percent, percent_beside

MIN_HOUSEHOLDS = 3_000
MIN_RESIDENTS_EXCLUSIVE = 10_000
DEFAULT_FLOATING_SHARE = Decimal("0.30")


def unit_type_name(unit_type: str | None) -> str:
    """Return the translated name of a unit type ('' for none)."""
    return label(UnitType, unit_type)


def parse_unit_type(raw: str | None) -> str | None:
    """Accept a unit type by its key, or its English or Chinese name (None when empty)."""
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return parse_choice(UnitType, text, "unit_type")
    except Invalid:
        names = " / ".join(name for _value, name in choices(UnitType))
        raise Invalid(
            _("'{value}' is not a unit type: write one of {choices}").format(
                value=text, choices=names
            ),
            field="unit_type",
        ) from None


@dataclass(frozen=True)
class Qualification:
    """Whether a community is an integrated large community unit, and why."""

    qualifies: bool
    reasons: list[str]
    floating_share: Decimal | None
    # The share as every page shows it (see cocon.percent): 35.2%, or — when unknown.
    share_shown: str = "—"


def qualify(
    profile: CommunityProfile | None, threshold: Decimal = DEFAULT_FLOATING_SHARE
) -> Qualification:
    """Apply the standard: 3,000+ households or 10,000+ residents, and a high floating share."""
    if profile is None or profile.permanent_residents is None:
        return Qualification(False, [_("no resident figures yet")], None)
    households = profile.households or 0
    residents = profile.permanent_residents
    floating = profile.floating_residents or 0
    share = (Decimal(floating) / Decimal(residents)) if residents else Decimal(0)
    numerator, denominator = threshold.as_integer_ratio()
    # Compared exactly, in integers: floating / residents ≥ numerator / denominator.
    high_share = bool(residents) and floating * denominator >= numerator * residents
    reasons = []
    large = households >= MIN_HOUSEHOLDS or residents > MIN_RESIDENTS_EXCLUSIVE
    if households >= MIN_HOUSEHOLDS:
        reasons.append(_("{households:,} households ≥ 3,000").format(households=households))
    elif residents > MIN_RESIDENTS_EXCLUSIVE:
        reasons.append(_("{residents:,} permanent residents > 10,000").format(residents=residents))
    else:
        reasons.append(
            _(
                "{households:,} households < 3,000 and {residents:,} permanent residents ≤ 10,000"
            ).format(households=households, residents=residents)
        )
    # Beside the threshold a share near it gets more places: 29.98% < 30%, never 30.0% < 30%.
    share_text = percent_beside(floating, residents, threshold) if residents else percent(0, 1)
    threshold_text = f"{(threshold * 100).normalize():f}%"
    if high_share:
        reasons.append(
            _("floating share {share} ≥ {threshold}").format(
                share=share_text, threshold=threshold_text
            )
        )
    else:
        reasons.append(
            _("floating share {share} < {threshold}").format(
                share=share_text, threshold=threshold_text
            )
        )
    shown = share_text if residents else "—"
    return Qualification(large and high_share, reasons, share, shown)


def get_profile(session: Session, org: Org) -> CommunityProfile | None:
    """Return a community's profile, if it has one."""
    return session.get(CommunityProfile, org.id)


def set_profile(
    session: Session,
    org: Org,
    *,
    households: int | None,
    permanent_residents: int | None,
    floating_residents: int | None,
    unit_type: str | None,
) -> CommunityProfile:
    """Create or replace the profile of a community."""
    if org.level != Level.COMMUNITY:
        raise Invalid(
            _("Only communities have profiles; {name} ({code}) is not a community").format(
                name=org.name, code=org.code
            )
        )
    profile = session.get(CommunityProfile, org.id) or CommunityProfile(
        org_id=org.id, org_level=org.level
    )
    profile.households = households
    profile.permanent_residents = permanent_residents
    profile.floating_residents = floating_residents
    profile.unit_type = unit_type
    session.add(profile)
    session.flush()
    return profile
