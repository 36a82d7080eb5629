"""Turn the text of a sheet's cells into values: numbers, shared or inline text, dates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from openpyxl.utils.datetime import from_excel

_INFINITY = float("inf")
_EXCEL_MAX_COLUMNS = 16_384


def cell_value(
    kind: str,
    text: str,
    style: str | None,
    strings: Sequence[str],
    dates: frozenset[str],
    moments: Moments,
) -> object:
    """Turn a cell's type, text and style into its value (None for an empty cell)."""
    if kind == "n":
        if not text:
            return None
        number = int(text) if text.isdigit() else float(text)
        if style in dates:
            return moments[number]
        if number != number or number in (_INFINITY, -_INFINITY):
            return text  # not a number Excel writes: left as text, refused where one is due
        return number
    if kind == "s":
        return strings[int(text)] if text else None
    if kind in ("inlineStr", "str", "e"):
        return text or None
    if not text:
        return None
    if kind == "b":
        return text.strip() in ("1", "true")
    if kind == "d":
        return datetime.fromisoformat(text.strip().removesuffix("Z"))
    raise ValueError(f"unknown cell type {kind}")


class Moments(dict):
    """Excel date serials to dates (datetimes when they hold a time), each worked out once."""

    def __init__(self, epoch: datetime) -> None:
        super().__init__()
        self.epoch = epoch

    def __missing__(self, serial: float) -> object:
        try:
            moment = from_excel(serial, self.epoch)
        except (ValueError, OverflowError):
            moment = serial  # no date: the number is refused where a date is due
        if isinstance(moment, datetime) and moment.time() == datetime.min.time():
            moment = moment.date()
        self[serial] = moment
        return moment


class ColumnNumbers(dict):
    """Column letters to numbers (A → 1), worked out once per letters seen."""

    def __missing__(self, letters: str) -> int:
        number = 0
        for letter in letters:
            number = number * 26 + ord(letter) - 64
        if number > _EXCEL_MAX_COLUMNS:
            raise ValueError(f"column {letters} is beyond Excel's last column")
        self[letters] = number
        return number
