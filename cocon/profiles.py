"""Community profiles and the integrated-large-community-unit standard."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlmodel import Session

from cocon.errors import Invalid
from cocon.i18n import _
from cocon.models import CommunityProfile, Level, Org, UnitType

MIN_HOUSEHOLDS = 3_000
MIN_RESIDENTS_EXCLUSIVE = 10_000
DEFAULT_FLOATING_SHARE = Decimal("0.30")


def unit_type_name(unit_type: str | None) -> str:
    """Return the translated name of a unit type."""
    names = {
        UnitType.RELOCATION_FLOW: _("relocation-flow"),
        UnitType.BUSINESS_INTEGRATION: _("business-integration"),
        UnitType.TRADITIONAL_INTEGRATION: _("traditional-integration"),
        UnitType.WHOLE_VILLAGE_REFORM: _("whole-village-reform"),
    }
    return names[UnitType(unit_type)] if unit_type else ""


def parse_unit_type(raw: str | None) -> str | None:
    """Accept a unit type by its key, or its English or Chinese name."""
    text = str(raw or "").strip()
    if not text:
        return None
    aliases = {
        UnitType.RELOCATION_FLOW: ("拆迁安置流动型", "relocation-flow", "relocation flow"),
        UnitType.BUSINESS_INTEGRATION: (
            "商住融合型",
            "business-integration",
            "business integration",
        ),
        UnitType.TRADITIONAL_INTEGRATION: (
            "传统融合型",
            "traditional-integration",
            "traditional integration",
        ),
        UnitType.WHOLE_VILLAGE_REFORM: (
            "整村改造型",
            "whole-village-reform",
            "whole village reform",
        ),
    }
    for unit_type, names in aliases.items():
        if text.lower() == unit_type.value or text.lower() in names:
            return unit_type.value
    raise Invalid(
        _("'{value}' is not a unit type: write one of {choices}").format(
            value=text, choices=" / ".join(names[0] for names in aliases.values())
        ),
        field="unit_type",
    )


def parse_count(raw: object, field: str) -> int | None:
    """Accept a whole non-negative number of people or households (empty means unknown)."""
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip().replace(",", "")
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise Invalid(
            _("'{value}' is not a whole number of 0 or more, e.g. 3200").format(value=raw),
            field=field,
        )
    return int(value)


@dataclass(frozen=True)
class Qualification:
    """Whether a community is an integrated large community unit, and why."""

    qualifies: bool
    reasons: list[str]
    floating_share: Decimal | None


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
    # Round the share down so that 29.98% reads 29.9% < 30%, never 30.0% < 30%.
    share_text = f"{(share * 100).quantize(Decimal('0.1'), rounding=ROUND_DOWN)}%"
    threshold_text = f"{(threshold * 100).normalize():f}%"
    if share >= threshold:
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
    return Qualification(large and share >= threshold, reasons, share)


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
