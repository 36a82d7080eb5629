import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocon.creditcode import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    normalize_credit_code,
    validate_credit_code,
)
from cocon.errors import Invalid

# Published codes whose check characters agree with both GB 32100 (18th character) and
# GB 11714 (the organization code in positions 9-17), so they are not typing errors.
REAL_CODES = [
    "914403001922038216",  # 华为技术有限公司
    "91110000802100433B",  # 北京百度网讯科技有限公司
    "91350100M000100Y43",  # the worked example of GB 32100-2015
]

bodies = st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=17, max_size=17)


def _valid(body: str) -> str:
    return body + credit_code_check_char(body)


@pytest.mark.parametrize("code", REAL_CODES)
def test_validate_credit_code_accepts_real_code(code: str) -> None:
    assert validate_credit_code(code) == code


@pytest.mark.parametrize(("first17", "check"), [(code[:17], code[17]) for code in REAL_CODES])
def test_credit_code_check_char_matches_real_code(first17: str, check: str) -> None:
    assert credit_code_check_char(first17) == check


def test_credit_code_check_char_maps_remainder_zero_to_zero() -> None:
    assert credit_code_check_char("0" * 17) == "0"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("  91110000802100433b ", "91110000802100433B"),
        ("\u300091110000802100433B\u3000", "91110000802100433B"),
        ("９１１１００００８０２１００４３３Ｂ", "91110000802100433B"),
        ("９１１１００００８０２１００４３３ｂ", "91110000802100433B"),
    ],
)
def test_normalize_credit_code_strips_widens_and_uppercases(text: str, code: str) -> None:
    assert normalize_credit_code(text) == code


def test_validate_credit_code_returns_normalized_code() -> None:
    assert validate_credit_code(" ９１１１００００８０２１００４３３ｂ ") == "91110000802100433B"


@pytest.mark.parametrize("text", ["", "   ", "\u3000"])
def test_validate_credit_code_refuses_empty(text: str) -> None:
    with pytest.raises(Invalid, match="empty"):
        validate_credit_code(text)


@pytest.mark.parametrize(
    ("text", "count"),
    [("9111000080210043", 16), ("91110000802100433", 17), ("91110000802100433BX", 19)],
)
def test_validate_credit_code_refuses_wrong_length_saying_how_long(text: str, count: int) -> None:
    with pytest.raises(Invalid, match=f"has length {count}; a credit code has 18 characters"):
        validate_credit_code(text)


@pytest.mark.parametrize(
    ("text", "char", "position"),
    [
        ("I1110000802100433B", "I", 1),
        ("91110000802100O33B", "O", 15),
        ("9111000080210043SB", "S", 17),
        ("91110000802100433V", "V", 18),
        ("91110000Z02100433B", "Z", 9),
        ("91110000-02100433B", "-", 9),
        ("9111 000802100433B", " ", 5),
    ],
)
def test_validate_credit_code_refuses_bad_char_naming_it_and_position(
    text: str, char: str, position: int
) -> None:
    with pytest.raises(Invalid, match=f"has '{char}' at position {position},"):
        validate_credit_code(text)


def test_validate_credit_code_refuses_wrong_check_naming_expected() -> None:
    with pytest.raises(Invalid) as caught:
        validate_credit_code("91110000802100433C")
    assert "'C'" in caught.value.message
    assert "call for 'B'" in caught.value.message


def test_validate_credit_code_refuses_swapped_digits() -> None:
    with pytest.raises(Invalid, match="call for"):
        validate_credit_code("914403001922038126")


@pytest.mark.parametrize("first17", ["", "9144030019220382", "914403001922038216"])
def test_credit_code_check_char_refuses_wrong_length(first17: str) -> None:
    with pytest.raises(Invalid, match="the part before the check character has 17"):
        credit_code_check_char(first17)


def test_credit_code_check_char_refuses_bad_char() -> None:
    with pytest.raises(Invalid, match="has 'O' at position 3,"):
        credit_code_check_char("91O40030019220382")


@given(bodies)
def test_validate_credit_code_accepts_computed_code(body: str) -> None:
    assert validate_credit_code(_valid(body)) == _valid(body)


@given(bodies, st.sampled_from(CREDIT_CODE_ALPHABET))
def test_validate_credit_code_refuses_any_other_check_char(body: str, check: str) -> None:
    if check == credit_code_check_char(body):
        return
    with pytest.raises(Invalid, match="call for"):
        validate_credit_code(body + check)


@given(bodies, st.integers(min_value=0, max_value=16), st.sampled_from(CREDIT_CODE_ALPHABET))
def test_validate_credit_code_detects_single_substitution(
    body: str, position: int, char: str
) -> None:
    # Every weight is a unit modulo the prime 31, so changing one character changes the check.
    code = _valid(body)
    if code[position] == char:
        return
    with pytest.raises(Invalid, match="call for"):
        validate_credit_code(code[:position] + char + code[position + 1 :])


@given(bodies)
def test_validate_credit_code_accepts_lower_case(body: str) -> None:
    assert validate_credit_code(_valid(body).lower()) == _valid(body)
