"""Imports stream their rows: sheets as other writers save them, codes met again batches later,
and memory that does not grow with the rows. Workbooks are built here or by tests/workbooks.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import xlsxwriter
from sqlalchemy import select
from sqlmodel import Session

from cocon.models import Project
from cocon.workbook import bulk, safety
from cocon.workbook.reading import read_xlsx
from cocon.workbook.safety import check_upload
from cocon.workbook.xlsx_read import CheckedWorkbook
from tests import hostile, workbooks
from tests.conftest import snapshot
from tests.workbooks import headers, project, rejected_problems, table, write_workbook

database_url = workbooks.database_url
COLUMNS = ["code", "name", "owner", "site", "category", "year", "start_date", "end_date", "budget"]
# Style 1: a custom date format; style 2: Excel's built-in Chinese date format 31 (yyyy年m月d日).
STYLES = (
    f'<styleSheet xmlns="{hostile.MAIN_NS}"><numFmts count="1">'
    '<numFmt numFmtId="164" formatCode="yyyy/m/d"/></numFmts>'
    '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="31"/></cellXfs>'
    "</styleSheet>"
)


def _imported(cli, path: Path):
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output + result.stderr
    return result


def _stored(engine, code: str) -> Project | None:
    with Session(engine) as session:
        return session.exec(select(Project).where(Project.code == code)).scalars().first()


def _prefixed_sheet(rows: list[list[tuple[str, str, str | None]]]) -> str:
    """Return sheet XML with the x: prefix and no r attributes: (type, text, style) per cell."""
    body = []
    for row in rows:
        cells = []
        for kind, text, style in row:
            styled = f' s="{style}"' if style else ""
            if kind == "inlineStr":
                cells.append(
                    f'<x:c t="inlineStr"{styled}><x:is><x:t>{escape(text)}</x:t></x:is></x:c>'
                )
            else:
                cells.append(f'<x:c t="{kind}"{styled}><x:v>{escape(text)}</x:v></x:c>')
        body.append("<x:row>" + "".join(cells) + "</x:row>")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<x:worksheet xmlns:x="{hostile.MAIN_NS}">'
        f"<x:sheetData>{''.join(body)}</x:sheetData></x:worksheet>"
    )


def _header_cells() -> list[tuple[str, str, None]]:
    return [("inlineStr", header, None) for header in headers("projects", COLUMNS, "en")]


def test_import_reads_prefixed_sheet_without_cell_references(cli, engine, tmp_path):
    # Writers other than Excel (the Open XML SDK, some ERP exports) prefix every element and
    # leave out the r attributes; dates in ISO form (t="d") and in both date styles.
    row = [
        ("inlineStr", "X-001", None),
        ("inlineStr", "前缀写法的项目", None),
        ("inlineStr", "330105017", None),
        ("n", "330105017003", None),
        ("inlineStr", "文体设施", None),
        ("n", "2023", None),
        ("d", "2023-03-01T00:00:00", None),
        ("n", "45260", "2"),  # 2023-11-30 shown as 2023年11月30日
        ("n", "125000.5", None),
    ]
    data = hostile.rezip(
        hostile.real_xlsx(),
        {
            hostile.SHEET: _prefixed_sheet([_header_cells(), row]).encode(),
            "xl/styles.xml": STYLES.encode(),
        },
    )
    path = tmp_path / "prefixed.xlsx"
    path.write_bytes(data)
    _imported(cli, path)
    stored = _stored(engine, "X-001")
    assert (stored.name, stored.start_date, stored.end_date, stored.budget_fen) == (
        "前缀写法的项目",
        date(2023, 3, 1),
        date(2023, 11, 30),
        12_500_050,
    )


def test_import_reads_dates_of_a_1904_workbook(cli, engine, tmp_path):
    # Old Mac workbooks count days from 1904: the same date is 1,462 days less.
    row = [
        ("inlineStr", "X-002", None),
        ("inlineStr", "1904年历的项目", None),
        ("inlineStr", "330105017", None),
        ("inlineStr", "330105017003", None),
        ("inlineStr", "文体设施", None),
        ("n", "2023", None),
        ("n", str(44986 - 1462), "1"),  # 2023-03-01
        ("n", str(45260 - 1462), "1"),  # 2023-11-30
        ("n", "50000", None),
    ]
    base = hostile.real_xlsx()
    workbook_xml = hostile.member(base, "xl/workbook.xml").decode()
    workbook_xml = workbook_xml.replace("<workbookPr", '<workbookPr date1904="1"', 1)
    if 'date1904="1"' not in workbook_xml:
        workbook_xml = workbook_xml.replace("<sheets>", '<workbookPr date1904="1"/><sheets>', 1)
    data = hostile.rezip(
        base,
        {
            hostile.SHEET: _prefixed_sheet([_header_cells(), row]).encode(),
            "xl/styles.xml": STYLES.encode(),
            "xl/workbook.xml": workbook_xml.encode(),
        },
    )
    path = tmp_path / "mac.xlsx"
    path.write_bytes(data)
    _imported(cli, path)
    stored = _stored(engine, "X-002")
    assert (stored.start_date, stored.end_date) == (date(2023, 3, 1), date(2023, 11, 30))


def test_import_reads_rich_text_without_its_phonetic_guide(cli, engine, tmp_path):
    # Excel keeps formatted runs and phonetic guides (rPh) in the shared strings: the name is
    # the runs' text only.
    strings = (
        f'<sst xmlns="{hostile.MAIN_NS}"><si><r><t>胜利</t></r><r><rPr><b/></rPr><t>篮球</t></r>'
        '<rPh sb="0" eb="2"><t>しょうり</t></rPh></si></sst>'
    )
    data = workbooks.xlsx_bytes(
        {"共建项目": table("projects", [project("X-003", name="placeholder")])}
    )
    sheet = hostile.member(data, hostile.SHEET).decode()
    cell_start = sheet.index("placeholder")
    cell_open = sheet.rindex("<c ", 0, cell_start)
    cell_close = sheet.index("</c>", cell_start) + len("</c>")
    reference = sheet[cell_open:].split('r="', 1)[1].split('"', 1)[0]
    sheet = sheet[:cell_open] + f'<c r="{reference}" t="s"><v>0</v></c>' + sheet[cell_close:]
    path = tmp_path / "rich.xlsx"
    path.write_bytes(_with_strings(data, sheet, strings))
    _imported(cli, path)
    assert _stored(engine, "X-003").name == "胜利篮球"


def _with_strings(data: bytes, sheet: str, strings: str) -> bytes:
    """Return data with its first sheet replaced and a shared strings part named in its rels."""
    rels = hostile.member(data, "xl/_rels/workbook.xml.rels").decode()
    if "sharedStrings" not in rels:
        rels = rels.replace(
            "</Relationships>",
            '<Relationship Id="rIdStrings" Target="sharedStrings.xml" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>',
        )
    return hostile.rezip(
        data,
        {
            hostile.SHEET: sheet.encode(),
            "xl/sharedStrings.xml": strings.encode(),
            "xl/_rels/workbook.xml.rels": rels.encode(),
        },
    )


def test_import_finds_a_code_again_in_a_later_batch(cli, database_url, monkeypatch, tmp_path):
    monkeypatch.setattr(bulk, "BATCH", 2)
    records = [project(f"D-{n:03d}") for n in range(1, 6)] + [project("D-002", name="again")]
    path = write_workbook(tmp_path / "d.xlsx", {"共建项目": table("projects", records)})
    before = snapshot(database_url)
    problems = rejected_problems(cli, path)
    assert problems == ["共建项目:7 [A7 项目编号]: The code D-002 appears twice in the sheet"]
    assert snapshot(database_url) == before


def test_import_finds_the_code_of_a_failed_row_again_later(
    cli, database_url, monkeypatch, tmp_path
):
    monkeypatch.setattr(bulk, "BATCH", 2)
    records = [project("E-001", budget="12..5")] + [project(f"E-{n:03d}") for n in range(2, 5)]
    records.append(project("E-001"))
    path = write_workbook(tmp_path / "e.xlsx", {"共建项目": table("projects", records)})
    problems = rejected_problems(cli, path)
    assert [problem.split("]")[0] for problem in problems] == [
        "共建项目:2 [G2 预算金额（元）",
        "共建项目:6 [A6 项目编号",
    ]
    assert problems[1].endswith("The code E-001 appears twice in the sheet")


def test_import_finds_an_unchanged_code_again_later(cli, database_url, monkeypatch, tmp_path):
    records = [project(f"U-{n:03d}") for n in range(1, 4)]
    first = write_workbook(tmp_path / "first.xlsx", {"共建项目": table("projects", records)})
    _imported(cli, first)
    monkeypatch.setattr(bulk, "BATCH", 2)
    again = write_workbook(
        tmp_path / "again.xlsx", {"共建项目": table("projects", [*records, records[0]])}
    )
    before = snapshot(database_url)
    problems = rejected_problems(cli, again)
    assert problems == ["共建项目:5 [A5 项目编号]: The code U-001 appears twice in the sheet"]
    assert snapshot(database_url) == before


def test_import_in_batches_writes_every_row(cli, engine, monkeypatch, tmp_path):
    monkeypatch.setattr(bulk, "BATCH", 3)
    records = [project(f"B-{n:03d}", budget=1000 * n) for n in range(1, 11)]
    path = write_workbook(tmp_path / "b.xlsx", {"共建项目": table("projects", records)})
    result = _imported(cli, path)
    assert "10 to create" in result.output
    assert [_stored(engine, f"B-{n:03d}").budget_fen for n in (1, 5, 10)] == [
        100_000,
        500_000,
        1_000_000,
    ]


def _projects_file(path: Path, rows: int) -> Path:
    """Write a projects sheet of rows rows with xlsxwriter, as a large office list would be."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("共建项目")
    sheet.write_row(0, 0, headers("projects", COLUMNS))
    for line in range(1, rows + 1):
        sheet.write_row(
            line,
            0,
            [f"M-{line:06d}", f"项目{line}", "330105017", "330105017003", "文体设施", 2023,
             "2023-03-01", "2023-11-30", 10_000 + line],
        )  # fmt: skip
    book.close()
    return path


_PEAK_READING = """
import sys
from pathlib import Path

from cocon.workbook.reading import read_xlsx


def rss(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key)) * 1024


before = rss("VmRSS")
sheets, _ignored, problems = read_xlsx(Path(sys.argv[1]))
assert not problems
print(sum(1 for source in sheets for _row in source.rows), rss("VmHWM") - before)
"""


def _peak_reading(path: Path) -> tuple[int, int]:
    """Read every row of a workbook as an import does, in a fresh process; return the rows and
    how far its peak resident memory rose (calamine's memory is not Python's, so not traced)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_READING, str(path)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    rows, peak = done.stdout.split()
    return int(rows), int(peak)


@pytest.mark.slow
def test_read_xlsx_memory_bounded_at_the_row_cap(tmp_path):
    # calamine holds a sheet whole: memory grows with the rows, up to the row cap and no further
    # (the safety scan refuses more rows, and cells spread wider than the sheet's real content).
    rows = safety.MAX_ROWS - 1  # and the header
    path = _projects_file(tmp_path / "large.xlsx", rows)
    assert path.stat().st_size < safety.MAX_UPLOAD_BYTES
    read, peak = _peak_reading(path)
    assert read == rows
    # About 175 MiB on Linux (Python 3.11, python-calamine 0.9); 2 KiB per row would be a leak.
    assert peak < 400 * safety.MiB, peak


@pytest.mark.parametrize("declared", ["A1:I40001", "A1"])
def test_read_xlsx_expected_rows_from_the_sheet_not_its_dimension(tmp_path, declared):
    # Progress counts the rows the sheet holds, whatever its <dimension> claims.
    path = _projects_file(tmp_path / "p.xlsx", 10)
    data = path.read_bytes()
    sheet = hostile.member(data, hostile.SHEET).decode()
    start = sheet.index("<dimension")
    end = sheet.index("/>", start) + 2
    sheet = sheet[:start] + f'<dimension ref="{declared}"/>' + sheet[end:]
    path.write_bytes(hostile.rezip(data, {hostile.SHEET: sheet.encode()}))
    sheets, _ignored, _problems = read_xlsx(path)
    assert sheets[0].expected_rows == 10
    assert sum(1 for _row in sheets[0].rows) == 10


def test_import_tells_progress_after_each_batch(engine, monkeypatch, tmp_path):
    from cocon.checks import DEFAULT
    from cocon.db import session_scope
    from cocon.workbook.importer import import_source

    monkeypatch.setattr(bulk, "BATCH", 5)
    path = _projects_file(tmp_path / "p.xlsx", 12)
    told: list[tuple[str, int, int]] = []
    with session_scope(engine, write=True) as session:
        import_source(session, path, DEFAULT, lambda *args: told.append(args))
    assert told == [("共建项目", 5, 12), ("共建项目", 10, 12), ("共建项目", 12, 12)]


def _import(engine, path: Path):
    from cocon.checks import DEFAULT
    from cocon.db import session_scope
    from cocon.workbook.importer import import_source

    with session_scope(engine, write=True) as session:
        return import_source(session, path, DEFAULT)


def test_import_counts_every_warning_but_words_the_first(engine, monkeypatch, tmp_path):
    from cocon.workbook import importer

    monkeypatch.setattr(importer, "WARNINGS_KEPT", 2)
    monkeypatch.setattr(importer, "WARNING_CHUNK", 2)
    # Approved without funding: a gap each; the last one's dates lie outside its year too.
    records = [project(f"W-{n:03d}", status="approved", start_date=None) for n in range(1, 8)]
    records[-1]["start_date"] = "2022-12-01"
    path = write_workbook(tmp_path / "w.xlsx", {"共建项目": table("projects", records)})
    report = _import(engine, path)
    assert report.warning_count == 8
    assert [finding.subject for finding in report.warnings] == ["W-001", "W-002"]


def test_import_new_projects_figures_equal_a_full_recompute(engine, tmp_path):
    from cocon.db import session_scope
    from cocon.derived import recompute_all

    dates = {"start_date": None, "end_date": None}
    records = [
        project("F-001", status="approved", **dates),
        project("F-002", status="cancelled", **{**dates, "end_date": "2024-01-05"}),
        project("F-003", start_date="2022-12-01", end_date="2024-01-05"),
        project("F-004", status="in_progress", budget=0, **dates),
    ]
    path = write_workbook(tmp_path / "f.xlsx", {"共建项目": table("projects", records)})
    _import(engine, path)
    columns = select(Project.code, Project.failing_checks, Project.paid_fen, Project.partners_fen)
    with Session(engine) as session:
        imported = session.execute(columns.order_by(Project.code)).all()
    with session_scope(engine, write=True) as session:
        recompute_all(session)
    with Session(engine) as session:
        assert session.execute(columns.order_by(Project.code)).all() == imported
    assert [row.failing_checks for row in imported if row.code.startswith("F-")] == [1, 1, 1, 0]


def _rows_read(path: Path) -> list[tuple[int, tuple]]:
    sheets, _ignored, problems = read_xlsx(path)
    assert not problems
    return [(row.line, row.values) for source in sheets for row in source.rows]


def _varied_rows(count: int) -> list[list[object]]:
    rows = [headers("projects", COLUMNS)]
    for line in range(1, count + 1):
        rows.append(
            [f"V-{line:04d}", f"名称 & <{line}>", "330105017", 330105017003, "文体设施", 2023,
             date(2023, 3, line % 28 + 1), None, 1000.5 * line]
        )  # fmt: skip
    return rows


@pytest.mark.parametrize("writer", ["openpyxl", "xlsxwriter"])
def test_read_xlsx_reads_what_each_writer_saved(tmp_path, writer):
    # Inline strings (openpyxl) and shared strings with date formats (xlsxwriter), row by row.
    path = tmp_path / "v.xlsx"
    rows = _varied_rows(300)
    if writer == "openpyxl":
        write_workbook(path, {"共建项目": rows})
    else:
        book = xlsxwriter.Workbook(str(path))  # shared strings, as Excel writes them
        sheet = book.add_worksheet("共建项目")
        dates = book.add_format({"num_format": "yyyy-mm-dd"})
        for line, row in enumerate(rows):
            for column, value in enumerate(row):
                if isinstance(value, date):
                    sheet.write_datetime(line, column, value, dates)
                elif value is not None:
                    sheet.write(line, column, value)
        book.close()
    read = _rows_read(path)
    assert read[0] == (2, ("V-0001", "名称 & <1>", "330105017", 330105017003, "文体设施", 2023,
                           date(2023, 3, 2), "", 1000.5))  # fmt: skip
    assert [line for line, _values in read] == list(range(2, 302))


def test_read_xlsx_rich_text_mid_sheet_without_losing_a_row(tmp_path):
    # Row 250 holds rich text (formatted runs): its runs are joined, and no row is lost.
    data = workbooks.xlsx_bytes({"共建项目": _varied_rows(300)})
    sheet = hostile.member(data, hostile.SHEET).decode()
    plain = '<c r="B250" t="inlineStr"><is><t>'
    assert plain in sheet
    start = sheet.index(plain)
    end = sheet.index("</c>", start) + len("</c>")
    rich = (
        '<c r="B250" t="inlineStr"><is><r><t>富</t></r><r><rPr><b/></rPr><t>文本</t></r></is></c>'
    )
    path = tmp_path / "rich.xlsx"
    path.write_bytes(
        hostile.rezip(data, {hostile.SHEET: (sheet[:start] + rich + sheet[end:]).encode()})
    )
    rows = _rows_read(path)
    assert [line for line, _values in rows] == list(range(2, 302))
    assert rows[248][1][1] == "富文本"


def test_read_xlsx_rows_without_cells_skipped(tmp_path):
    # Self-closing rows (formatted, no cells) are no rows; the rows after them keep their numbers.
    empty = "".join(f'<row r="{line}" ht="20" customHeight="1"/>' for line in range(3, 2_000))
    data = hostile.with_sheet_xml(
        '<row r="1"><c r="A1" t="inlineStr"><is><t>code</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>P1</t></is></c></row>' + empty
        + '<row r="2000"><c r="A2000" t="inlineStr"><is><t>P2</t></is></c></row>'
    )  # fmt: skip
    path = tmp_path / "empty-rows.xlsx"
    path.write_bytes(data)
    copy, scans = check_upload(path)
    book = CheckedWorkbook(copy, path.name, scans)
    rows = list(book.rows(book.sheet_names[0]))
    assert [(line, values[0]) for line, values in rows] == [(1, "code"), (2, "P1"), (2000, "P2")]
