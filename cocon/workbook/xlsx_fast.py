"""Read the rows of sheet XML as Excel, WPS, openpyxl and xlsxwriter write it, with regular
expressions over the text: one match per cell instead of several parser calls.

Anything else (formulas, rich text, attributes in another order, CDATA, prefixes it was not
told of) raises Irregular, and the caller reads the sheet again with the XML parser, skipping
the rows already given; the XML parser also checks, alongside, that the part is well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence

_XML_DECLARATION = re.compile(r"<\?xml[^>]*\bencoding=[\"']([\w.\-]+)[\"']")
_ROOT = re.compile(r"<([A-Za-z_][\w.\-]*:)?worksheet[\s>/]")
_GAP = re.compile(r"(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.S)
_ROW_NUMBER = re.compile(r'\br="(\d+)"')
_DIMENSION_REF = re.compile(r'\bref="([^"]*)"')
_ENTITY = re.compile(r"&(?:#(\d+)|#x([0-9A-Fa-f]+)|(lt|gt|amp|quot|apos));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_HEAD_KEPT = 512  # text kept while looking for <sheetData>, in case it spans two chunks
# Text waiting for its row's end tag is held at most this long; the XML parser takes longer rows.
_MAX_PENDING = 4 * 1024 * 1024


class Irregular(Exception):
    """The sheet holds something the fast reader does not take: read it with the XML parser."""


def sheet_prefix(head: bytes) -> str:
    """Return the namespace prefix of a sheet's root (e.g. "x:", or ""); raise Irregular."""
    text = head[:4096].decode("utf-8", errors="ignore")
    declared = _XML_DECLARATION.search(text)
    if declared and declared[1].lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise Irregular
    root = _ROOT.search(text)
    if root is None:
        raise Irregular
    return root[1] or ""


class FastRows:
    """Take the complete rows of a sheet's text as it arrives.

    value turns a cell's (type, text, style) into its value, column turns letters into a
    number; strings are the shared strings, dates the styles that show a date; on_dimension is
    told the range the sheet's <dimension> declares.
    """

    def __init__(
        self,
        prefix: str,
        value: Callable[[str, str, str | None], object],
        column: Mapping[str, int],
        strings: Sequence[str],
        dates: frozenset[str],
        on_dimension: Callable[[str], None],
    ) -> None:
        p = re.escape(prefix)
        self.prefix = prefix
        self.value = value
        self.column = column
        self.strings = strings
        self.dates = dates
        self.on_dimension = on_dimension
        self.start = re.compile(rf"<{p}sheetData\s*(/?)>")
        self.dimension = re.compile(rf"<{p}dimension\b([^>]*)>")
        self.end = f"</{prefix}sheetData"
        self.row_end = f"</{prefix}row>"
        # The row's content: anything up to its end tag, written unrolled (no lazy .*?) for speed.
        self.row = re.compile(
            rf"<{p}row\b([^>]*?)(?:/>|>([^<]*(?:<(?!/{p}row>)[^<]*)*)</{p}row>)", re.S
        )
        cell = (
            rf'<{p}c r="([A-Z]{{1,3}})\d+"(?: s="(\d+)")?(?: t="(\w+)")?\s*'
            rf"(?:/>|>(?:<{p}v>([^<]*)</{p}v>"
            rf'|<{p}is><{p}t(?: xml:space="preserve")?>([^<]*)</{p}t></{p}is>)?</{p}c>)'
        )
        self.cell = re.compile(cell)
        self.plain = re.compile("(?:" + re.sub(r"\((?!\?)", "(?:", cell) + ")*")
        self.started = False
        self.finished = False
        self.last_row = 0
        self._text = ""

    def feed(self, text: str) -> Iterator[tuple[int, list]]:
        """Add the next piece of the sheet's text; yield each complete row holding a value."""
        if self.finished:
            return
        buffer = self._text + text
        if not self.started:
            found = self.start.search(buffer)
            if found is None:
                self._note_dimension(buffer)
                self._text = buffer[-_HEAD_KEPT:]
                return
            self._note_dimension(buffer[: found.start()])
            self.started = True
            if found[1]:  # <sheetData/>: no rows
                self.finished = True
                return
            buffer = buffer[found.end() :]
        end = buffer.find(self.end)
        if end >= 0:
            limit = end
        else:
            last = buffer.rfind(self.row_end)
            limit = last + len(self.row_end) if last >= 0 else 0
        position = 0
        row, gap = self.row, _GAP
        while True:
            position = gap.match(buffer, position, limit).end()
            if position >= limit:
                break
            match = row.match(buffer, position, limit)
            if match is None:
                raise Irregular
            position = match.end()
            values = self._cells(match[2]) if match[2] else None
            number = _ROW_NUMBER.search(match[1])
            self.last_row = int(number[1]) if number else self.last_row + 1
            if values:
                yield self.last_row, values
        if end >= 0:
            self.finished = True
            self._text = ""
        else:
            self._text = buffer[position:]
            if len(self._text) > _MAX_PENDING:
                raise Irregular  # a row this long (or rows with no end tag): the parser streams

    def _cells(self, content: str) -> list:
        """Return a row's values from column A, or raise Irregular unless every cell is plain."""
        if self.plain.fullmatch(content) is None:
            raise Irregular  # something between or inside the cells that is not plain
        cells = self.cell.findall(content)
        values: list = []
        value, column, strings, dates = self.value, self.column, self.strings, self.dates
        for letters, style, kind, number, inline in cells:
            # The common cells inline; every other goes through value().
            if not kind and style not in dates and number.isdigit():
                cell = int(number)
            elif kind == "s" and number.isdigit():
                cell = strings[int(number)]
            elif kind == "inlineStr" and "&" not in inline:
                cell = inline or None
            else:
                text = number or inline
                if "&" in text:
                    text = _ENTITY.sub(_unescaped, text)
                cell = value(kind or "n", text, style or None)
            if cell is None:
                continue
            index = column[letters]
            if index == len(values) + 1:
                values.append(cell)
                continue
            if index > len(values):
                values.extend([None] * (index - len(values)))
            values[index - 1] = cell
        return values

    def _note_dimension(self, head: str) -> None:
        found = self.dimension.search(head)
        if found is not None:
            ref = _DIMENSION_REF.search(found[1])
            if ref:
                self.on_dimension(ref[1])


def _unescaped(match: re.Match) -> str:
    decimal, hexadecimal, name = match.groups()
    if name:
        return _NAMED[name]
    return chr(int(decimal) if decimal else int(hexadecimal, 16))
