"""Build the workbooks the import tests feed to `cocon import`, with openpyxl: no binary fixtures.

Two kinds: messy but valid office spreadsheets (title rows, odd headers, text amounts and dates,
blank rows) built from the schema's columns, and hostile files (renamed text, old .xls, HTML,
cut-off zips, macros, bombs). At the end, the fixtures that give each test a fresh copy of a
database with the Gongshu demo loaded, on SQLite and PostgreSQL: loading the demo once per
backend keeps the tests fast.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cocon.creditcode import credit_code_check_char
from cocon.workbook.schema import SHEETS_BY_KEY
from tests.conftest import Cli

Rows = Sequence[Sequence[object]]
Record = Mapping[str, object]


# --- building valid (if messy) workbooks


def write_workbook(
    path: Path,
    sheets: Mapping[str, Rows],
    *,
    merges: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write one tab per entry, its rows as given (a text starting with = becomes a formula)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        worksheet = workbook.create_sheet(title)
        for row in rows:
            worksheet.append(list(row))
        for cells in (merges or {}).get(title, ()):
            worksheet.merge_cells(cells)
    workbook.save(path)
    return path


def rejected_problems(cli: Cli, path: Path) -> list[str]:
    """Import path, expect it refused, and return the located problems printed (one a line)."""
    result = cli("import", str(path))
    assert result.exit_code == 1, result.output + result.stderr
    return [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]


def headers(sheet_key: str, columns: Sequence[str], language: str = "zh_CN") -> list[str]:
    """Return the schema's headers of columns (keys) in language."""
    sheet = SHEETS_BY_KEY[sheet_key]
    return [sheet.column(key).header(language) for key in columns]


def table(
    sheet_key: str,
    records: Sequence[Record],
    *,
    columns: Sequence[str] | None = None,
    language: str = "zh_CN",
    header: Sequence[str] | None = None,
) -> list[list[object]]:
    """Return a header row and one row per record, in the order of columns (keys)."""
    keys = list(columns or records[0].keys())
    top = list(header) if header is not None else headers(sheet_key, keys, language)
    return [top, *([record.get(key) for key in keys] for record in records)]


def project(code: str, **changes: object) -> dict[str, object]:
    """A new project of Wenhui Street sited in Shengli Community, as a sheet row."""
    return {
        "code": code,
        "name": f"测试项目{code}",
        "owner": "330105017",
        "site": "330105017003",
        "category": "文体设施",
        "year": 2023,
        "budget": 50000,
        **changes,
    }


def partner(credit_code: str = "91330105MA2GL3K724", **changes: object) -> dict[str, object]:
    """A partner unit (by default one the demo already has, unchanged), as a sheet row."""
    return {
        "credit_code": credit_code,
        "name": "杭州运河文体发展有限公司",
        "kind": "enterprise",
        "contact": "陈志远",
        "phone": "0571-88231456",
        **changes,
    }


def credit_code(first17: str) -> str:
    """Return a valid unified social credit code: first17 and its check character."""
    return first17 + credit_code_check_char(first17)


NEW_PARTNER = credit_code("91330105MA2TEQ801")


def every_sheet(
    *, payments: Sequence[Record] = (), status: str = "已批准"
) -> dict[str, list[list[object]]]:
    """One new row (or a change) in each of the seven sheets, linked to each other and the demo.

    A new community profile, partner, project (walked to status: an import by a user, not the
    operator, approves nothing), contribution, allocation of Wenhui Street, funding line, two
    payments of 3万 and 2万 out of 8万 drawn, then payments.
    """
    base_payments = [
        {
            "voucher_no": "T-V-0001",
            "project": "T-2023-101",
            "allocation": "T-WH-2023",
            "paid_on": date(2023, 5, 1),
            "amount": "3万",
        },
        {
            "voucher_no": "T-V-0002",
            "project": "T-2023-101",
            "allocation": "T-WH-2023",
            "paid_on": "2023/9/1",
            "amount": 20000,
        },
    ]
    return {
        "社区档案": table(
            "profiles",
            [
                {
                    "code": "330105001052",
                    "name": "米市社区",
                    "households": 2100,
                    "permanent_residents": 5600,
                    "floating_residents": 900,
                    "unit_type": "传统融合型",
                }
            ],
        ),
        "共建单位": table("partners", [partner(NEW_PARTNER, name="杭州测试共建有限公司")]),
        "共建项目": table(
            "projects",
            [
                project(
                    "T-2023-101",
                    category="养老服务",
                    status=status,
                    budget="10万",
                    start_date=date(2023, 4, 1),
                    end_date="2023-12-01",
                )
            ],
        ),
        "共建单位出资": table(
            "contributions",
            [{"project": "T-2023-101", "partner": NEW_PARTNER, "kind": "现金", "amount": "2万"}],
        ),
        "专项资金": table(
            "allocations",
            [
                {
                    "code": "T-WH-2023",
                    "org": "330105017",
                    "year": 2023,
                    "amount": "10万",
                    "parent": None,
                    "source_note": "文晖街道测试资金",
                }
            ],
        ),
        "资金安排": table(
            "funding", [{"project": "T-2023-101", "allocation": "T-WH-2023", "amount": "8万"}]
        ),
        "拨付": table("payments", [*base_payments, *payments]),
    }


def xlsx_bytes(sheets: Mapping[str, Rows]) -> bytes:
    """Return the bytes of a small valid workbook."""
    buffer = BytesIO()
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        worksheet = workbook.create_sheet(title)
        for row in rows:
            worksheet.append(list(row))
    workbook.save(buffer)
    return buffer.getvalue()


def valid_projects_bytes() -> bytes:
    """A workbook that would import one new project: the base of the hostile variants."""
    return xlsx_bytes({"共建项目": table("projects", [project("HOSTILE-001")])})


# --- hostile files


def rezip(
    data: bytes,
    *,
    replace: Mapping[str, bytes] | None = None,
    add: Mapping[str, bytes] | None = None,
) -> bytes:
    """Return a copy of a zip with some members replaced and others added."""
    replace, add = replace or {}, add or {}
    out = BytesIO()
    with (
        zipfile.ZipFile(BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for member in source.infolist():
            target.writestr(member.filename, replace.get(member.filename, source.read(member)))
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


SHEET_XML = "xl/worksheets/sheet1.xml"


def text_file(path: Path) -> Path:
    """A CSV export renamed to .xlsx."""
    path.write_text("项目编号,项目名称\nGS-2023-901,假项目\n", encoding="utf-8")
    return path


def ole2_file(path: Path) -> Path:
    """An old binary .xls: the OLE2 compound file signature and a zeroed header sector."""
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"Workbook" + bytes(1024))
    return path


def html_file(path: Path) -> Path:
    """A web page saved with an Excel name, as some systems 'export to Excel'."""
    path.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head><body><table>"
        "<tr><td>项目编号</td><td>项目名称</td></tr><tr><td>GS-2023-901</td><td>假项目</td></tr>"
        "</table></body></html>",
        encoding="utf-8",
    )
    return path


def truncated_zip(path: Path) -> Path:
    """A valid workbook cut off halfway, as by an interrupted transfer."""
    data = valid_projects_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def macro_workbook(path: Path) -> Path:
    """A valid workbook carrying a VBA project, saved as .xlsm."""
    path.write_bytes(rezip(valid_projects_bytes(), add={"xl/vbaProject.bin": b"\xd0\xcf" * 512}))
    return path


def zip_bomb(path: Path, megabytes: int = 12) -> Path:
    """A valid workbook with an extra part of zeros that compresses about 1000 to 1."""
    zeros = bytes(megabytes * 1024 * 1024)
    path.write_bytes(rezip(valid_projects_bytes(), add={"xl/media/padding.bin": zeros}))
    return path


def entity_bomb(path: Path, levels: int = 9) -> Path:
    """A workbook whose sheet XML declares the billion laughs and uses it in a cell."""
    data = valid_projects_bytes()
    entities = ['<!ENTITY l0 "lol">']
    entities += [f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, levels + 1)]
    dtd = "<!DOCTYPE worksheet [\n" + "\n".join(entities) + "\n]>\n"
    with zipfile.ZipFile(BytesIO(data)) as archive:
        sheet = archive.read(SHEET_XML).decode("utf-8")
    if sheet.startswith("<?xml"):
        sheet = sheet.split("?>", 1)[1]
    cell = "<t>测试项目HOSTILE-001</t>"
    assert cell in sheet, "openpyxl no longer writes inline strings: move the entity"
    sheet = sheet.replace(cell, f"<t>&l{levels};</t>", 1)
    bombed = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{dtd}{sheet}'
    path.write_bytes(rezip(data, replace={SHEET_XML: bombed.encode()}))
    return path


def many_projects(path: Path, rows: int) -> Path:
    """A projects sheet of rows new projects (each like project()), written fast by xlsxwriter."""
    import xlsxwriter

    keys = list(project("X"))
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("共建项目")
    sheet.write_row(0, 0, headers("projects", keys))
    for line in range(1, rows + 1):
        sheet.write_row(line, 0, list(project(f"BULK-{line:06d}").values()))
    workbook.close()
    return path


def many_rows(path: Path, rows: int) -> Path:
    """A partners sheet with rows data rows (each the demo's first partner, unchanged)."""
    records = [partner() for _ in range(rows)]
    return write_workbook(path, {"共建单位": table("partners", records)})


# --- the database the imports land in: a fresh copy of one with the demo loaded

_DEMO_TEMPLATES: dict[str, str] = {}


def _demo_sqlite(template: Path, factory: pytest.TempPathFactory) -> str:
    if "sqlite" not in _DEMO_TEMPLATES:
        path = factory.mktemp("demo") / "demo.db"
        shutil.copy(template, path)
        Cli(f"sqlite:///{path}").ok("demo")
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _DEMO_TEMPLATES["sqlite"] = str(path)
    return _DEMO_TEMPLATES["sqlite"]


def _demo_postgres(admin_url: str, template: str) -> str:
    if "postgresql" not in _DEMO_TEMPLATES:
        name = f"cocon_demo_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        admin.dispose()
        Cli(make_url(admin_url).set(database=name).render_as_string(hide_password=False)).ok("demo")
        _DEMO_TEMPLATES["postgresql"] = name
    return _DEMO_TEMPLATES["postgresql"]


def _drop_demo_postgres(admin_url: str) -> None:
    name = _DEMO_TEMPLATES.pop("postgresql", None)
    if name is None:
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield a fresh database of each kind holding the Gongshu demo (as after `cocon demo`)."""
    if request.param == "sqlite":
        template = _demo_sqlite(request.getfixturevalue("_sqlite_template"), tmp_path_factory)
        path = tmp_path / "cocon.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    postgres = request.getfixturevalue("_postgres_template")
    if postgres is None:
        pytest.skip("no PostgreSQL server answers (set COCON_TEST_POSTGRES_URL)")
    admin_url, base = postgres
    if "postgresql" not in _DEMO_TEMPLATES:
        request.session.config.add_cleanup(lambda: _drop_demo_postgres(admin_url))
    template = _demo_postgres(admin_url, base)
    name = f"cocon_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
