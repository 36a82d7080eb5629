"""Open untrusted Excel uploads safely: size, zip-bomb, macro and XML checks before openpyxl parses."""

from __future__ import annotations

import re
import tempfile
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from cocon.errors import Invalid
from cocon.i18n import _

try:
    from defusedxml import DefusedXmlException
except ImportError as exc:
    raise RuntimeError("defusedxml is not installed: cocon refuses to read workbooks") from exc
if not openpyxl.DEFUSEDXML:
    raise RuntimeError(
        "openpyxl does not use defusedxml (is OPENPYXL_DEFUSEDXML off?): "
        "it would parse XML entity bombs, so cocon refuses to read workbooks"
    )

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
# openpyxl builds each <row> element whole before handing it over, so one row with millions of
# children would exhaust memory before iter_capped_rows could count its cells.
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


@dataclass(frozen=True)
class CellValue:
    """One streamed cell: its value, whether it holds a formula, and where it is (e.g. "B7")."""

    value: object
    is_formula: bool
    coordinate: str


def open_untrusted_workbook(
    path: Path,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed: int = MAX_UNCOMPRESSED_BYTES,
    name: str | None = None,
) -> Workbook:
    """Check an uploaded .xlsx and open it read-only (formulas kept); call .close() when done."""
    shown = name or path.name
    data = _read_capped(path, shown, max_bytes)
    _check_signature(shown, data)
    _check_archive(shown, data, max_uncompressed)
    return _load(shown, data)


def check_upload(
    path: Path,
    *,
    max_bytes: int | None = None,
    max_uncompressed: int | None = None,
    name: str | None = None,
) -> tuple[IO[bytes], dict[str, dict[str, str]]]:
    """Check an uploaded .xlsx; return a private copy of it and each sheet's formulas by cell.

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


def iter_capped_rows(
    worksheet: ReadOnlyWorksheet | Worksheet,
    *,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
) -> Iterator[tuple[int, list[CellValue]]]:
    """Yield (row number, cells up to the last filled one) for each non-empty row, within caps."""
    title = worksheet.title
    if isinstance(worksheet, ReadOnlyWorksheet):
        # The declared <dimension> is the file's claim: A1:XFD1048576 would make openpyxl pad
        # every row to 16,384 cells and emit a million empty rows.
        worksheet.reset_dimensions()
    for number, row in enumerate(_guarded_rows(worksheet), start=1):
        if number > max(max_rows, EXCEL_MAX_ROWS):
            # Only empty rows get here (filled ones stop at max_rows): a gap no sheet can have.
            raise Invalid(
                _("sheet {sheet} is damaged: it has rows beyond Excel's last row").format(
                    sheet=title
                )
            )
        width = _filled_width(row)
        if width == 0:
            continue
        if number > max_rows:
            raise Invalid(
                _("sheet {sheet} has more than {limit} rows").format(sheet=title, limit=max_rows)
            )
        if width > max_columns:
            raise Invalid(
                _("sheet {sheet} has more than {limit} columns (cell {cell} is filled)").format(
                    sheet=title, limit=max_columns, cell=f"{get_column_letter(width)}{number}"
                )
            )
        cells = enumerate(row[:width], start=1)
        yield number, [_cell_value(cell, number, column) for column, cell in cells]


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


def _check_archive(shown: str, copy: IO[bytes], max_uncompressed: int) -> dict[str, dict[str, str]]:
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
            formulas = _stream_members(shown, archive, members, max_uncompressed)
            content_types = archive.read("[Content_Types].xml").lower()
            by_sheet = _formulas_by_sheet(archive, formulas)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _damaged(shown) from exc
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


def _formulas_by_sheet(
    archive: zipfile.ZipFile, formulas: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """Name the sheets that hold formulas, from the workbook part and its relationships."""
    if not formulas:
        return {}
    from defusedxml.ElementTree import fromstring

    relationships = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {
        rel.get("Id"): "xl/" + rel.get("Target", "").lstrip("/").removeprefix("xl/")
        for rel in relationships
    }
    workbook = fromstring(archive.read("xl/workbook.xml"))
    result = {}
    for sheet in workbook.iter():
        if sheet.tag.rpartition("}")[2] != "sheet":
            continue
        rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id") or k == "id"), None)
        member = targets.get(rid)
        if member in formulas:
            result[sheet.get("name", "")] = formulas[member]
    return result


def _stream_members(
    shown: str,
    archive: zipfile.ZipFile,
    members: Sequence[zipfile.ZipInfo],
    max_uncompressed: int,
) -> dict[str, dict[str, str]]:
    """Decompress every member, counting real bytes and scanning XML, until a limit is passed.

    Returns the formula cells found in each member ("xl/worksheets/sheet1.xml": {"F12": "SUM(A1:A3)"}).
    """
    total = 0
    formulas: dict[str, dict[str, str]] = {}
    for member in members:
        if member.is_dir():
            continue
        scan: _QuickScan | None = _QuickScan(shown)
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
                if scan is not None and not scan.feed(chunk):
                    scan = None
        if scan is not None and scan.finish():
            # A formula or an unusually long row: read this part again, element by element.
            precise = _XmlScan(shown)
            with archive.open(member) as stream:
                while (chunk := stream.read(_CHUNK)) and precise.feed(chunk):
                    pass
            if precise.formulas:
                formulas[member.filename] = precise.formulas
    return formulas


_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?row[\s/>]")
_FORMULA_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?f[\s/>]")
_TAIL = 64
# The shortest element ("<c/>") takes 4 bytes: only a row longer than this can hold more than
# MAX_ROW_ELEMENTS elements, and such a row is checked precisely.
_LONG_ROW_BYTES = 4 * MAX_ROW_ELEMENTS


class _QuickScan:
    """Watch one member as it streams, in C where it can: DTDs, row count, formula markers.

    Parts with a formula or a very long row are read again by _XmlScan, element by element;
    clean sheets (nearly all uploads) never pay for a Python call per element.
    """

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.rows = 0
        self.offset = 0
        self.last_row = 0
        self.long_row = False
        self.has_formula = False
        self.tail = b""
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartDoctypeDeclHandler = self._doctype

    def _doctype(self, *_args: object) -> None:
        raise entities_refused(self.shown)

    def feed(self, chunk: bytes) -> bool:
        """Scan the next chunk; return False once the member turns out not to be XML."""
        try:
            self.parser.Parse(chunk, False)
        except xml.parsers.expat.ExpatError:
            return False
        window = self.tail + chunk
        start = self.offset - len(self.tail)
        for match in _ROW_START.finditer(window):
            if match.end() <= len(self.tail):
                continue  # counted with the previous chunk
            position = start + match.start()
            if self.rows and position - self.last_row > _LONG_ROW_BYTES:
                self.long_row = True
            self.rows += 1
            self.last_row = position
            if self.rows > MAX_ROWS:
                raise Invalid(
                    _("{name} has a sheet of more than {limit} rows").format(
                        name=self.shown, limit=MAX_ROWS
                    )
                )
        if not self.has_formula and any(
            match.end() > len(self.tail) for match in _FORMULA_START.finditer(window)
        ):
            self.has_formula = True
        self.offset += len(chunk)
        self.tail = window[-_TAIL:]
        return True

    def finish(self) -> bool:
        """Tell whether the part needs the precise scan."""
        if self.rows and self.offset - self.last_row > _LONG_ROW_BYTES:
            self.long_row = True
        return self.has_formula or self.long_row


class _XmlScan:
    """Watch one member's XML as it streams: refuse DTDs and rows openpyxl would build too big."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.rows = 0
        self.open_rows = 0
        self.row_elements = 0
        self.cell: str | None = None
        self.in_formula: str | None = None
        self.formulas: dict[str, str] = {}
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
            # Images and other binary parts; a broken XML part fails later in openpyxl anyway.
            return False
        return True

    def _doctype(self, *_args: object) -> None:
        raise entities_refused(self.shown)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self.open_rows:
            self.row_elements += 1
            if self.row_elements > MAX_ROW_ELEMENTS:
                raise Invalid(
                    _("{name} has a sheet row with more than {limit} cells").format(
                        name=self.shown, limit=MAX_ROW_ELEMENTS
                    )
                )
        if self.open_rows:
            local = name.rpartition(":")[2]
            if local == "c":
                self.cell = attributes.get("r")
            elif local == "f" and self.cell:
                self.in_formula = self.cell
                self.formulas[self.cell] = ""
        if name == "row" or name.endswith(":row"):
            if not self.open_rows:
                self.rows += 1
                self.row_elements = 0
                if self.rows > EXCEL_MAX_ROWS:
                    raise Invalid(
                        _("{name} has a sheet with more rows than Excel allows").format(
                            name=self.shown
                        )
                    )
                if self.rows > MAX_ROWS:
                    # Checked while streaming, before any reader builds the sheet in memory.
                    raise Invalid(
                        _("{name} has a sheet of more than {limit} rows").format(
                            name=self.shown, limit=MAX_ROWS
                        )
                    )
            self.open_rows += 1

    def _text(self, text: str) -> None:
        if self.in_formula is not None and len(self.formulas[self.in_formula]) < 200:
            self.formulas[self.in_formula] += text

    def _end(self, name: str) -> None:
        if self.in_formula is not None and name.rpartition(":")[2] == "f":
            self.in_formula = None
        if self.open_rows and (name == "row" or name.endswith(":row")):
            self.open_rows -= 1


def _load(shown: str, copy: IO[bytes]) -> Workbook:
    """Open a checked copy with openpyxl, turning any parsing failure into Invalid."""
    copy.seek(0)
    try:
        # The copy rather than the path: openpyxl refuses paths by suffix (an upload may be saved
        # as .tmp), and these are the very bytes that passed the checks.
        return openpyxl.load_workbook(copy, read_only=True, data_only=False)
    except Exception as exc:
        if _defused(exc):
            raise entities_refused(shown) from exc
        # A hostile file can make openpyxl fail in any way (KeyError, ValueError, TypeError,
        # ParseError, InvalidFileException...): each means the file is not a usable workbook.
        raise Invalid(
            _(
                "{name} could not be read as an Excel workbook: "
                "open it in Excel and save it again as .xlsx"
            ).format(name=shown)
        ) from exc


def _guarded_rows(worksheet: ReadOnlyWorksheet | Worksheet) -> Iterator[Sequence[object]]:
    """Yield openpyxl's rows, turning failures while parsing the sheet XML into Invalid."""
    rows = iter(worksheet.iter_rows())
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            if _defused(exc):
                raise Invalid(
                    _("sheet {sheet} contains XML entity declarations, which are refused").format(
                        sheet=worksheet.title
                    )
                ) from exc
            # Same reason as in _load: the sheet XML is hostile or broken, whatever the error.
            raise Invalid(
                _("sheet {sheet} is damaged and cannot be read").format(sheet=worksheet.title)
            ) from exc
        yield row


def _defused(exc: BaseException | None) -> bool:
    """Tell whether defusedxml refused the XML, even under the ValueError openpyxl wraps it in."""
    while exc is not None:
        if isinstance(exc, DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _filled_width(row: Sequence[object]) -> int:
    """Return the 1-based column of the last cell holding a value, or 0 for an empty row."""
    for index in range(len(row) - 1, -1, -1):
        if getattr(row[index], "value", None) not in (None, ""):
            return index + 1
    return 0


def _cell_value(cell: object, row: int, column: int) -> CellValue:
    """Describe one cell; EmptyCell placeholders become empty values at their coordinate."""
    value = getattr(cell, "value", None)
    # Only a real formula: text that merely starts with "=" (written quote-prefixed) is text.
    is_formula = getattr(cell, "data_type", None) == "f"
    return CellValue(value, is_formula, f"{get_column_letter(column)}{row}")


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
