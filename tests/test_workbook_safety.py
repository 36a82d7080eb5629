"""Opening untrusted Excel uploads: every hostile file is generated here, none is a fixture."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from cocon.errors import Invalid
from cocon.workbook import safety
from cocon.workbook.safety import MAX_ROW_ELEMENTS, check_upload
from cocon.workbook.xlsx_read import CheckedWorkbook
from cocon.workbook.xlsx_scan import SheetScan
from tests import hostile

MiB = 1024 * 1024
EXCEL_MAX_ROWS = 1_048_576
Upload = Callable[..., Path]


@pytest.fixture
def upload(tmp_path: Path) -> Upload:
    """Write bytes under a file name and return its path."""

    def write(data: bytes, name: str = "upload.xlsx") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def inflated_bytes(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the bytes zipfile inflates from now on, to show that reading stopped early."""
    total = 0
    read = zipfile.ZipExtFile.read

    def counting(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        nonlocal total
        chunk = read(self, n)
        total += len(chunk)
        return chunk

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    return lambda: total


def opened(path: Path, **kwargs: Any) -> CheckedWorkbook:
    """Check an upload and open it as the import does."""
    copy, scans = check_upload(path, **kwargs)
    return CheckedWorkbook(copy, kwargs.get("name") or path.name, scans)


def refused(path: Path, **kwargs: Any) -> str:
    """Check and read every sheet of path, expect Invalid, and return its message."""
    with pytest.raises(Invalid) as caught:
        book = opened(path, **kwargs)
        for title in book.sheet_names:
            list(book.rows(title))
    return caught.value.message


def rows_of(data: bytes, upload: Upload) -> list[tuple[int, list]]:
    """Check generated workbook bytes and read its first sheet."""
    book = opened(upload(data))
    return list(book.rows(book.sheet_names[0]))


def formulas_of(data: bytes, upload: Upload) -> dict[str, str]:
    """Return the formula cells the scan found in the first sheet."""
    _copy, scans = check_upload(upload(data))
    return next(iter(scans.values())).formulas


def test_workbook_normal_opens_and_streams(upload) -> None:
    data = hostile.real_xlsx([["code", "name", "amount"], ["P1", "Road", 12.5], ["P2", None, 3]])
    rows = rows_of(data, upload)
    assert [number for number, _cells in rows] == [1, 2, 3]
    assert rows[1][1] == ["P1", "Road", 12.5]
    assert rows[2][1] == ["P2", "", 3]
    assert formulas_of(data, upload) == {}


def test_workbook_normal_under_any_file_suffix(upload) -> None:
    # Uploads are often saved under a temporary name; openpyxl alone refuses unknown suffixes.
    assert opened(upload(hostile.real_xlsx(), "upload.tmp")).sheet_names == ["Projects"]


def test_size_oversized_refused(upload) -> None:
    message = refused(upload(hostile.real_xlsx(), "big.xlsx"), max_bytes=1000)
    assert "big.xlsx is too large" in message
    assert "the limit is 1000 B" in message


def test_size_empty_file_refused(upload) -> None:
    assert refused(upload(b"", "blank.xlsx")) == "blank.xlsx is empty"


def test_size_missing_file_refused(tmp_path: Path) -> None:
    assert "gone.xlsx cannot be read" in refused(tmp_path / "gone.xlsx")


def test_signature_renamed_text_refused(upload) -> None:
    message = refused(upload(b"code,name\nP1,Road\n", "projects.xlsx"))
    assert message == (
        "projects.xlsx is not an Excel workbook: open it in Excel and save it as .xlsx"
    )


def test_signature_html_saved_as_xls_refused(upload) -> None:
    html = b'\xef\xbb\xbf<html xmlns:x="urn:schemas-microsoft-com:office:excel"><body><table>'
    message = refused(upload(html + b"<tr><td>P1</td></tr></table></body></html>", "r.xls"))
    assert "r.xls is a web page (HTML)" in message


def test_signature_ole2_old_xls_refused(upload) -> None:
    message = refused(upload(hostile.ole2_file(), "old.xls"))
    assert message == "old.xls is an old .xls file: save it as .xlsx"


def test_signature_ole2_password_protected_refused(upload) -> None:
    message = refused(upload(hostile.ole2_file(encrypted=True), "secret.xlsx"))
    assert "secret.xlsx is protected by a password" in message


def test_zip_truncated_refused(upload) -> None:
    data = hostile.real_xlsx()
    message = refused(upload(data[: len(data) // 2], "cut.xlsx"))
    assert "cut.xlsx is damaged or incomplete" in message


def test_zip_encrypted_member_refused(upload) -> None:
    message = refused(upload(hostile.encrypted_member_zip(), "locked.xlsx"))
    assert "locked.xlsx uses zip encryption or compression" in message


def test_zip_too_many_members_refused(upload) -> None:
    data = hostile.many_members_zip(safety.MAX_MEMBERS)
    message = refused(upload(data, "parts.xlsx"))
    assert f"parts.xlsx has too many parts ({safety.MAX_MEMBERS + 9}); the limit is" in message


def test_macros_vba_project_refused(upload) -> None:
    message = refused(upload(hostile.macro_workbook(), "macro.xlsx"))
    assert message.startswith("macro.xlsx contains macros, which are refused")


def test_macros_content_type_only_refused(upload) -> None:
    message = refused(upload(hostile.macro_workbook(with_vba_part=False), "macro.xlsx"))
    assert message.startswith("macro.xlsx contains macros")


def test_parts_missing_workbook_refused(upload) -> None:
    data = hostile.rezip(hostile.real_xlsx(), drop=("xl/workbook.xml",))
    assert "doc.xlsx is not an .xlsx workbook: it lacks xl/workbook.xml" in refused(
        upload(data, "doc.xlsx")
    )


def test_parts_missing_relationships_refused(upload) -> None:
    data = hostile.rezip(hostile.real_xlsx(), drop=("xl/_rels/workbook.xml.rels",))
    message = refused(upload(data, "norels.xlsx"))
    assert message.startswith("norels.xlsx could not be read as an Excel workbook")


def test_parts_plain_zip_refused(upload) -> None:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("projects.csv", "code,name\n")
    message = refused(upload(out.getvalue(), "zipped.xlsx"))
    assert "zipped.xlsx is not an .xlsx workbook: it lacks [Content_Types].xml" in message


def test_parts_xlsb_refused(upload) -> None:
    data = hostile.rezip(
        hostile.real_xlsx(), {"xl/workbook.bin": b"\0" * 64}, drop=("xl/workbook.xml",)
    )
    assert "book.xlsb is a binary .xlsb workbook" in refused(upload(data, "book.xlsb"))


def test_zip_bomb_over_cap_refused(upload, inflated_bytes) -> None:
    # 64 MiB of zeros compress to ~64 KiB; the directory is honest, the cap is counted while reading.
    data = hostile.zip_bomb_workbook(64 * MiB)
    assert len(data) < MiB
    message = refused(upload(data, "bomb.xlsx"), max_uncompressed=MiB)
    assert message == "bomb.xlsx expands to more than 1 MiB when unpacked, which is refused"
    assert inflated_bytes() < 2 * MiB


def test_zip_bomb_lying_header_refused(upload) -> None:
    # The directory claims 1,000 bytes; the data inflates to 8 MiB. zipfile stops reading at the
    # claimed size, so the lie cannot expand past it, and the CRC no longer matches.
    data = hostile.lying_zip_bomb(8 * MiB, declared=1000)
    with zipfile.ZipFile(BytesIO(data)) as archive:
        assert sum(info.file_size for info in archive.infolist()) < MiB
    message = refused(upload(data, "liar.xlsx"), max_uncompressed=MiB)
    assert "liar.xlsx is damaged or incomplete" in message


def test_zip_bomb_ratio_refused(upload, inflated_bytes) -> None:
    message = refused(upload(hostile.zip_bomb_workbook(40 * MiB), "ratio.xlsx"))
    assert "ratio.xlsx looks like a zip bomb: its part customXml/item1.xml" in message
    assert inflated_bytes() < 11 * MiB


def test_entities_shared_strings_bomb_refused(upload) -> None:
    message = refused(upload(hostile.entity_bomb_workbook(), "lol.xlsx"))
    assert message == "lol.xlsx contains XML entity declarations, which are refused"


def test_entities_sheet_bomb_refused(upload) -> None:
    message = refused(upload(hostile.entity_bomb_workbook(in_sheet=True), "lol.xlsx"))
    assert "lol.xlsx contains XML entity declarations" in message


@pytest.mark.parametrize("in_sheet", [True, False])
def test_entities_reader_behind_the_scan_refuses_bomb(in_sheet: bool) -> None:
    # Behind the archive scan, the reader does not expand the entities either: it refuses.
    data = BytesIO(hostile.entity_bomb_workbook(in_sheet))
    small = SheetScan({}, {}, last_row=1, last_column=1, widest="A1", shared_bytes=0)
    with pytest.raises(Invalid):
        book = CheckedWorkbook(data, "lol.xlsx", {"Projects": small})
        for title in book.sheet_names:
            list(book.rows(title))


def test_reader_failure_wrapped(upload) -> None:
    data = hostile.rezip(hostile.real_xlsx(), {"xl/workbook.xml": b"<workbook>broken"})
    message = refused(upload(data, "odd.xlsx"))
    assert message.startswith("odd.xlsx could not be read as an Excel workbook")


def test_row_bomb_single_row_refused(upload) -> None:
    data = hostile.with_sheet_xml('<row r="1">' + "<c/>" * (MAX_ROW_ELEMENTS + 1) + "</row>")
    message = refused(upload(data, "wide.xlsx"))
    assert f"wide.xlsx has a sheet row with more than {MAX_ROW_ELEMENTS} cells" in message


def test_row_bomb_too_many_row_elements_refused(upload) -> None:
    # Distinct row numbers keep the part below the compression-ratio alarm.
    data = hostile.with_sheet_xml("".join(f'<row r="{r}"/>' for r in range(EXCEL_MAX_ROWS + 1)))
    message = refused(upload(data, "tall.xlsx"))
    assert "tall.xlsx has a sheet of more than 200000 rows" in message


def test_dimension_lie_small_sheet_streams(upload) -> None:
    # Claims the whole grid and carries formatted but empty cells and rows far out: none counts.
    sheet = (
        hostile.number_rows(1, 10)
        .replace("</row>", '<c r="XFD5" s="0"/></row>', 1)
        .replace('<row r="5">', '<row r="5" customFormat="1" s="0">')
        + '<row r="1048576"><c r="A1048576" s="0"/></row>'
    )
    data = hostile.with_sheet_xml(sheet, dimension="A1:XFD1048576")
    started = time.monotonic()
    rows = rows_of(data, upload)
    assert time.monotonic() - started < 5
    assert [number for number, _cells in rows] == list(range(1, 11))
    assert all(len(cells) == 3 for _number, cells in rows)
    assert rows[9][1][2] == 10


def test_rows_over_cap_refused_early(upload, monkeypatch) -> None:
    # The sheet XML is broken at its very end: reading it all would report damage, not the cap.
    monkeypatch.setattr(safety, "MAX_ROWS", 50)
    sheet = hostile.number_rows(1, 5000) + "<row><c><v>1</oops>"
    message = refused(upload(hostile.with_sheet_xml(sheet)))
    assert message == "upload.xlsx has a sheet of more than 50 rows"


def test_rows_gap_then_content_refused(upload, monkeypatch) -> None:
    monkeypatch.setattr(safety, "MAX_ROWS", 100)
    sheet = hostile.number_rows(1, 2) + hostile.number_rows(900, 900)
    message = refused(upload(hostile.with_sheet_xml(sheet)))
    assert message == "sheet Projects has more than 100 rows"


def test_columns_over_cap_refused(upload, monkeypatch) -> None:
    monkeypatch.setattr(safety, "MAX_COLUMNS", 10)
    message = refused(upload(hostile.real_xlsx([["a"] * 3, [1] * 12])))
    assert message == "sheet Projects has more than 10 columns (cell L2 is filled)"


def _prefixed(data: bytes) -> bytes:
    """Write the sheet's elements with a namespace prefix, as some tools do."""
    sheet = hostile.member(data, hostile.SHEET).decode()
    sheet = sheet.replace("<worksheet xmlns=", "<x:worksheet xmlns:x=").replace(
        "</worksheet", "</x:worksheet"
    )
    for name in ("dimension", "sheetData", "row", "c", "v"):
        sheet = sheet.replace(f"<{name}", f"<x:{name}").replace(f"</{name}>", f"</x:{name}>")
    return hostile.rezip(data, {hostile.SHEET: sheet.encode()})


@pytest.mark.parametrize("prefixed", [False, True])
def test_sparse_cells_spanning_the_sheet_refused(upload, prefixed) -> None:
    # Two cells far apart: the reader would hold every cell between them (200 columns by
    # 199,999 rows); plain cells are seen by the quick scan, prefixed ones by the XML parser.
    sheet = '<row r="1"><c r="A1"><v>1</v></c></row>'
    sheet += '<row r="199999"><c r="GR199999"><v>1</v></c></row>'
    data = hostile.with_sheet_xml(sheet)
    if prefixed:
        data = _prefixed(data)
    message = refused(upload(data, "sparse.xlsx"))
    assert message == "sparse.xlsx expands to more than 200 MiB when unpacked, which is refused"


def test_shared_string_named_by_many_cells_refused(upload) -> None:
    # A 1 MiB string stored once and named by 300 cells would be copied into each of them.
    strings = f'<sst xmlns="{hostile.MAIN_NS}"><si><t>{"x" * MiB}</t></si></sst>'
    cells = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>' for r in range(1, 301))
    data = hostile.rezip(
        hostile.shared_strings_workbook(strings),
        {hostile.SHEET: hostile.member(hostile.with_sheet_xml(cells), hostile.SHEET)},
    )
    message = refused(upload(data, "strings.xlsx"))
    assert message == "strings.xlsx expands to more than 200 MiB when unpacked, which is refused"


def test_sheet_damaged_while_streaming_refused(upload) -> None:
    sheet = hostile.number_rows(1, 3) + "<row><c><v>1</oops>"
    message = refused(upload(hostile.with_sheet_xml(sheet)))
    assert message == "sheet Projects is damaged and cannot be read"


def test_cells_shared_strings_read(upload) -> None:
    rows = rows_of(hostile.shared_strings_workbook(), upload)
    assert rows == [(1, ["code"]), (2, ["P1"])]


def test_cells_empty_cells_keep_positions(upload) -> None:
    sheet = '<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c><c r="C2"><v>3</v></c></row>'
    rows = rows_of(hostile.with_sheet_xml(sheet), upload)
    assert rows == [(2, ["x", "", 3])]


def test_cells_formula_reported(upload) -> None:
    data = hostile.real_xlsx([["a", "b", "total"], [2, 3, "=A2*B2"]])
    assert formulas_of(data, upload) == {"C2": "A2*B2"}


def test_cells_text_starting_with_equals_is_text(upload) -> None:
    # Text cells (the export writes risky text quote-prefixed) are values, never formulas.
    sheet = '<row r="1"><c r="A1" t="inlineStr"><is><t>=HYPERLINK("x")</t></is></c></row>'
    data = hostile.with_sheet_xml(sheet)
    assert rows_of(data, upload)[0][1][0] == '=HYPERLINK("x")'
    assert formulas_of(data, upload) == {}


def test_cells_error_value_kept_as_its_text(upload) -> None:
    # An error pasted as a value (#N/A) is its text, as Excel shows it, not an empty cell.
    sheet = '<row r="1"><c r="A1" t="e"><v>#N/A</v></c><c r="B1"><v>2</v></c></row>'
    assert rows_of(hostile.with_sheet_xml(sheet), upload) == [(1, ["#N/A", 2])]


def test_name_shown_instead_of_path(upload) -> None:
    message = refused(upload(b"hello", "tmp123.upload"), name="县财政局报表.xlsx")
    assert message.startswith("县财政局报表.xlsx is not an Excel workbook")
