"""Exact money: format integer fen for people and JSON (cocon.fields.parse_amount reads it).

One yuan is 100 fen. Amounts never pass through float.
"""

from __future__ import annotations

from decimal import Decimal

FEN_PER_YUAN = 100
FEN_PER_WAN = 1_000_000

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


def _require_fen(fen: int) -> None:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"money is an int of fen, not {type(fen).__name__}: {fen!r}")
