from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocon.errors import Invalid
from cocon.fields import parse_amount
from cocon.money import format_decimal, format_wan, format_yuan, to_decimal_yuan

# Far beyond any budget, and well inside the 100-character limit of typed amounts.
fen_values = st.integers(min_value=-(10**40), max_value=10**40)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("2000000", 200_000_000),
        ("2,000,000.00", 200_000_000),
        ("¥2,000,000", 200_000_000),
        ("￥2,000,000", 200_000_000),
        ("200万", 200_000_000),
        ("200万元", 200_000_000),
        ("0.02亿", 200_000_000),
        ("3亿元", 30_000_000_000),
        ("12.5万", 12_500_000),
        ("3000元", 300_000),
        ("２００万", 200_000_000),
        ("２，０００，０００．００", 200_000_000),
        ("  2000000  ", 200_000_000),
        ("\u30002000000\u3000", 200_000_000),
        ("200 万", 200_000_000),
        ("1,234", 123_400),
        ("1234.5", 123_450),
        ("0.01", 1),
        ("0", 0),
        ("+5", 500),
        ("1.23456万", 1_234_560),
        ("1.234567万", 1_234_567),
    ],
)
def test_parse_amount_accepts_typed_form(text: str, fen: int) -> None:
    assert parse_amount(text) == fen


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        (2_000_000, 200_000_000),
        (0, 0),
        (Decimal("1234.5"), 123_450),
        (Decimal("1234.500000"), 123_450),
        (Decimal("1E+3"), 100_000),
        (Decimal("-0"), 0),
        (1234.5, 123_450),
        (0.07, 7),
        (2e6, 200_000_000),
    ],
)
def test_parse_amount_accepts_number(value: int | Decimal | float, fen: int) -> None:
    assert parse_amount(value) == fen


@pytest.mark.parametrize(
    "text",
    ["1e3", "NaN", "inf", "-inf", "12..5", "12.", ".5", "1 000", "abc", "200万万", "--5", "¥¥5"],
)
def test_parse_amount_refuses_malformed_text(text: str) -> None:
    with pytest.raises(Invalid, match="is not an amount"):
        parse_amount(text)


@pytest.mark.parametrize("text", ["1,23", "12,34.5", "1,2345", "1234,567", "1,234,"])
def test_parse_amount_refuses_bad_comma_grouping(text: str) -> None:
    with pytest.raises(Invalid, match="misplaced commas"):
        parse_amount(text)


@pytest.mark.parametrize(
    "value", ["12.345", "0.001", "1.2345678万", "0.00000000001亿", Decimal("0.001"), 0.1 + 0.2]
)
def test_parse_amount_refuses_fractions_of_a_fen(value: str | Decimal | float) -> None:
    with pytest.raises(Invalid, match="fractions of a fen"):
        parse_amount(value)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN")]
)
def test_parse_amount_refuses_non_finite_number(value: float | Decimal) -> None:
    with pytest.raises(Invalid, match="is not an amount"):
        parse_amount(value)


@pytest.mark.parametrize("value", [None, True, [], b"5"])
def test_parse_amount_refuses_other_types_as_invalid(value: object) -> None:
    with pytest.raises(Invalid, match="is not an amount"):
        parse_amount(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "   ", "\u3000"])
def test_parse_amount_refuses_empty(text: str) -> None:
    with pytest.raises(Invalid, match="empty"):
        parse_amount(text)


@pytest.mark.parametrize("value", ["-5", "-¥5", "¥-5", "－5", -5, Decimal("-0.01")])
def test_parse_amount_refuses_negative_by_default(value: str | int | Decimal) -> None:
    with pytest.raises(Invalid, match="is negative"):
        parse_amount(value)


@pytest.mark.parametrize(
    ("value", "fen"),
    [("-5", -500), ("-¥1,234.50", -123_450), ("¥-5", -500), ("-12.5万", -12_500_000), (-5, -500)],
)
def test_parse_amount_accepts_negative_when_allowed(value: str | int, fen: int) -> None:
    assert parse_amount(value, allow_negative=True) == fen


@pytest.mark.parametrize("value", ["0", "0.00", "¥0", "-0", 0, Decimal("0.00")])
def test_parse_amount_refuses_zero_when_not_allowed(value: str | int | Decimal) -> None:
    with pytest.raises(Invalid, match="is zero"):
        parse_amount(value, allow_zero=False)


def test_parse_amount_refuses_overlong_text() -> None:
    with pytest.raises(Invalid, match="too long"):
        parse_amount("9" * 101)


def test_parse_amount_refuses_huge_decimal() -> None:
    with pytest.raises(Invalid, match="too large"):
        parse_amount(Decimal("1E+999999999"))


def test_parse_amount_refuses_tiny_decimal_quickly() -> None:
    with pytest.raises(Invalid, match="fractions of a fen"):
        parse_amount(Decimal("1E-999999999"))


def test_parse_amount_error_shows_value_and_accepted_form() -> None:
    with pytest.raises(Invalid) as caught:
        parse_amount("12..5")
    assert caught.value.message == "'12..5' is not an amount; write e.g. 125000 or 12.5万"


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (200_000_000, "¥2,000,000.00"),
        (-123_450, "-¥1,234.50"),
        (0, "¥0.00"),
        (5, "¥0.05"),
        (-5, "-¥0.05"),
        (99_999, "¥999.99"),
    ],
)
def test_format_yuan_groups_with_two_decimals(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


def test_format_yuan_omits_symbol_on_request() -> None:
    assert format_yuan(-123_450, symbol=False) == "-1,234.50"


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (200_000_000, "200.00"),
        (1_234_567, "1.23"),
        (1_235_000, "1.24"),
        (1_234_999, "1.23"),
        (-1_235_000, "-1.24"),
        (-4_999, "0.00"),
        (123_456_789_000_000, "123,456,789.00"),
    ],
)
def test_format_wan_rounds_half_up_to_two_decimals(fen: int, text: str) -> None:
    assert format_wan(fen) == text


@pytest.mark.parametrize(
    ("fen", "text"), [(200_000_000, "2000000.00"), (-123_450, "-1234.50"), (0, "0.00"), (7, "0.07")]
)
def test_format_decimal_writes_plain_yuan(fen: int, text: str) -> None:
    assert format_decimal(fen) == text


@pytest.mark.parametrize(
    ("fen", "yuan"), [(200_000_000, "2000000.00"), (-5, "-0.05"), (0, "0.00"), (10**30, "1E+28")]
)
def test_to_decimal_yuan_is_exact_with_two_places(fen: int, yuan: str) -> None:
    value = to_decimal_yuan(fen)
    assert value == Decimal(yuan)
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize("func", [format_yuan, format_wan, format_decimal, to_decimal_yuan])
@pytest.mark.parametrize("value", [1.5, Decimal(5), True])
def test_formatters_refuse_non_int_fen(func: Callable[[int], object], value: object) -> None:
    with pytest.raises(TypeError):
        func(value)  # type: ignore[arg-type]


@given(fen_values)
def test_parse_amount_round_trips_format_yuan(fen: int) -> None:
    assert parse_amount(format_yuan(fen), allow_negative=True) == fen


@given(fen_values)
def test_parse_amount_round_trips_format_yuan_without_symbol(fen: int) -> None:
    assert parse_amount(format_yuan(fen, symbol=False), allow_negative=True) == fen


@given(fen_values)
def test_parse_amount_round_trips_format_decimal(fen: int) -> None:
    assert parse_amount(format_decimal(fen), allow_negative=True) == fen


@given(fen_values)
def test_parse_amount_round_trips_to_decimal_yuan(fen: int) -> None:
    assert parse_amount(to_decimal_yuan(fen), allow_negative=True) == fen


@given(fen_values)
def test_to_decimal_yuan_agrees_with_format_decimal(fen: int) -> None:
    assert to_decimal_yuan(fen) == Decimal(format_decimal(fen))


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_parse_amount_round_trips_format_wan_of_whole_hundredths(hundredths: int) -> None:
    fen = hundredths * 10_000
    assert parse_amount(format_wan(fen) + "万", allow_negative=True) == fen


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=0, max_value=6))
def test_parse_amount_of_wan_is_exact(digits: int, places: int) -> None:
    # Up to 6 decimals of 万 is at most 2 decimals of yuan, so every such value is exact.
    wan = Decimal(f"{digits}E-{places}")
    assert parse_amount(f"{wan:f}万") == digits * 10 ** (6 - places)


@given(st.integers(min_value=1, max_value=10**30), st.integers(min_value=7, max_value=12))
def test_parse_amount_of_wan_refuses_fractions_of_a_fen(digits: int, places: int) -> None:
    # Strip trailing zeros so the value really has more than 6 decimals of 万.
    while digits % 10 == 0:
        digits //= 10
    wan = Decimal(f"{digits}E-{places}")
    with pytest.raises(Invalid, match="fractions of a fen"):
        parse_amount(f"{wan:f}万")


@given(fen_values)
def test_format_wan_is_within_half_a_hundredth(fen: int) -> None:
    hundredths_of_wan = int(format_wan(fen).replace(",", "").replace(".", ""))
    assert abs(hundredths_of_wan * 10_000 - fen) <= 5_000
