"""Check untrusted Excel uploads before any reader parses them: size, zip bombs, macros, XML."""

from __future__ import annotations

import posixpath
import re
import tempfile
import xml.parsers.expat
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cocon.errors import Invalid
from cocon.i18n import _

MiB = 1024 * 1024
MAX_UPLOAD_BYTES = 20 * MiB
MAX_UNCOMPRESSED_BYTES = 200 * MiB
MAX_ROWS = 200_000
MAX_COLUMNS = 200
# A real workbook has dozens of parts; a zip directory of millions of entries is itself a bomb.
MAX_MEMBERS = 10_000
# A member is suspicious above both: legitimate sheet XML rarely compresses better than ~50:1.
SUSPICIOUS_RATIO = 200
SUSPICIOUS_RATIO_MIN_BYTES = 10 * MiB
# Excel's own sheet limits: nothing beyond them is a genuine workbook.
EXCEL_MAX_ROWS = 1_048_576
# Elements in one row: more is no genuine sheet (Excel has 16,384 columns).
MAX_ROW_ELEMENTS = 100_000

_CHUNK = 64 * 1024
# Uploads up to this size are copied in memory; larger ones to a private temporary file.
_SPOOL_BYTES = 1024 * 1024
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURE = b"PK\x03\x04"
# Office stores a password-protected .xlsx as an OLE2 file holding this stream.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_HTML = re.compile(rb"<(?:!doctype\s+html|html|head|body|meta|table)\b")
_MACRO_CONTENT_TYPES = (b"macroenabled", b"vbaproject", b"macrosheet")
_REQUIRED_PARTS = ("[Content_Types].xml", "xl/workbook.xml")


def check_upload(
    path: Path,
    *,
    max_bytes: int | None = None,
    max_uncompressed: int | None = None,
    name: str | None = None,
) -> tuple[IO[bytes], dict[str, SheetScan]]:
    """Check an uploaded .xlsx; return a private copy of it and what the scan found per sheet.

    The copy is what was checked, whatever happens to the file afterwards; it is kept in memory
    up to a small size, on disk beyond. The limits default to this module's constants as they
    are when called.
    """
    max_bytes = MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    max_uncompressed = MAX_UNCOMPRESSED_BYTES if max_uncompressed is None else max_uncompressed
    shown = name or path.name
    data = _read_capped(path, shown, max_bytes)
    _check_signature(shown, data)
    return data, _check_archive(shown, data, max_uncompressed)


def _read_capped(path: Path, shown: str, max_bytes: int) -> IO[bytes]:
    """Copy the file privately, refusing it as soon as it is larger than max_bytes."""
    copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (returned open)
    size = 0
    try:
        size = path.stat().st_size
        if size <= max_bytes:
            size = 0
            with path.open("rb") as handle:
                # Count what is read: the file may have grown since stat().
                while size <= max_bytes and (chunk := handle.read(_CHUNK)):
                    size += len(chunk)
                    copy.write(chunk)
    except OSError as exc:
        copy.close()
        raise Invalid(
            _("{name} cannot be read: {reason}").format(name=shown, reason=exc.strerror or exc)
        ) from exc
    if size > max_bytes:
        copy.close()
        raise Invalid(
            _("{name} is too large ({size}); the limit is {limit}").format(
                name=shown, size=_human_size(size), limit=_human_size(max_bytes)
            )
        )
    if not size:
        copy.close()
        raise Invalid(_("{name} is empty").format(name=shown))
    copy.seek(0)
    return copy


def _check_signature(shown: str, copy: IO[bytes]) -> None:
    """Refuse files that are not zip archives, naming what they look like instead."""
    copy.seek(0)
    data = copy.read(4096)
    copy.seek(0)
    if data.startswith(_OLE2_SIGNATURE):
        data += copy.read()  # bounded by the size limit; only old and protected files get here
        copy.seek(0)
        if _ENCRYPTED_PACKAGE in data:
            raise Invalid(
                _(
                    "{name} is protected by a password: remove the password and save it again"
                ).format(name=shown)
            )
        raise Invalid(_("{name} is an old .xls file: save it as .xlsx").format(name=shown))
    if data.startswith(_ZIP_SIGNATURE):
        return
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if _HTML.search(head):
        raise Invalid(
            _(
                "{name} is a web page (HTML) with an Excel name, not a workbook: "
                "open it in Excel and save it as .xlsx"
            ).format(name=shown)
        )
    raise Invalid(
        _("{name} is not an Excel workbook: open it in Excel and save it as .xlsx").format(
            name=shown
        )
    )


def _check_archive(shown: str, copy: IO[bytes], max_uncompressed: int) -> dict[str, SheetScan]:
    """Refuse damaged, macro-enabled, non-xlsx and bomb archives by reading every member."""
    copy.seek(0)
    try:
        with zipfile.ZipFile(copy) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            if len(members) > MAX_MEMBERS:
                raise Invalid(
                    _("{name} has too many parts ({count}); the limit is {limit}").format(
                        name=shown, count=len(members), limit=MAX_MEMBERS
                    )
                )
            if any(_is_macro_part(member) for member in names):
                raise _macros(shown)
            if "xl/workbook.bin" in names:
                raise Invalid(
                    _("{name} is a binary .xlsb workbook: save it as .xlsx").format(name=shown)
                )
            for part in _REQUIRED_PARTS:
                if part not in names:
                    raise Invalid(
                        _("{name} is not an .xlsx workbook: it lacks {part}").format(
                            name=shown, part=part
                        )
                    )
            parts = _stream_members(shown, archive, members, max_uncompressed)
            content_types = archive.read("[Content_Types].xml").lower()
            by_sheet = _sheet_scans(archive, parts)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _damaged(shown) from exc
    except SyntaxError as exc:  # the workbook part or its relationships are not XML
        raise unreadable(shown) from exc
    except (RuntimeError, NotImplementedError) as exc:
        # zipfile raises these for encrypted members and compression methods it lacks.
        raise Invalid(
            _(
                "{name} uses zip encryption or compression that Excel does not write: "
                "open it in Excel and save it as .xlsx"
            ).format(name=shown)
        ) from exc
    if any(marker in content_types for marker in _MACRO_CONTENT_TYPES):
        raise _macros(shown)
    return by_sheet


def _sheet_scans(archive: zipfile.ZipFile, parts: dict[str, PartScan]) -> dict[str, SheetScan]:
    """Name what the scan found by sheet, from the workbook part and its relationships."""
    from defusedxml.ElementTree import fromstring

    relationships = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): _part(rel.get("Target", "")) for rel in relationships}
    strings = parts.get("xl/sharedStrings.xml", PartScan()).strings
    for rel in relationships:
        if rel.get("Type", "").endswith("/sharedStrings") and targets[rel.get("Id")] in parts:
            strings = parts[targets[rel.get("Id")]].strings
    workbook = fromstring(archive.read("xl/workbook.xml"))
    result = {}
    for sheet in workbook.iter():
        if sheet.tag.rpartition("}")[2] != "sheet":
            continue
        rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id") or k == "id"), None)
        found = parts.get(targets.get(rid, ""))
        if found is None:
            continue
        shared = 0
        for index, count in found.shared.items():
            if int(index) < len(strings):
                shared += strings[int(index)] * count
        result[sheet.get("name", "")] = SheetScan(
            found.formulas, found.errors, found.last_row, found.last_column, found.widest, shared
        )
    return result


def _stream_members(
    shown: str,
    archive: zipfile.ZipFile,
    members: Sequence[zipfile.ZipInfo],
    max_uncompressed: int,
) -> dict[str, PartScan]:
    """Decompress every member, counting real bytes and scanning XML, until a limit is passed."""
    total = 0
    parts: dict[str, PartScan] = {}
    for member in members:
        if member.is_dir():
            continue
        scan = _QuickScan(shown)
        read = 0
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                read += len(chunk)
                total += len(chunk)
                if total > max_uncompressed:
                    raise _too_big(shown, max_uncompressed)
                if read > SUSPICIOUS_RATIO_MIN_BYTES and read > SUSPICIOUS_RATIO * max(
                    member.compress_size, 1
                ):
                    raise Invalid(
                        _(
                            "{name} looks like a zip bomb: its part {part} is compressed "
                            "more than {ratio} to 1"
                        ).format(name=shown, part=member.filename, ratio=SUSPICIOUS_RATIO)
                    )
                scan.feed(chunk)
        found = scan.finish()
        if found is None:
            # A formula or a cell written unusually: read this part again, element by element.
            precise = _XmlScan(shown)
            with archive.open(member) as stream:
                while (chunk := stream.read(_CHUNK)) and precise.feed(chunk):
                    pass
            found = precise.found
        parts[member.filename] = found
    return parts


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
# A cell as calamine holds a sheet (one 32-byte value per cell of the sheet's used rectangle).
CELL_BYTES = 32


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


class _QuickScan:
    """Watch one member as it streams, in C where it can: DTDs, rows, cells, shared strings.

    Parts with a formula or a cell written in any other way are read again by _XmlScan,
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
        raise entities_refused(self.shown)

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
        if found.rows > MAX_ROWS:
            raise Invalid(
                _("{name} has a sheet of more than {limit} rows").format(
                    name=self.shown, limit=MAX_ROWS
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


class _XmlScan:
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
        raise entities_refused(self.shown)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if self.open_rows:
            self.row_elements += 1
            if self.row_elements > MAX_ROW_ELEMENTS:
                raise Invalid(
                    _("{name} has a sheet row with more than {limit} cells").format(
                        name=self.shown, limit=MAX_ROW_ELEMENTS
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
                if self.found.rows > MAX_ROWS:
                    # Checked while streaming, before any reader builds the sheet in memory.
                    raise Invalid(
                        _("{name} has a sheet of more than {limit} rows").format(
                            name=self.shown, limit=MAX_ROWS
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


def _part(target: str) -> str:
    """Resolve a target of the workbook's relationships to the zip member it names."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join("xl", target))


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


def check_sheet(shown: str, title: str, scan: SheetScan | None) -> None:
    """Refuse a sheet that would be too large to read whole: too many rows, columns or bytes."""
    if scan is None:
        return
    if scan.last_row > MAX_ROWS:
        raise Invalid(
            _("sheet {sheet} has more than {limit} rows").format(sheet=title, limit=MAX_ROWS)
        )
    if scan.last_column > MAX_COLUMNS:
        raise Invalid(
            _("sheet {sheet} has more than {limit} columns (cell {cell} is filled)").format(
                sheet=title, limit=MAX_COLUMNS, cell=scan.widest
            )
        )
    # What the reader holds: one value per cell of the used rectangle, and each shared string
    # copied into every cell that names it (a short file can name a long string a million times).
    held = scan.last_row * scan.last_column * CELL_BYTES + scan.shared_bytes
    if held > MAX_UNCOMPRESSED_BYTES:
        raise _too_big(shown, MAX_UNCOMPRESSED_BYTES)


def _is_macro_part(member: str) -> bool:
    """Tell whether a zip member name is a VBA project or an Excel 4 macro sheet."""
    lowered = member.lower()
    return lowered.endswith("vbaproject.bin") or "macrosheets/" in lowered


def _human_size(size: int) -> str:
    """Format a byte count for a message: 20 MiB, 512 KiB, 100 B."""
    if size >= MiB:
        return f"{size / MiB:.1f}".removesuffix(".0") + " MiB"
    if size >= 1024:
        return f"{size / 1024:.1f}".removesuffix(".0") + " KiB"
    return f"{size} B"


def _too_big(shown: str, limit: int) -> Invalid:
    return Invalid(
        _("{name} expands to more than {limit} when unpacked, which is refused").format(
            name=shown, limit=_human_size(limit)
        )
    )


def unreadable(shown: str) -> Invalid:
    """Return the error of a file that passed the checks but is no usable workbook."""
    return Invalid(
        _(
            "{name} could not be read as an Excel workbook: "
            "open it in Excel and save it again as .xlsx"
        ).format(name=shown)
    )


def _damaged(shown: str) -> Invalid:
    return Invalid(
        _("{name} is damaged or incomplete (perhaps cut off in transfer): send it again").format(
            name=shown
        )
    )


def _macros(shown: str) -> Invalid:
    return Invalid(
        _("{name} contains macros, which are refused: save it as .xlsx without macros").format(
            name=shown
        )
    )


def entities_refused(shown: str) -> Invalid:
    """Return the error of a file that declares XML entities (a DTD), refused everywhere."""
    return Invalid(
        _("{name} contains XML entity declarations, which are refused").format(name=shown)
    )
