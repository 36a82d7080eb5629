"""Generate hostile and broken Excel uploads in code, so no binary fixture is ever checked in."""

from __future__ import annotations

import struct
import zipfile
from io import BytesIO

import openpyxl

SHEET = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XLSM_CONTENT_TYPE = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
BILLION_LAUGHS = (
    '<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


def real_xlsx(rows: list[list[object]] | None = None, title: str = "Projects") -> bytes:
    """Return a genuine workbook written by openpyxl, one sheet holding rows."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows if rows is not None else [["code", "name"], ["P1", "Road"]]:
        sheet.append(row)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rezip(
    data: bytes,
    replace: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """Copy a zip, replacing or adding members (by name) and dropping others."""
    replace = dict(replace or {})
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as source, zipfile.ZipFile(out, "w", compression) as target:
        for member in source.infolist():
            if member.filename in drop:
                continue
            body = replace.pop(member.filename, None)
            target.writestr(member.filename, source.read(member) if body is None else body)
        for name, body in replace.items():
            target.writestr(name, body)
    return out.getvalue()


def member(data: bytes, name: str) -> bytes:
    """Return one member of a zip."""
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return archive.read(name)


def with_sheet_xml(sheet_data: str, dimension: str = "A1", before: bytes = b"") -> bytes:
    """Return a real workbook whose first sheet holds sheet_data, with before ahead of its root."""
    xml = (
        f'<worksheet xmlns="{MAIN_NS}"><dimension ref="{dimension}"/>'
        f"<sheetData>{sheet_data}</sheetData></worksheet>"
    ).encode()
    return rezip(real_xlsx(), {SHEET: b'<?xml version="1.0" encoding="UTF-8"?>\n' + before + xml})


def number_rows(first: int, last: int, columns: int = 3) -> str:
    """Return <row> elements of numeric cells for rows first..last."""
    letters = "ABCDEFGHIJ"[:columns]
    return "".join(
        f'<row r="{r}">' + "".join(f'<c r="{c}{r}"><v>{r}</v></c>' for c in letters) + "</row>"
        for r in range(first, last + 1)
    )


def macro_workbook(with_vba_part: bool = True) -> bytes:
    """Return a real workbook turned macro-enabled, as Excel writes an .xlsm."""
    data = real_xlsx()
    types = member(data, "[Content_Types].xml").decode()
    types = types.replace(XLSX_CONTENT_TYPE, XLSM_CONTENT_TYPE)
    parts: dict[str, bytes] = {}
    if with_vba_part:
        types = types.replace(
            "</Types>",
            '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>',
        )
        parts["xl/vbaProject.bin"] = b"\xd0\xcf\x11\xe0" + b"\0" * 512
    parts["[Content_Types].xml"] = types.encode()
    return rezip(data, parts)


def shared_strings_workbook(shared_strings: str | None = None) -> bytes:
    """Return a workbook whose A1 and A2 read from xl/sharedStrings.xml, as Excel writes them."""
    strings = shared_strings or (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns="{MAIN_NS}" count="2" uniqueCount="2">'
        "<si><t>code</t></si><si><t>P1</t></si></sst>"
    )
    data = with_sheet_xml(
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
    )
    types = (
        member(data, "[Content_Types].xml")
        .decode()
        .replace(
            "</Types>",
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
    )
    return rezip(
        data, {"[Content_Types].xml": types.encode(), "xl/sharedStrings.xml": strings.encode()}
    )


def entity_bomb_workbook(in_sheet: bool = False) -> bytes:
    """Return a workbook with a billion-laughs DTD in its shared strings or in its sheet."""
    if in_sheet:
        return with_sheet_xml(
            '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>',
            before=BILLION_LAUGHS.encode(),
        )
    return shared_strings_workbook(
        BILLION_LAUGHS + f'<sst xmlns="{MAIN_NS}"><si><t>&lol9;</t></si><si><t>P1</t></si></sst>'
    )


def zip_bomb_workbook(inflated: int) -> bytes:
    """Return a real workbook carrying an extra member of inflated zero bytes (tiny compressed)."""
    return rezip(real_xlsx(), {"customXml/item1.xml": bytes(inflated)})


def lying_zip_bomb(inflated: int, declared: int) -> bytes:
    """Return zip_bomb_workbook with the member's size patched down to declared in both headers."""
    data = bytearray(zip_bomb_workbook(inflated))
    name = b"customXml/item1.xml"
    local = data.find(name) - 30
    central = data.rfind(name) - 46
    assert data[local : local + 4] == b"PK\x03\x04"
    assert data[central : central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)


def encrypted_member_zip() -> bytes:
    """Return a real workbook whose sheet is flagged as zip-encrypted (as no Excel writes)."""
    data = bytearray(real_xlsx())
    name = SHEET.encode()
    for start in (data.find(name) - 30, data.rfind(name) - 46):
        flags_at = start + (6 if data[start : start + 4] == b"PK\x03\x04" else 8)
        data[flags_at] |= 0x01
    return bytes(data)


def many_members_zip(count: int) -> bytes:
    """Return a real workbook padded with count tiny extra members."""
    return rezip(real_xlsx(), {f"customXml/item{i}.xml": b"" for i in range(count)})


def ole2_file(encrypted: bool = False) -> bytes:
    """Return the start of an OLE2 compound file (old .xls, or a password-protected .xlsx)."""
    body = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    if encrypted:
        body += "EncryptionInfo\0EncryptedPackage".encode("utf-16-le")
    return body + b"\0" * 512
