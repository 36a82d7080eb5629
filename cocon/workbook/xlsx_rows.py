"""Stream the rows of a checked .xlsx workbook one at a time, so memory stays flat as rows grow.

Each sheet's XML is read as it is decompressed, no tree kept: by regular expressions where the
sheet is written as Excel and the common libraries write it (cocon.workbook.xlsx_fast), else by
the XML parser (expat), element by element. Shared strings are held packed as UTF-8 in one
buffer. Values come back as calamine and Excel show them: text, int or
float, bool, date (or datetime with a time of day) for cells with a date format.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import xml.parsers.expat
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from typing import IO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

from cocon.errors import Invalid
from cocon.i18n import _
from cocon.workbook.safety import EXCEL_MAX_ROWS, MAX_COLUMNS, MAX_ROWS, entities_refused
from cocon.workbook.xlsx_cells import ColumnNumbers, Moments, cell_value
from cocon.workbook.xlsx_fast import FastRows, Irregular, sheet_prefix

_CHUNK = 64 * 1024
_RELATIONSHIPS = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
# The elements a sheet or the shared strings table is read by.
_LOCAL_NAMES = frozenset(("row", "c", "v", "is", "t", "rPh", "si", "dimension"))
# Built-in number formats that show a date: Excel's, and those of Chinese and Japanese Excel.
_DATE_FORMAT_IDS = frozenset(
    [k for k, code in BUILTIN_FORMATS.items() if is_date_format(code)]
    + [*range(27, 37), *range(50, 59)]
)
_LETTERS = re.compile(r"[A-Z]+")
_DEFAULT_STRINGS = "xl/sharedStrings.xml"


class _Tags(dict):
    """Element names as expat reports them (no namespace processing: it is much faster) to the
    local names this module reads, or None; a prefixed name (x:c) means the same as c."""

    def __missing__(self, name: str) -> str | None:
        local = name.rpartition(":")[2]
        found = local if local in _LOCAL_NAMES else None
        self[name] = found
        return found


class SharedStrings:
    """A workbook's shared strings, packed as UTF-8 in one buffer with their offsets."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("Q")

    def append(self, text: str) -> None:
        """Add the next string."""
        self.data += text.encode("utf-8")
        self.ends.append(len(self.data))

    def __getitem__(self, index: int) -> str:
        start = self.ends[index - 1] if index else 0
        return self.data[start : self.ends[index]].decode("utf-8")

    def __len__(self) -> int:
        return len(self.ends)


class StreamedWorkbook:
    """A checked workbook's sheets, each read row by row when asked for."""

    def __init__(self, source: IO[bytes], shown: str) -> None:
        self.shown = shown
        try:
            source.seek(0)
            self.archive = zipfile.ZipFile(source)
            self.members, self.date_epoch, strings_member = self._read_workbook()
            self.date_styles = self._read_styles()
            self.strings = self._read_strings(strings_member)
        except Invalid:
            raise
        except DefusedXmlException as exc:
            raise entities_refused(shown) from exc
        except Exception as exc:
            # A hostile or broken part can fail in any way: each means no usable workbook.
            raise Invalid(
                _(
                    "{name} could not be read as an Excel workbook: open it in Excel and save it again as .xlsx"
                ).format(name=shown)
            ) from exc

    @property
    def sheet_names(self) -> list[str]:
        """Return the sheets' names in the workbook's order."""
        return list(self.members)

    def rows(self, title: str) -> SheetRows:
        """Return the rows of one sheet, to be read once, in order."""
        return SheetRows(self, title, self.members[title])

    def _read_workbook(self) -> tuple[dict[str, str], object, str | None]:
        """Return each sheet's part by name, the date epoch and the shared strings part."""
        relationships = fromstring(self.archive.read("xl/_rels/workbook.xml.rels"))
        targets, strings = {}, None
        for relationship in relationships:
            target = _part("xl", relationship.get("Target", ""))
            targets[relationship.get("Id")] = target
            if relationship.get("Type", "").endswith("/sharedStrings"):
                strings = target
        workbook = fromstring(self.archive.read("xl/workbook.xml"))
        members, epoch = {}, CALENDAR_WINDOWS_1900
        for element in workbook.iter():
            local = element.tag.rpartition("}")[2]
            if local == "workbookPr" and element.get("date1904") in ("1", "true"):
                epoch = CALENDAR_MAC_1904
            elif local == "sheet":
                rid = next(
                    (
                        element.get(f"{{{ns}}}id")
                        for ns in _RELATIONSHIPS
                        if element.get(f"{{{ns}}}id")
                    ),
                    None,
                )
                if rid in targets and element.get("name"):
                    members[element.get("name")] = targets[rid]
        if strings not in self.archive.NameToInfo:
            # Some writers name the part only in [Content_Types].xml: take Excel's usual place.
            strings = _DEFAULT_STRINGS if _DEFAULT_STRINGS in self.archive.NameToInfo else None
        return members, epoch, strings

    def _read_styles(self) -> frozenset[str]:
        """Return the cell styles (indexes into cellXfs) whose number format shows a date."""
        if "xl/styles.xml" not in self.archive.NameToInfo:
            return frozenset()
        styles = fromstring(self.archive.read("xl/styles.xml"))
        custom, formats = {}, []
        for element in styles.iter():
            local = element.tag.rpartition("}")[2]
            if local == "numFmt":
                custom[int(element.get("numFmtId", "-1"))] = element.get("formatCode", "")
            elif local == "cellXfs":
                formats = [int(xf.get("numFmtId", "0")) for xf in element]
        return frozenset(
            str(index)
            for index, number in enumerate(formats)
            if (is_date_format(custom[number]) if number in custom else number in _DATE_FORMAT_IDS)
        )

    def _read_strings(self, member: str | None) -> SharedStrings:
        """Read the shared strings table as it streams, keeping only the packed texts."""
        strings = SharedStrings()
        if member is None:
            return strings
        parts: list[str] = []
        depth = {"t": False, "rPh": 0}
        tags = _Tags()

        def start(name: str, _attributes: dict) -> None:
            local = tags[name]
            if local == "si":
                parts.clear()
            elif local == "t":
                depth["t"] = not depth["rPh"]
            elif local == "rPh":
                depth["rPh"] += 1

        def end(name: str) -> None:
            local = tags[name]
            if local == "si":
                strings.append("".join(parts))
            elif local == "t":
                depth["t"] = False
            elif local == "rPh":
                depth["rPh"] -= 1

        def text(data: str) -> None:
            if depth["t"]:
                parts.append(data)

        parser = _parser(self.shown)
        parser.StartElementHandler, parser.EndElementHandler = start, end
        parser.CharacterDataHandler = text
        with self.archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
        return strings


class SheetRows:
    """Iterate a sheet's rows that hold anything: (row number, values from column A)."""

    def __init__(self, book: StreamedWorkbook, title: str, member: str) -> None:
        self.book = book
        self.title = title
        self.member = member
        self.declared_rows: int | None = None  # what the sheet's <dimension> claims
        self._iterator = self._rows()

    def __iter__(self) -> Iterator[tuple[int, list]]:
        return self

    def __next__(self) -> tuple[int, list]:
        return next(self._iterator)

    def _rows(self) -> Iterator[tuple[int, list]]:
        given = 0
        try:
            try:
                for row in self._fast_rows():
                    given += 1
                    yield row
                return
            except Irregular:
                pass  # read it all again with the XML parser, skipping the rows already given
            for row in self._parsed_rows():
                if given:
                    given -= 1
                    continue
                yield row
        except Invalid:
            raise
        except (xml.parsers.expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise self._damaged() from exc
        except (KeyError, ValueError, IndexError, OverflowError) as exc:
            raise self._damaged() from exc

    def _fast_rows(self) -> Iterator[tuple[int, list]]:
        """Read the rows with cocon.workbook.xlsx_fast; raise Irregular where it cannot."""
        book = self.book
        strings, dates, moments = book.strings, book.date_styles, Moments(book.date_epoch)

        def value(kind: str, text: str, style: str | None) -> object:
            return cell_value(kind, text, style, strings, dates, moments)

        with book.archive.open(self.member) as stream:
            chunk = stream.read(_CHUNK)
            fast = FastRows(
                sheet_prefix(chunk), value, ColumnNumbers(), strings, dates, self._declare
            )
            well_formed = _parser(book.shown)  # no handlers: it only checks, in C
            decoder = codecs.getincrementaldecoder("utf-8-sig")()
            while chunk:
                well_formed.Parse(chunk, False)
                yield from self._within_caps(fast.feed(decoder.decode(chunk)))
                chunk = stream.read(_CHUNK)
            well_formed.Parse(b"", True)
            yield from self._within_caps(fast.feed(decoder.decode(b"", final=True)))
        if not fast.finished:
            raise Irregular

    def _declare(self, reference: str) -> None:
        self.declared_rows = _last_row(reference)

    def _within_caps(self, rows: Iterator[tuple[int, list]]) -> Iterator[tuple[int, list]]:
        for line, values in rows:
            if line > MAX_ROWS or len(values) > MAX_COLUMNS:
                raise _too_large(self.title)
            yield line, values

    def _parsed_rows(self) -> Iterator[tuple[int, list]]:
        """Read the rows with the XML parser, element by element: any well-formed sheet."""
        done: list[tuple[int, list]] = []
        parser = self._parser(done)
        with self.book.archive.open(self.member) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
                yield from done
                done.clear()
            parser.Parse(b"", True)
        yield from done

    def _damaged(self) -> Invalid:
        return Invalid(_("sheet {sheet} is damaged and cannot be read").format(sheet=self.title))

    def _parser(self, done: list[tuple[int, list]]) -> xml.parsers.expat.XMLParserType:
        """Make a parser that appends each finished row with a value to done."""
        strings, date_styles, epoch = self.book.strings, self.book.date_styles, self.book.date_epoch
        tags, columns, moments = _Tags(), ColumnNumbers(), Moments(epoch)
        title = self.title
        # The cell being read: [row, column, type, style, reading text?, in phonetic run?]
        state = [0, 0, "n", None, False, 0]
        parts: list[str] = []
        values: list = []

        def start(name: str, attributes: dict[str, str]) -> None:
            local = tags[name]
            if local == "c":
                reference = attributes.get("r")
                if reference:
                    match = _LETTERS.match(reference)
                    state[1] = columns[match[0]] if match else state[1] + 1
                else:
                    state[1] += 1
                state[2] = attributes.get("t", "n")
                state[3] = attributes.get("s")
                parts.clear()
            elif local == "v":
                state[4] = True
            elif local == "t":
                state[4] = not state[5]
            elif local == "rPh":
                state[5] += 1
            elif local == "row":
                number = attributes.get("r")
                state[0] = int(number) if number else state[0] + 1
                state[1] = 0
                values.clear()
            elif local == "dimension":
                self._declare(attributes.get("ref", ""))

        def end(name: str) -> None:
            local = tags[name]
            if local == "c":
                value = cell_value(
                    state[2], "".join(parts), state[3], strings, date_styles, moments
                )
                if value is None:
                    return
                column = state[1]
                if column > MAX_COLUMNS:
                    raise _too_large(title)
                if column > len(values):
                    values.extend([None] * (column - len(values)))
                values[column - 1] = value
            elif local in ("v", "t"):
                state[4] = False
            elif local == "rPh":
                state[5] -= 1
            elif local == "row" and values:
                if state[0] > MAX_ROWS:
                    raise _too_large(title)
                done.append((state[0], values.copy()))

        def text(data: str) -> None:
            if state[4]:
                parts.append(data)

        parser = _parser(self.book.shown)
        parser.StartElementHandler, parser.EndElementHandler = start, end
        parser.CharacterDataHandler = text
        return parser


def _parser(shown: str) -> xml.parsers.expat.XMLParserType:
    """Make an expat parser that refuses DTDs (the safety scan did too: twice is cheap)."""
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True

    def refuse(*_args: object) -> None:
        raise entities_refused(shown)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    return parser


def _last_row(reference: str) -> int | None:
    """Return the last row a range such as A1:M50001 names, if it is plausible."""
    digits = re.findall(r"\d+", reference.rpartition(":")[2])
    if not digits:
        return None
    row = int(digits[-1])
    return row if row <= EXCEL_MAX_ROWS else None


def _part(folder: str, target: str) -> str:
    """Resolve a relationship target to the zip member it names."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, target))


def _too_large(title: str) -> Invalid:
    return Invalid(
        _("sheet {sheet} has more than {rows} rows or {columns} columns").format(
            sheet=title, rows=MAX_ROWS, columns=MAX_COLUMNS
        )
    )
