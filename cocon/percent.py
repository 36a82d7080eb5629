"""Shares shown as percentages: exact, with integers, rounded half up; one helper for every page."""

from __future__ import annotations

from decimal import Decimal

# Enough places to tell any share a page shows from a threshold it is compared with.
MAX_PLACES = 9


def _rounded(part: int, whole: int, places: int) -> int:
    """Return part / whole in units of 10**-places percent, rounded half up (away from zero)."""
    numerator = abs(part) * 100 * 10**places
    units, rest = divmod(numerator, abs(whole))
    if rest * 2 >= abs(whole):
        units += 1
    return -units if (part < 0) != (whole < 0) and units else units


def _shown(units: int, places: int) -> str:
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}%" if places else f"{sign}{whole}%"


def percent(part: int, whole: int, places: int = 1) -> str:
    """Show part / whole as a percentage, e.g. 3,470 of 9,860 as 35.2% (— when whole is 0)."""
    if not whole:
        return "—"
    return _shown(_rounded(part, whole, places), places)


def percent_beside(part: int, whole: int, threshold: Decimal, places: int = 1) -> str:
    """Show part / whole like percent, with more places where rounding would reach threshold.

    29.98% shown beside a threshold of 30% reads 29.98%, never 30.0% (which would seem to meet
    it); a share that meets the threshold never reads below it either.
    """
    if not whole:
        return "—"
    numerator, denominator = threshold.as_integer_ratio()
    below = part * denominator < numerator * whole
    for shown_places in range(places, MAX_PLACES + 1):
        units = _rounded(part, whole, shown_places)
        # Compared with the threshold in the same units, the figure shown tells the truth.
        reaches = units * denominator >= numerator * 100 * 10**shown_places
        if reaches != below:
            break
    return _shown(units, shown_places)
