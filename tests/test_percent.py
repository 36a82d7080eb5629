"""Shares as percentages: exact integer arithmetic, rounded half up, one helper everywhere."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cocon.percent import percent, percent_beside


@pytest.mark.parametrize(
    ("part", "whole", "places", "shown"),
    [
        (3470, 9860, 1, "35.2%"),  # 35.19…%: truncating would read 35.1%
        (1, 16, 1, "6.3%"),  # 6.25% exactly: half up, not to even, not down
        (1, 8, 0, "13%"),  # 12.5%
        (3, 8, 1, "37.5%"),
        (2, 3, 1, "66.7%"),
        (0, 5, 1, "0.0%"),
        (5, 5, 1, "100.0%"),
        (10**30 + 5, 2 * 10**31, 1, "5.0%"),  # no float could hold these
        (7, 0, 1, "—"),
    ],
)
def test_percent_rounds_half_up_exactly(part, whole, places, shown):
    assert percent(part, whole, places) == shown


@pytest.mark.parametrize(
    ("part", "whole", "threshold", "shown"),
    [
        (1499, 5000, "0.30", "29.98%"),  # rounded to 30.0% it would seem to meet 30%
        (29_999_999, 100_000_000, "0.30", "29.999999%"),
        (1500, 5000, "0.30", "30.0%"),
        (3004, 10_000, "0.3004", "30.04%"),  # meets it: never reads below it
        (3470, 9860, "0.30", "35.2%"),
    ],
)
def test_percent_beside_a_threshold_tells_the_truth(part, whole, threshold, shown):
    assert percent_beside(part, whole, Decimal(threshold)) == shown
