"""Text as an export writes it: what XML can carry, what Excel must not take for a formula."""

from __future__ import annotations

import re

from cocon.workbook.export_layout import MAX_CELL_TEXT

# Text that Excel would read as something other than text when typed (or edited) into a cell.
RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\n")
ERROR_CODES = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
    }
)
LOOK_CLOSER = frozenset("=+-@\t\r\n#<")  # first characters of text that may need care
NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]")  # CR too
_NEWLINES = re.compile(r"\r\n?")
# Characters XML 1.0 cannot carry (tab, LF and CR it can; CR is handled above).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_HALF_LIMIT = MAX_CELL_TEXT // 2
# Anything in text that asks for more than writing it as it is: cleaning, escaping, tab or LF.
_NOT_PLAIN = re.compile(r"[\x00-\x1f\ufffe\uffff\ud800-\udfff&<>]|_x[0-9a-fA-F]{4}_")


def xml_safe_text(value: object) -> str:
    """Return text as XML can carry it: LF for CR LF and CR, U+FFFD for forbidden characters."""
    text = (value if isinstance(value, str) else str(value))[:MAX_CELL_TEXT]
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("\ufffd", text)
    if len(text) > MAX_CELL_TEXT // 2:
        # Excel counts UTF-16 code units, and characters beyond the BMP take two.
        data = text.encode("utf-16-le")
        if len(data) > 2 * MAX_CELL_TEXT:
            data = data[: 2 * MAX_CELL_TEXT]
            if 0xD8 <= data[-1] <= 0xDB:  # do not keep half of a surrogate pair
                data = data[:-2]
            text = data.decode("utf-16-le")
    return text


def risky(text: str) -> bool:
    """Tell whether Excel would take text typed into a cell for a formula or an error value."""
    return text.startswith(RISKY_START) or (text[:1] == "#" and text.upper() in ERROR_CODES)


def is_plain(text: str) -> bool:
    """Tell whether text goes into a cell as it is: nothing to clean, escape, quote or check."""
    return (
        0 < len(text) <= _HALF_LIMIT
        and text[0] not in LOOK_CLOSER
        and _NOT_PLAIN.search(text) is None
    )


def cell_text(value: object) -> str:
    """Return a value's text as a cell holds it (cleaned only when it needs to be)."""
    text = value if value.__class__ is str else str(value)
    if len(text) > _HALF_LIMIT or NEEDS_CLEANING.search(text) is not None:
        return xml_safe_text(text)
    return text


def is_rich_shaped(text: str) -> bool:
    """Tell whether xlsxwriter would copy text into the XML unescaped, as rich text."""
    return text.startswith("<r>") and text.endswith("</r>")
