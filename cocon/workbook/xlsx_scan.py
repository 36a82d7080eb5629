"""Scan the XML parts of a workbook as they are unpacked: DTDs, rows, cells, formulas, strings.

Most parts are scanned in C (bytes.count, regular expressions over each piece as it is
unpacked): where a part is written otherwise than Excel and the common libraries write it, it
is read again with the XML parser, element by element. What the scan finds bounds what a reader
that holds a sheet whole (calamine) will take: how far the cells reach, and how many times each
shared string is copied into a cell.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections import Counter
from dataclasses import dataclass, field

from cocon.errors import Invalid
from cocon.i18n import _
from cocon.workbook import safety

# Cells as Excel, WPS, openpyxl and xlsxwriter write them; any other cell makes the part
# irregular, and it is read again by the XML parser.
_ATTRIBUTES = rb'(?: [a-z]+="[^"<>]*")*'
_FILLED_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"' + _ATTRIBUTES + rb">")
_EMPTY_CELL = re.compile(rb'<c r="[A-Z]{1,3}[0-9]{1,7}"' + _ATTRIBUTES + rb" ?/>")
_FILLED_ROWS = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"' + _ATTRIBUTES + rb">")
_WIDE_CELL = re.compile(rb'<c r="[A-Z]{2}')
# Columns A to Z: empty cells count too (no cap is near), a shorter match than a filled cell.
_NARROW_COLUMNS = re.compile(rb'<c r="([A-Z])[0-9]')
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Excel and the libraries write the type last: one that is not is read by the XML parser.
_SHARED_CELL = re.compile(rb' t="s"><v>([0-9]+)</v>')
_SHARED_MARK = b' t="s"'
_ODD_CELL = re.compile(rb"<c[>/\t\n\r]")  # a cell without attributes, or spaced oddly
_FORMULA = re.compile(rb"<f[\s/>]")
# calamine reads an error cell (#N/A pasted as a value) as empty: the XML parser notes its text.
_ERROR_MARK = b' t="e"'
_PREFIXED = re.compile(rb"<(?:/)?[A-Za-z_][\w.\-]*:(?:c|f|v|is|row|si|sheetData)[\s/>]")
_STRING_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?si[\s/>]")
_STRING = re.compile(rb"<si>(.*?)</si>", re.S)
_CUTS = (b"</c>", b"/>", b"</row>", b"</si>")
# A piece of XML longer than this with no end of a cell, row or string in it is irregular.
_MAX_PENDING = 1024 * 1024


@dataclass
class PartScan:
    """What the scan found in one XML part: where its cells reach, its formulas, its strings."""

    rows: int = 0
    last_row: int = 0
    last_column: int = 0
    widest: str = ""
    formulas: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    shared: Counter = field(default_factory=Counter)
    strings: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SheetScan:
    """One sheet of a checked workbook: its formula cells, its extent and its text to expand."""

    formulas: dict[str, str]
    errors: dict[str, str]
    last_row: int
    last_column: int
    widest: str
    shared_bytes: int


class QuickScan:
    """Watch one member as it streams, in C where it can: DTDs, rows, cells, shared strings.

    Parts with a formula or a cell written in any other way are read again by XmlScan,
    element by element; clean sheets (nearly all uploads) never pay for a Python call per cell.
    """

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.found = PartScan()
        self.xml = True
        self.irregular = False
        self.pending = b""
        self.columns: dict[bytes, bytes] = {}  # letters seen, with the first row holding one
        self.beyond: re.Pattern[bytes] | None = None
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._doctype

    def _doctype(self, *_args: object) -> None:
        raise safety.entities_refused(self.shown)

    def feed(self, chunk: bytes) -> None:
        """Scan the next chunk (a member that is not XML is only counted)."""
        if self.xml:
            try:
                self.parser.Parse(chunk, False)
            except xml.parsers.expat.ExpatError:
                self.xml = False
        if self.irregular:
            return
        buffer = self.pending + chunk
        cut = 0
        for end in _CUTS:
            at = buffer.rfind(end)
            if at >= 0:
                cut = max(cut, at + len(end))
        self.pending = buffer[cut:]
        if len(self.pending) > _MAX_PENDING:
            self.irregular = True
        self._scan(buffer[:cut])

    def _scan(self, part: bytes) -> None:
        # bytes.count and "in" where they can tell: a regular expression per cell costs more.
        found = self.found
        prefixed = b":" in part and _PREFIXED.search(part) is not None
        if prefixed:
            self.irregular = True  # elements with a namespace prefix: counted by the XML parser
        found.rows += part.count(b"<row")  # <rowBreaks> too: a row more or less is no matter
        if found.rows > safety.MAX_ROWS:
            raise Invalid(
                _("{name} has a sheet of more than {limit} rows").format(
                    name=self.shown, limit=safety.MAX_ROWS
                )
            )
        if self.irregular or _ERROR_MARK in part or _FORMULA.search(part) or _ODD_CELL.search(part):
            self.irregular = True
            return
        cells = part.count(b"<c ")
        if cells:
            self._cells(part, cells)
        if b"<si" in part:
            strings = _STRING.findall(part)
            if len(strings) != len(_STRING_START.findall(part)):
                self.irregular = True
                return
            found.strings.extend(map(len, strings))

    def _cells(self, part: bytes, cells: int) -> None:
        found = self.found
        numbers = _FILLED_ROWS.findall(part)
        if cells != len(numbers) and cells != len(numbers) + len(_EMPTY_CELL.findall(part)):
            self.irregular = True
            return
        if numbers:
            found.last_row = max(found.last_row, *map(int, numbers))
            if _WIDE_CELL.search(part):
                for letters, number in _FILLED_CELL.findall(part):
                    self.columns.setdefault(letters, number)
            elif self.beyond is None or self.beyond.search(part):
                for letters in set(_NARROW_COLUMNS.findall(part)).difference(self.columns):
                    first = re.search(b'<c r="' + letters + b'([0-9]{1,7})"', part)
                    self.columns[letters] = first[1] if first else b""
                last = max(self.columns, default=b"").decode()
                if last and len(last) == 1:
                    # Later parts are only searched for a column beyond the last one seen.
                    after = _LETTERS[_LETTERS.index(last) + 1 :]
                    self.beyond = re.compile(f'<c r="[{after}][0-9]'.encode()) if after else None
        marks = part.count(_SHARED_MARK)
        if marks:
            shared = _SHARED_CELL.findall(part)
            if len(shared) != marks:
                self.irregular = True
                return
            found.shared.update(shared)

    def finish(self) -> PartScan | None:
        """Return what was found, or None when the part needs the precise scan."""
        if self.pending.strip():
            self._scan(self.pending)
        if self.irregular and self.xml:
            return None
        if self.columns:
            widest = max(self.columns, key=lambda letters: (len(letters), letters))
            self.found.last_column = column_number(widest.decode())
            self.found.widest = (widest + self.columns[widest]).decode()
        return self.found


class XmlScan:
    """Read one member's XML element by element: DTDs, rows, cells, formulas, shared strings."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.found = PartScan()
        self.open_rows = 0
        self.row_elements = 0
        self.row = 0
        self.column = 0
        self.filled = False
        self.shared = False
        self.error = False
        self.text: list[str] | None = None
        self.in_formula = False
        self.string_start: int | None = None
        # No namespace processing: it is faster, and a prefix must not hide a row.
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text

    def feed(self, chunk: bytes) -> bool:
        """Parse the next chunk; return False once the member turns out not to be XML."""
        try:
            self.parser.Parse(chunk, False)
        except xml.parsers.expat.ExpatError:
            # A broken sheet is refused as damaged when it is read.
            return False
        return True

    def _doctype(self, *_args: object) -> None:
        raise safety.entities_refused(self.shown)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if self.open_rows:
            self.row_elements += 1
            if self.row_elements > safety.MAX_ROW_ELEMENTS:
                raise Invalid(
                    _("{name} has a sheet row with more than {limit} cells").format(
                        name=self.shown, limit=safety.MAX_ROW_ELEMENTS
                    )
                )
            if local == "c":
                self._cell(attributes)
            elif local in ("v", "is"):
                self.filled = True
                if local == "v" and (self.shared or self.error):
                    self.text = []
            elif local == "f":
                self.filled = True
                self.in_formula = True
                self.text = []
        elif local == "si":
            self.string_start = self.parser.CurrentByteIndex
        if local == "row":
            if not self.open_rows:
                self.found.rows += 1
                self.row_elements = 0
                self.row = (
                    int(attributes["r"]) if attributes.get("r", "").isdigit() else self.row + 1
                )
                self.column = 0
                if self.found.rows > safety.MAX_ROWS:
                    # Checked while streaming, before any reader builds the sheet in memory.
                    raise Invalid(
                        _("{name} has a sheet of more than {limit} rows").format(
                            name=self.shown, limit=safety.MAX_ROWS
                        )
                    )
            self.open_rows += 1

    def _cell(self, attributes: dict[str, str]) -> None:
        reference = _REFERENCE.fullmatch(attributes.get("r", ""))
        if reference:
            self.column = column_number(reference[1])
            self.row = int(reference[2])
        else:
            self.column += 1
        self.filled = False
        self.shared = attributes.get("t") == "s"
        self.error = attributes.get("t") == "e"

    def _text(self, text: str) -> None:
        if self.text is not None and len(self.text) < 200:
            self.text.append(text)

    def _end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        found = self.found
        if local == "f" and self.in_formula:
            found.formulas[self._reference()] = "".join(self.text or ())[:200]
            self.in_formula, self.text = False, None
        elif local == "v" and self.text is not None:
            text = "".join(self.text).strip()
            if self.error:
                found.errors[self._reference()] = text
            elif text.isdigit():
                found.shared[text.encode()] += 1
            self.text = None
        elif local == "c" and self.open_rows and self.filled:
            found.last_row = max(found.last_row, self.row)
            if self.column > found.last_column:
                found.last_column, found.widest = self.column, self._reference()
        elif local == "si" and self.string_start is not None:
            found.strings.append(self.parser.CurrentByteIndex - self.string_start)
            self.string_start = None
        elif local == "row" and self.open_rows:
            self.open_rows -= 1

    def _reference(self) -> str:
        return f"{get_column_letter(self.column)}{self.row}"


_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")


def column_number(letters: str) -> int:
    """Return the number of a column's letters (A is 1)."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def get_column_letter(number: int) -> str:
    """Return the letters of a column's number (1 is A)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters or "A"
