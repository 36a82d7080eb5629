"""`cocon import`: messy office workbooks, located errors, all or nothing, marked copies, round trips.

Every test starts from a fresh database holding the Gongshu demo (as after `cocon demo`), on
SQLite and on PostgreSQL; the workbooks are built by tests/workbooks.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from click.testing import Result
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import Session

from cocon.models import Allocation, Org, Partner, Project
from cocon.workbook.marking import BAD_FILL
from cocon.workbook.schema import SHEETS, Kind
from cocon.workbook.template import EXAMPLE_ROW
from tests import workbooks
from tests.conftest import snapshot
from tests.workbooks import (
    NEW_PARTNER,
    every_sheet,
    headers,
    partner,
    project,
    table,
    write_workbook,
)

# Each test gets a fresh copy of a database holding the demo, on both backends.
database_url = workbooks.database_url

TITLE = "2023年拱墅区共建项目汇总表"


def _problems(result: Result) -> list[str]:
    """Return the located problems the CLI printed (one indented line each on stderr)."""
    return [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]


def _summary(output: str) -> list[str]:
    """Return the per-sheet lines of an import's output, without its last line."""
    return [line for line in output.splitlines() if not line.startswith(("Imported", "Dry run"))]


def _rejected(cli, path: Path, *args: str) -> Result:
    result = cli("import", str(path), *args)
    assert result.exit_code == 1, result.output + result.stderr
    assert "nothing was written" in result.stderr
    return result


def _project(engine, code: str) -> tuple[Project, str, str] | None:
    """Return a project with its owner's and site's codes, or None."""
    with Session(engine) as session:
        project = session.exec(select(Project).where(Project.code == code)).scalars().first()
        if project is None:
            return None
        owner, site = session.get(Org, project.owner_id), session.get(Org, project.site_id)
        return project, owner.code, site.code


# --- messy but valid office spreadsheets


def test_import_merged_title_row_above_header(cli, engine, tmp_path):
    rows = [[TITLE], *table("projects", [project("T-001"), project("T-002")])]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows}, merges={"共建项目": ["A1:G1"]})
    out = cli.ok("import", str(path))
    assert "共建项目: 2 to create, 0 to update, 0 unchanged" in out
    assert _project(engine, "T-001") is not None
    assert _project(engine, "T-002") is not None


def test_import_headers_with_spaces_and_line_breaks(cli, engine, tmp_path):
    keys = ["code", "name", "owner", "site", "category", "year", "budget"]
    header = [
        "项目\n编号",
        " 项目名称 ",
        "牵头单位 ",
        "实施　社区",
        "项目类别",
        "年度",
        "预算金额\n（元）",
    ]
    rows = table("projects", [project("T-001", budget=88000)], columns=keys, header=header)
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    out = cli.ok("import", str(path))
    assert "共建项目: 1 to create" in out
    assert "Ignored columns" not in out
    assert _project(engine, "T-001")[0].budget_fen == 88000_00


def test_import_chinese_and_english_headers_in_any_order(cli, engine, tmp_path):
    keys = ["budget", "site", "year", "name", "category", "owner", "code"]
    header = [
        "Budget (yuan)",
        "实施社区",
        "Year",
        "项目名称",
        "Category",
        "牵头单位",
        "Project code",
    ]
    record = project("T-001", budget=66000, category="elderly care")
    rows = table("projects", [record], columns=keys, header=header)
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    cli.ok("import", str(path))
    saved, owner, site = _project(engine, "T-001")
    assert (saved.name, saved.budget_fen, saved.category) == (
        "测试项目T-001",
        66000_00,
        "elderly_care",
    )
    assert (owner, site) == ("330105017", "330105017003")


def test_import_extra_columns_ignored_and_reported(cli, engine, tmp_path):
    rows = table("projects", [project("T-001")])
    rows[0] += ["备注", "负责人电话"]
    rows[1] += ["先做试点", "13900000000"]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    out = cli.ok("import", str(path))
    assert "共建项目: 1 to create" in out
    assert "Ignored columns: 备注, 负责人电话" in out


def test_import_amounts_as_numbers_or_text(cli, engine, tmp_path):
    budgets = {
        "T-001": "12万",
        "T-002": "1,234.50",
        "T-003": "¥3000",
        "T-004": 3000.5,
        "T-005": 80000,
    }
    records = [project(code, budget=budget) for code, budget in budgets.items()]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", records)})
    cli.ok("import", str(path))
    fen = {code: _project(engine, code)[0].budget_fen for code in budgets}
    assert fen == {
        "T-001": 120000_00,
        "T-002": 1234_50,
        "T-003": 3000_00,
        "T-004": 3000_50,
        "T-005": 80000_00,
    }


def test_import_dates_as_excel_dates_or_text(cli, engine, tmp_path):
    starts = {
        "T-001": datetime(2023, 3, 1),
        "T-002": "2023/3/1",
        "T-003": "2023-03-01",
        "T-004": "2023年3月1日",
    }
    records = [
        project(code, start_date=start, end_date=date(2023, 12, 28))
        for code, start in starts.items()
    ]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", records)})
    cli.ok("import", str(path))
    for code in starts:
        saved = _project(engine, code)[0]
        assert (saved.start_date, saved.end_date) == (date(2023, 3, 1), date(2023, 12, 28))


def test_import_blank_rows_skipped(cli, engine, tmp_path):
    rows = table("projects", [project("T-001"), project("T-002")])
    rows.insert(2, [None] * 7)
    rows += [["  ", " ", "\u3000"], [], [None, "   "], ["", "", "", "", "", "", " "]]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    out = cli.ok("import", str(path))
    assert "共建项目: 2 to create, 0 to update, 0 unchanged" in out


def test_import_orgs_by_code_in_any_form_or_by_name(cli, engine, tmp_path):
    records = [
        project("T-001", owner="330105017003", site="330105017003"),
        project("T-002", owner=330105017003, site=330105017003),
        project("T-003", owner="330105000000", site="330105017003"),
        project("T-004", owner="文晖街道", site="胜利社区"),
    ]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", records)})
    cli.ok("import", str(path))
    owners = {code: _project(engine, code)[1:] for code in ("T-001", "T-002", "T-003", "T-004")}
    assert owners == {
        "T-001": ("330105017003", "330105017003"),
        "T-002": ("330105017003", "330105017003"),
        "T-003": ("330105", "330105017003"),
        "T-004": ("330105017", "330105017003"),
    }


def test_import_english_sheet_names(cli, engine, tmp_path):
    sheets = {
        "Projects": table(
            "projects", [project("T-001", category="culture and sports")], language="en"
        ),
        "Partners": table("partners", [partner(NEW_PARTNER, name="杭州测试")], language="en"),
    }
    out = cli.ok("import", str(write_workbook(tmp_path / "p.xlsx", sheets)))
    assert "Projects: 1 to create, 0 to update, 0 unchanged" in out
    assert "Partners: 1 to create, 0 to update, 0 unchanged" in out
    assert _project(engine, "T-001")[0].category == "culture_sports"


def test_import_only_some_sheets(cli, engine, tmp_path):
    sheets = {
        "共建单位": table("partners", [partner(NEW_PARTNER, name="杭州测试")]),
        "专项资金": table(
            "allocations", [{"code": "T-WH-2023", "org": "文晖街道", "year": 2023, "amount": "5万"}]
        ),
    }
    out = cli.ok("import", str(write_workbook(tmp_path / "p.xlsx", sheets)))
    assert _summary(out) == [
        "共建单位: 1 to create, 0 to update, 0 unchanged",
        "专项资金: 1 to create, 0 to update, 0 unchanged",
    ]
    with Session(engine) as session:
        assert session.exec(select(Partner).where(Partner.credit_code == NEW_PARTNER)).first()
        allocation = session.exec(select(Allocation).where(Allocation.code == "T-WH-2023"))
        assert allocation.scalars().one().amount_fen == 50000_00


# --- errors: located, all of them, blocking


def test_import_bad_amount_names_sheet_row_cell_header_and_value(cli, database_url, tmp_path):
    keys = ["code", "name", "owner", "site", "category", "budget", "year"]
    records = [project(f"T-{n:03d}") for n in range(3, 13)]
    records[-1]["budget"] = "12..5"  # row 12: a title, the header, then rows 3 to 12
    rows = [[TITLE], *table("projects", records, columns=keys)]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    before = snapshot(database_url)
    result = _rejected(cli, path)
    assert _problems(result) == [
        "共建项目:12 [F12 预算金额（元）]: '12..5' is not an amount; write e.g. 125000 or 12.5万"
    ]
    assert snapshot(database_url) == before


def test_import_reports_every_bad_cell_of_the_file_in_one_run(cli, database_url, tmp_path):
    sheets = {
        "共建单位": table("partners", [partner(NEW_PARTNER, name="好单位", kind="外星人")]),
        "共建项目": table("projects", [project("T-001"), project("T-002", year="二〇二三")]),
        "拨付": table(
            "payments",
            [
                {
                    "voucher_no": "T-V-1",
                    "project": "GS-2023-002",
                    "allocation": "SL-2023",
                    "paid_on": "2023-02-30",
                    "amount": 1000,
                }
            ],
        ),
    }
    before = snapshot(database_url)
    problems = _problems(_rejected(cli, write_workbook(tmp_path / "p.xlsx", sheets)))
    assert len(problems) == 3, problems
    assert problems[0].startswith("共建单位:2 [C2 单位类型]: '外星人' is not one of")
    assert problems[1].startswith("共建项目:3 [F3 年度]: '二〇二三' is not a year")
    assert problems[2].startswith("拨付:2 [D2 拨付日期]: '2023-02-30' is not a date; write e.g.")
    assert snapshot(database_url) == before


def test_import_reports_every_bad_cell_of_one_row(cli, tmp_path):
    record = project("T-001", category="篮球", year=1999, start_date="3月", site="330105999999")
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", [record])})
    problems = _problems(_rejected(cli, path))
    assert sorted(p.split("]")[0] for p in problems) == [
        "共建项目:2 [D2 实施社区",
        "共建项目:2 [E2 项目类别",
        "共建项目:2 [F2 年度",
        "共建项目:2 [H2 开始日期",
    ]


def test_import_reports_every_bad_cell_of_a_profile_row(cli, tmp_path):
    record = {"code": "330105017003", "households": "很多", "permanent_residents": -5}
    path = write_workbook(tmp_path / "p.xlsx", {"社区档案": table("profiles", [record])})
    problems = _problems(_rejected(cli, path))
    assert [p.split("]")[0] for p in problems] == ["社区档案:2 [B2 户数", "社区档案:2 [C2 常住人口"]
    assert "'很多'" in problems[0]
    assert "'-5'" in problems[1]


def test_import_formula_rejects_the_row(cli, database_url, engine, tmp_path):
    records = [project("T-001", budget="=SUM(1,2)"), project("T-002")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", records)})
    before = snapshot(database_url)
    problems = _problems(_rejected(cli, path))
    assert len(problems) == 1
    assert problems[0].startswith("共建项目:2 [G2 预算金额（元）]: '=SUM(1,2)' is a formula")
    assert snapshot(database_url) == before
    assert _project(engine, "T-001") is None


def test_import_formula_in_an_ignored_column_is_harmless(cli, engine, tmp_path):
    rows = table("projects", [project("T-001", budget=50000)])
    rows[0].append("预算（万元）")
    rows[1].append("=G2/10000")
    out = cli.ok("import", str(write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})))
    assert "Ignored columns: 预算（万元）" in out
    assert _project(engine, "T-001")[0].budget_fen == 50000_00


def test_import_unknown_org_code_located(cli, tmp_path):
    records = [project("T-001", owner="330105099"), project("T-002", site="330105017999")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", records)})
    problems = _problems(_rejected(cli, path))
    assert len(problems) == 2
    assert problems[0].startswith("共建项目:2 [C2 牵头单位]: ")
    assert "330105099" in problems[0]
    assert problems[1].startswith("共建项目:3 [D3 实施社区]: ")
    assert "330105017999" in problems[1]


def test_import_missing_required_column_reported_at_header(cli, database_url, tmp_path):
    keys = ["code", "name", "owner", "site", "category", "year"]  # no budget
    rows = [[TITLE], *table("projects", [project("T-001")], columns=keys)]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    before = snapshot(database_url)
    problems = _problems(_rejected(cli, path))
    assert problems == ["共建项目:2 [Budget (yuan)]: the required column Budget (yuan) is missing"]
    assert snapshot(database_url) == before


def test_import_amount_header_in_another_unit_never_read_as_yuan(cli, database_url, tmp_path):
    # 12.5 under 预算金额（万元） is ¥125,000: taking it for ¥12.50 would be silently wrong.
    rows = table("projects", [project("T-001", budget=12.5)])
    rows[0][-1] = "预算金额（万元）"
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": rows})
    before = snapshot(database_url)
    problems = _problems(_rejected(cli, path))
    assert problems == ["共建项目:1 [Budget (yuan)]: the required column Budget (yuan) is missing"]
    assert snapshot(database_url) == before


def test_import_overcommit_across_rows_blocks(cli, database_url, tmp_path):
    # Wenhui Street puts up 10万; two of its projects draw 6万 each: the second row is too much.
    sheets = {
        "专项资金": table(
            "allocations",
            [{"code": "T-WH-2023", "org": "330105017", "year": 2023, "amount": "10万"}],
        ),
        "资金安排": table(
            "funding",
            [
                {"project": "GS-2023-003", "allocation": "T-WH-2023", "amount": "6万"},
                {"project": "GS-2023-004", "allocation": "T-WH-2023", "amount": "6万"},
            ],
        ),
    }
    before = snapshot(database_url)
    problems = _problems(_rejected(cli, write_workbook(tmp_path / "p.xlsx", sheets)))
    assert len(problems) == 1
    assert problems[0].startswith("资金安排:3 [C3 金额（元）]: ")
    assert "T-WH-2023" in problems[0]
    assert snapshot(database_url) == before


def test_import_blank_status_keeps_an_existing_projects_status(cli, engine, tmp_path):
    # GS-2023-001 is completed; a sheet without the status column only renames it.
    record = project("GS-2023-001", name="杭州篮球公园（一期）", budget="60万")
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", [record])})
    out = cli.ok("import", str(path))
    assert "共建项目: 0 to create, 1 to update, 0 unchanged" in out
    saved = _project(engine, "GS-2023-001")[0]
    assert (saved.name, saved.status) == ("杭州篮球公园（一期）", "completed")


# --- all or nothing


def test_import_error_in_last_payment_row_writes_nothing(cli, database_url, tmp_path):
    # 8万 drawn, 5万 paid by the first two payments: a third of 5万 is over what was drawn.
    late = {
        "voucher_no": "T-V-0003",
        "project": "T-2023-101",
        "allocation": "T-WH-2023",
        "paid_on": "2023-12-01",
        "amount": "5万",
    }
    path = write_workbook(tmp_path / "all.xlsx", every_sheet(payments=[late]))
    before = snapshot(database_url)
    result = _rejected(cli, path)
    problems = _problems(result)
    assert len(problems) == 1
    assert problems[0].startswith("拨付:4 [E4 金额（元）]: ")
    assert "共建项目: 1 to create, 0 to update, 0 unchanged" in result.output
    assert snapshot(database_url) == before


def test_import_twice_second_run_all_unchanged(cli, database_url, tmp_path):
    path = write_workbook(tmp_path / "all.xlsx", every_sheet())
    first = cli.ok("import", str(path))
    assert "拨付: 2 to create, 0 to update, 0 unchanged" in first
    after_first = snapshot(database_url)
    second = cli.ok("import", str(path))
    lines = _summary(second)
    assert len(lines) == 7
    assert all(
        re.fullmatch(r".+: 0 to create, 0 to update, [12] unchanged", line) for line in lines
    )
    assert snapshot(database_url) == after_first


def test_import_dry_run_prints_the_real_summary_and_writes_nothing(cli, database_url, tmp_path):
    path = write_workbook(tmp_path / "all.xlsx", every_sheet())
    before = snapshot(database_url)
    dry = cli.ok("import", str(path), "--dry-run")
    assert dry.splitlines()[-1] == "Dry run: nothing was written."
    assert snapshot(database_url) == before
    real = cli.ok("import", str(path))
    assert _summary(dry) == _summary(real)
    assert snapshot(database_url) != before


# --- a marked copy of a rejected workbook


def test_import_errors_to_fills_and_comments_each_bad_cell(cli, tmp_path):
    sheets = {
        "共建项目": table("projects", [project("T-001"), project("T-002", budget="12..5")]),
        "资金安排": table(
            "funding", [{"project": "GS-2023-001", "allocation": "NOPE", "amount": "1万"}]
        ),
    }
    path = write_workbook(tmp_path / "p.xlsx", sheets)
    marked = tmp_path / "marked.xlsx"
    result = _rejected(cli, path, "--errors-to", str(marked))
    assert f"Marked the problems in {marked}" in result.stderr
    book = load_workbook(marked)
    budget, allocation = book["共建项目"]["G3"], book["资金安排"]["B2"]
    assert budget.fill.fgColor.rgb == BAD_FILL.fgColor.rgb
    assert "'12..5' is not an amount" in budget.comment.text
    assert allocation.fill.fgColor.rgb == BAD_FILL.fgColor.rgb
    assert "NOPE" in allocation.comment.text
    assert book["共建项目"]["G2"].comment is None
    assert book["共建项目"]["G2"].fill.fgColor.rgb != BAD_FILL.fgColor.rgb
    assert book["共建项目"]["G3"].value == "12..5"


def test_import_errors_to_works_whatever_the_file_is_named(cli, tmp_path):
    # The import reads any name (an upload may be saved as .tmp); so must the marking.
    rows = table("projects", [project("T-001", budget="abc")])
    path = write_workbook(tmp_path / "upload.tmp", {"共建项目": rows})
    marked = tmp_path / "marked.xlsx"
    _rejected(cli, path, "--errors-to", str(marked))
    assert "'abc' is not an amount" in load_workbook(marked)["共建项目"]["G2"].comment.text


# --- the template and the export come back in


def test_template_imported_as_written_changes_nothing(cli, database_url, tmp_path):
    path = tmp_path / "t.xlsx"
    cli.ok("template", str(path))
    before = snapshot(database_url)
    out = cli.ok("import", str(path))
    lines = _summary(out)
    assert lines.count("  The template's example row was left unchanged and skipped.") == 7
    counts = [line for line in lines if not line.startswith(" ") and "to create" in line]
    assert len(counts) == 7
    assert all(line.endswith(": 0 to create, 0 to update, 0 unchanged") for line in counts)
    assert snapshot(database_url) == before


def test_template_imported_as_written_names_no_ignored_sheet(cli, tmp_path):
    # The instructions sheet (说明) is the template's own: nothing to report about it.
    for language in ("zh_CN", "en"):
        path = tmp_path / f"t-{language}.xlsx"
        cli.ok("template", str(path), lang=language)
        out = cli.ok("import", str(path), "--dry-run", lang=language)
        assert "Ignored sheets" not in out and "忽略" not in out, out


# The cell whose example code marks each sheet's example row: the row's key, or what it names.
EXAMPLE_MARKS = {
    "社区档案": "A2 社区编码",
    "共建单位": "A2 统一社会信用代码",
    "共建项目": "A2 项目编号",
    "共建单位出资": "A2 项目编号",
    "专项资金": "A2 资金编号",
    "资金安排": "A2 项目编号",
    "拨付": "A2 凭证号",
}


def test_template_example_row_changed_is_refused_on_every_sheet(cli, database_url, tmp_path):
    # An example row with one value changed (a budget, a count, a name) is not data: it is
    # refused on its example code, whatever the sheet, and no real record is touched.
    path = tmp_path / "t.xlsx"
    cli.ok("template", str(path), lang="zh_CN")
    book = load_workbook(path)
    for sheet in SHEETS:
        column = next(
            i for i, c in enumerate(sheet.columns, start=1)
            if c.kind in (Kind.AMOUNT, Kind.COUNT) or c.key == "name"
        )  # fmt: skip
        book[sheet.zh].cell(EXAMPLE_ROW, column, 600000 if sheet.key != "partners" else "改名")
    book.save(path)
    before = snapshot(database_url)
    result = cli("import", str(path), lang="zh_CN")
    assert result.exit_code == 1, result.output
    problems = _problems(result)
    assert sorted(problems) == sorted(
        f"{title}:{EXAMPLE_ROW} [{cell}]: 示例行不会导入：请删除示例行或改为真实编码"
        for title, cell in EXAMPLE_MARKS.items()
    )
    assert snapshot(database_url) == before


def test_template_examples_name_no_real_record(cli, database_url):
    # The example codes are ones the code rules refuse for any real record.
    before = snapshot(database_url)
    refused = {
        ("projects", "add", "--owner", "330105017", "--site", "330105017003", "--name", "示例",
         "--category", "culture_sports", "--year", "2023", "--code", "EXAMPLE-2023-001"):
        "kept for the template's examples",
        ("allocations", "add", "330105", "2023", "1000", "--code", "example-2023"):
        "kept for the template's examples",
        ("orgs", "add", "000000000001", "示例社区", "--parent", "330105017"):
        "none begins with 00",
        ("partners", "add", "91330105EXAMPLE00X", "示例单位"): "check character",
    }  # fmt: skip
    for command, message in refused.items():
        result = cli(*command)
        assert result.exit_code == 1, (command, result.output)
        assert message in result.output + result.stderr, (command, result.output)
    assert snapshot(database_url) == before


def test_template_row_filled_below_the_example_imports(cli, engine, tmp_path):
    path = tmp_path / "t.xlsx"
    cli.ok("template", str(path))
    book = load_workbook(path)
    sheet = book["Projects"]
    header = [cell.value for cell in sheet[1]]
    keys = ["code", "name", "owner", "site", "category", "year", "status"]
    assert header[:7] == headers("projects", keys, "en")
    values = project("T-001", category="culture and sports", status="approved")
    for column, key in enumerate(keys):
        sheet.cell(EXAMPLE_ROW + 1, column + 1, values[key])
    sheet.cell(EXAMPLE_ROW + 1, header.index("Budget (yuan)") + 1, 125000)
    book.save(path)
    out = cli.ok("import", str(path))
    assert "Projects: 1 to create, 0 to update, 0 unchanged" in out
    saved = _project(engine, "T-001")[0]
    assert (saved.status, saved.budget_fen) == ("approved", 125000_00)


def test_export_then_import_changes_nothing(cli, database_url, tmp_path):
    path = tmp_path / "e.xlsx"
    cli.ok("export", str(path), "--org", "330105", "--year", "2023")
    before = snapshot(database_url)
    out = cli.ok("import", str(path))
    counts = [line for line in _summary(out) if re.match(r"\S.*: \d+ to create", line)]
    assert len(counts) == 6  # every data sheet of the export but the profiles, which it lacks
    for line in counts:
        assert re.fullmatch(r".+: 0 to create, 0 to update, [1-9]\d* unchanged", line), line
    assert snapshot(database_url) == before


def test_import_warns_about_what_it_touched(cli):
    cli.ok("demo")
    result = cli("import", str(Path(__file__).resolve().parent.parent / "imports" / "demo"))
    assert result.exit_code == 0
    assert "GS-2023-010" in result.stderr and "gap" in result.stderr


def test_import_without_any_known_sheet_refused(cli, tmp_path):
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "Sheet1.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = cli("import", str(folder))
    assert result.exit_code == 1
    assert "no sheet of the import workbook was found" in result.stderr
