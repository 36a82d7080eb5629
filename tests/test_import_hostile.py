"""`cocon import` of hostile or broken files: a clear error, exit status 1, the database untouched.

Every test starts from a fresh database holding the Gongshu demo, on SQLite and on PostgreSQL;
the files are built by tests/workbooks.py. Caps too large to reach in a test are lowered by
wrapping cocon.workbook.safety's functions (their limits are keyword defaults, bound when the
module loads, so patching the module constants would not reach them).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from cocon.workbook import safety
from tests import workbooks
from tests.conftest import snapshot
from tests.workbooks import (
    entity_bomb,
    headers,
    html_file,
    macro_workbook,
    many_rows,
    ole2_file,
    project,
    rezip,
    table,
    text_file,
    truncated_zip,
    valid_projects_bytes,
    write_workbook,
    zip_bomb,
)

# Each test gets a fresh copy of a database holding the demo, on both backends.
database_url = workbooks.database_url


def _refused(cli, database_url: str, path: Path, message: str) -> str:
    """Import path, expect a clean refusal naming message, and no change; return stderr."""
    before = snapshot(database_url)
    result = cli("import", str(path))
    assert result.exit_code == 1, result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert message in result.stderr, result.stderr
    assert "Imported." not in result.output
    assert snapshot(database_url) == before
    return result.stderr


def test_import_renamed_text_file_refused(cli, database_url, tmp_path):
    path = text_file(tmp_path / "projects.xlsx")
    _refused(cli, database_url, path, "projects.xlsx is not an Excel workbook")


def test_import_old_xls_refused(cli, database_url, tmp_path):
    path = ole2_file(tmp_path / "projects.xls")
    _refused(cli, database_url, path, "projects.xls is an old .xls file: save it as .xlsx")


def test_import_html_saved_as_xlsx_refused(cli, database_url, tmp_path):
    path = html_file(tmp_path / "export.xlsx")
    _refused(cli, database_url, path, "export.xlsx is a web page (HTML)")


def test_import_truncated_zip_refused(cli, database_url, tmp_path):
    path = truncated_zip(tmp_path / "cut.xlsx")
    _refused(cli, database_url, path, "cut.xlsx is damaged or incomplete")


def test_import_empty_file_refused(cli, database_url, tmp_path):
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    _refused(cli, database_url, path, "empty.xlsx is empty")


def test_import_zip_that_is_no_workbook_refused(cli, database_url, tmp_path):
    path = tmp_path / "files.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("projects.csv", "项目编号,项目名称\n")
    _refused(cli, database_url, path, "files.xlsx is not an .xlsx workbook")


def test_import_macro_workbook_refused(cli, database_url, tmp_path):
    path = macro_workbook(tmp_path / "projects.xlsm")
    _refused(cli, database_url, path, "projects.xlsm contains macros, which are refused")


def test_import_zip_bomb_refused_by_ratio(cli, database_url, tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx", megabytes=12)
    assert path.stat().st_size < 100_000
    _refused(cli, database_url, path, "bomb.xlsx looks like a zip bomb")


def test_import_zip_bomb_refused_by_unpacked_size(cli, database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(safety, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    path = zip_bomb(tmp_path / "bomb.xlsx", megabytes=2)
    _refused(cli, database_url, path, "bomb.xlsx expands to more than 1 MiB when unpacked")


def test_import_xml_entity_bomb_refused(cli, database_url, tmp_path):
    path = entity_bomb(tmp_path / "lol.xlsx")
    _refused(
        cli, database_url, path, "lol.xlsx contains XML entity declarations, which are refused"
    )


def test_import_sheet_over_the_row_cap_refused(cli, database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(safety, "MAX_ROWS", 10)
    path = many_rows(tmp_path / "rows.xlsx", rows=30)
    _refused(cli, database_url, path, "rows.xlsx has a sheet of more than 10 rows")


def test_import_formula_cells_refused(cli, database_url, tmp_path):
    formulas = {
        "code": '=HYPERLINK("http://example.com/x","GS-2023-999")',
        "name": "=cmd|' /C calc'!A0",
        "owner": "=A1",
        "budget": "=1+1",
    }
    path = write_workbook(
        tmp_path / "f.xlsx", {"共建项目": table("projects", [{**project("T-001"), **formulas}])}
    )
    stderr = _refused(cli, database_url, path, "4 problems in the file; nothing was written")
    for cell, (key, formula) in zip(("A2", "B2", "C2", "G2"), formulas.items(), strict=True):
        header = headers("projects", [key])[0]
        assert f"共建项目:2 [{cell} {header}]: '{formula}' is a formula" in stderr


def test_import_workbook_checks_pass_before_any_hostile_variant(cli, database_url, tmp_path):
    # The base of the hostile variants imports: each refusal above is the variant's doing.
    path = tmp_path / "base.xlsx"
    path.write_bytes(rezip(valid_projects_bytes()))
    out = cli.ok("import", str(path))
    assert "共建项目: 1 to create, 0 to update, 0 unchanged" in out
