"""Exact money: parse what people type into integer fen and format fen for people and JSON.

One yuan is 100 fen. Amounts never pass through float: text is read digit by digit and
Decimal values are converted through their exact digits, so no context precision or rounding
is involved.
"""

from __future__ import annotations

import re
from decimal import Decimal

from cocon.errors import Invalid
from cocon.i18n import _

FEN_PER_YUAN = 100
FEN_PER_WAN = 1_000_000

# Longer text is no plausible amount; the cap also keeps int() well inside its digit limit.
MAX_AMOUNT_LENGTH = 100

_UNIT_EXPONENTS = {"": 0, "元": 0, "万": 4, "万元": 4, "亿": 8, "亿元": 8}

# Chinese input methods type full-width digits, commas, points, spaces and ￥.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALF_WIDTH.update({0x3000: " ", ord("￥"): "¥"})

_AMOUNT = re.compile(
    r"""
    (?P<sign>[-+]?) \s* ¥? \s* (?P<sign_after_symbol>[-+]?)
    (?P<integer>[0-9][0-9,]*) (?:\.(?P<fraction>[0-9]+))?
    \s* (?P<unit>万元|亿元|元|万|亿)?
    """,
    re.VERBOSE,
)
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})*")


def parse_amount(
    text: str | int | Decimal, *, allow_negative: bool = False, allow_zero: bool = True
) -> int:
    """Return the amount in fen that text names, refusing anything ambiguous or inexact."""
    if isinstance(text, bool):
        raise _not_an_amount(text)
    if isinstance(text, int):
        fen = text * FEN_PER_YUAN
    elif isinstance(text, float):
        # openpyxl hands numbers over as float; str() gives the shortest exact reading of it.
        fen = _decimal_to_fen(Decimal(str(text)), text)
    elif isinstance(text, Decimal):
        fen = _decimal_to_fen(text, text)
    elif isinstance(text, str):
        fen = _text_to_fen(text)
    else:
        raise _not_an_amount(text)
    if fen < 0 and not allow_negative:
        raise Invalid(
            _("'{value}' is negative; write an amount of 0 or more, e.g. 125000").format(
                value=_shown(text)
            )
        )
    if fen == 0 and not allow_zero:
        raise Invalid(
            _("'{value}' is zero; write an amount above 0, e.g. 125000").format(value=_shown(text))
        )
    return fen


def format_yuan(fen: int, *, symbol: bool = True) -> str:
    """Format fen as grouped yuan with two decimals, e.g. ¥2,000,000.00 or -¥1,234.50."""
    _require_fen(fen)
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    sign = "-" if fen < 0 else ""
    return f"{sign}{'¥' if symbol else ''}{yuan:,}.{cents:02d}"


def format_wan(fen: int) -> str:
    """Format fen as grouped 万元 with two decimals, rounded half away from zero, for display."""
    _require_fen(fen)
    hundredths, rest = divmod(abs(fen), FEN_PER_WAN // 100)
    if rest * 2 >= FEN_PER_WAN // 100:
        hundredths += 1
    wan, cents = divmod(hundredths, 100)
    sign = "-" if fen < 0 and hundredths else ""
    return f"{sign}{wan:,}.{cents:02d}"


def to_decimal_yuan(fen: int) -> Decimal:
    """Return fen as an exact Decimal of yuan with two places."""
    _require_fen(fen)
    return Decimal(f"{fen}E-2")


def format_decimal(fen: int) -> str:
    """Format fen as the plain yuan string used in JSON, e.g. 2000000.00 or -1234.50."""
    _require_fen(fen)
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    sign = "-" if fen < 0 else ""
    return f"{sign}{yuan}.{cents:02d}"


def _text_to_fen(text: str) -> int:
    cleaned = text.translate(_HALF_WIDTH).strip()
    if not cleaned:
        raise Invalid(_("the amount is empty; write e.g. 125000 or 12.5万"))
    if len(cleaned) > MAX_AMOUNT_LENGTH:
        raise Invalid(
            _("'{value}…' is too long to be an amount; write e.g. 125000 or 12.5万").format(
                value=cleaned[:20]
            )
        )
    match = _AMOUNT.fullmatch(cleaned)
    if match is None or (match["sign"] and match["sign_after_symbol"]):
        raise _not_an_amount(text)
    integer = match["integer"]
    if "," in integer and not _GROUPED.fullmatch(integer):
        raise Invalid(
            _("'{value}' has misplaced commas; group digits by three, e.g. 1,234,567.89").format(
                value=_shown(text)
            )
        )
    fraction = match["fraction"] or ""
    digits = int(integer.replace(",", "") + fraction)
    fen = _scale(digits, 2 + _UNIT_EXPONENTS[match["unit"] or ""] - len(fraction), text)
    return -fen if "-" in (match["sign"], match["sign_after_symbol"]) else fen


def _decimal_to_fen(value: Decimal, shown: object) -> int:
    if not value.is_finite():
        raise _not_an_amount(shown)
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, so not 'n', 'N' or 'F'
    if len(digit_tuple) + max(exponent, 0) > MAX_AMOUNT_LENGTH:
        raise Invalid(
            _("'{value}' is too large to be an amount; write e.g. 125000 or 12.5万").format(
                value=_shown(shown)
            )
        )
    digits = int("".join(map(str, digit_tuple)))
    fen = _scale(digits, exponent + 2, shown)
    return -fen if sign else fen


def _scale(digits: int, exponent: int, shown: object) -> int:
    """Return digits × 10**exponent, refusing a result with fractions of a fen."""
    if exponent >= 0:
        return digits * 10**exponent
    if digits == 0:
        return 0
    # digits has at most MAX_AMOUNT_LENGTH digits, so a deeper exponent always leaves a
    # remainder; deciding that without computing 10**-exponent keeps 1E-999999999 cheap.
    if -exponent > MAX_AMOUNT_LENGTH:
        whole, rest = 0, digits
    else:
        whole, rest = divmod(digits, 10**-exponent)
    if rest:
        raise Invalid(
            _(
                "'{value}' has fractions of a fen; write at most 2 decimals of yuan, "
                "e.g. 1234.56 or 12.3456万"
            ).format(value=_shown(shown))
        )
    return whole


def _not_an_amount(value: object) -> Invalid:
    return Invalid(
        _("'{value}' is not an amount; write e.g. 125000 or 12.5万").format(value=_shown(value))
    )


def _shown(value: object) -> str:
    return value.strip() if isinstance(value, str) else str(value)


def _require_fen(fen: int) -> None:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"money is an int of fen, not {type(fen).__name__}: {fen!r}")
