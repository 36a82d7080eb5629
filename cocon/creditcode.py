"""Unified social credit codes (统一社会信用代码, GB 32100-2015): normalize and validate."""

from __future__ import annotations

from cocon.errors import Invalid
from cocon.fields import HALF_WIDTH
from cocon.i18n import _

CREDIT_CODE_LENGTH = 18
# I, O, S, V and Z are left out so that they cannot be mistaken for 1, 0, 5, U and 2.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CHECK_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_VALUES = {char: value for value, char in enumerate(CREDIT_CODE_ALPHABET)}
_MODULUS = len(CREDIT_CODE_ALPHABET)


def normalize_credit_code(text: str) -> str:
    """Return text stripped, in half-width characters and upper case."""
    return text.translate(HALF_WIDTH).strip().upper()


def credit_code_check_char(first17: str) -> str:
    """Return the check character (the 18th) for the first 17 characters of a code."""
    body = normalize_credit_code(first17)
    if len(body) != CREDIT_CODE_LENGTH - 1:
        raise Invalid(
            _("'{value}' has length {count}; the part before the check character has 17").format(
                value=first17.strip(), count=len(body)
            )
        )
    _refuse_bad_char(body, first17)
    total = sum(_VALUES[char] * weight for char, weight in zip(body, CHECK_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(_MODULUS - total % _MODULUS) % _MODULUS]


def validate_credit_code(text: str) -> str:
    """Return the normalized code, or raise Invalid naming what is wrong with it."""
    code = normalize_credit_code(text)
    if not code:
        raise Invalid(
            _("the credit code is empty; write its 18 characters, e.g. 91350100M000100Y43")
        )
    if len(code) != CREDIT_CODE_LENGTH:
        raise Invalid(
            _("'{value}' has length {count}; a credit code has 18 characters").format(
                value=text.strip(), count=len(code)
            )
        )
    _refuse_bad_char(code, text)
    expected = credit_code_check_char(code[:-1])
    if code[-1] != expected:
        raise Invalid(
            _(
                "'{value}' ends in the check character '{found}' but its first 17 characters "
                "call for '{expected}'; look for a typing error"
            ).format(value=text.strip(), found=code[-1], expected=expected)
        )
    return code


def _refuse_bad_char(code: str, text: str) -> None:
    for position, char in enumerate(code, start=1):
        if char not in _VALUES:
            raise Invalid(
                _(
                    "'{value}' has '{char}' at position {position}, which a credit code never "
                    "holds (only digits and the letters {letters})"
                ).format(
                    value=text.strip(),
                    char=char,
                    position=position,
                    letters=CREDIT_CODE_ALPHABET[10:],
                )
            )
