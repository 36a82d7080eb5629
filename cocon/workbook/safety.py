"""Check untrusted Excel uploads before any reader parses them: size, zip bombs, macros, XML."""

from __future__ import annotations

import posixpath
import re
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cocon.errors import Invalid
from cocon.i18n import _

if TYPE_CHECKING:
    from cocon.workbook.xlsx_scan import PartScan, SheetScan

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
# Elements in one row: more is no genuine sheet (Excel has 16,384 columns).
MAX_ROW_ELEMENTS = 100_000
# A cell as calamine holds a sheet (one 32-byte value per cell of the sheet's used rectangle).
CELL_BYTES = 32

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
    except (SyntaxError, KeyError) as exc:  # the workbook's relationships missing, or not XML
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


def _part(target: str) -> str:
    """Resolve a target of the workbook's relationships to the zip member it names."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join("xl", target))


def _sheet_scans(archive: zipfile.ZipFile, parts: dict[str, PartScan]) -> dict[str, SheetScan]:
    """Name what the scan found by sheet, from the workbook part and its relationships."""
    from defusedxml.ElementTree import fromstring

    from cocon.workbook.xlsx_scan import PartScan, SheetScan

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
    from cocon.workbook.xlsx_scan import QuickScan, XmlScan

    total = 0
    parts: dict[str, PartScan] = {}
    for member in members:
        if member.is_dir():
            continue
        scan = QuickScan(shown)
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
            precise = XmlScan(shown)
            with archive.open(member) as stream:
                while (chunk := stream.read(_CHUNK)) and precise.feed(chunk):
                    pass
            found = precise.found
        parts[member.filename] = found
    return parts


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
