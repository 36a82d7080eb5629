"""The money rules: which are blocking and which warn, and what a failing check says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cocon.errors import Refused


class Rule(StrEnum):
    """The checks finance relies on."""

    ALLOCATION_OVERCOMMITTED = "allocation_overcommitted"
    SUBALLOCATIONS_OVER_PARENT = "suballocations_over_parent"
    PAYMENT_OVER_DRAWN = "payment_over_drawn"
    FUNDING_VS_BUDGET = "funding_vs_budget"
    DATES_OUTSIDE_YEAR = "dates_outside_year"


BLOCK, WARN = "block", "warn"
DEFAULT_POLICIES: dict[Rule, str] = {
    Rule.ALLOCATION_OVERCOMMITTED: BLOCK,
    Rule.SUBALLOCATIONS_OVER_PARENT: BLOCK,
    Rule.PAYMENT_OVER_DRAWN: BLOCK,
    Rule.FUNDING_VS_BUDGET: WARN,
    Rule.DATES_OUTSIDE_YEAR: WARN,
}


@dataclass(frozen=True)
class Policies:
    """Whether each rule blocks a write or only warns."""

    overrides: Mapping[str, str]

    def __post_init__(self) -> None:
        for key, value in self.overrides.items():
            if key not in {r.value for r in Rule}:
                raise ValueError(
                    f"COCON_CHECK_{key.upper()} names no check; known: "
                    + ", ".join(r.value.upper() for r in Rule)
                )
            if value not in (BLOCK, WARN):
                raise ValueError(
                    f"COCON_CHECK_{key.upper()} must be 'block' or 'warn', not {value!r}"
                )

    def of(self, rule: Rule) -> str:
        """Return 'block' or 'warn' for rule."""
        return self.overrides.get(rule.value, DEFAULT_POLICIES[rule])

    def blocks(self, rule: Rule) -> bool:
        """Tell whether rule stops a write."""
        return self.of(rule) == BLOCK


DEFAULT = Policies({})


@dataclass(frozen=True)
class Finding:
    """One failing check: which rule, how severe, about what, and by how much."""

    rule: Rule
    severity: str
    subject: str
    org_id: int | None
    message: str
    excess_fen: int = 0


class Blocked(Refused):
    """A blocking check failed; nothing was saved."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def enforce(
    policies: Policies, rule: Rule, subject: str, org_id: int | None, message: str, excess: int
) -> Finding:
    """Raise Blocked if rule blocks; otherwise return the warning to show."""
    finding = Finding(rule, policies.of(rule), subject, org_id, message, excess)
    if finding.severity == BLOCK:
        raise Blocked(finding)
    return finding
