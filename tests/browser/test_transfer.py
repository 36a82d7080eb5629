"""A new user imports a workbook (first with a mistake, then fixed) and downloads the export."""

from __future__ import annotations

import re
from pathlib import Path

from openpyxl import load_workbook

from tests.browser.conftest import playwright_expect, zh

expect = playwright_expect()

PROJECTS_SHEET = "共建项目"
NEW_CODE = "BT-2023-IMP"
BUDGET_HEADER = "预算金额（元）"


def nav(page):
    return page.get_by_role("navigation", name=zh("Main"))


def fill_template(template: Path, target: Path, budget: object) -> Path:
    """Write one new project under the template's example row, as someone would in Excel."""
    workbook = load_workbook(template)
    sheet = workbook[PROJECTS_SHEET]
    column = {cell.value: cell.column for cell in sheet[1] if cell.value}
    row = {
        "项目编号": NEW_CODE,
        "项目名称": "浏览器导入测试项目",
        "牵头单位": "330105017",
        "实施社区": "胜利社区",
        "项目类别": "文体设施",
        "年度": 2023,
        BUDGET_HEADER: budget,
    }
    for header, value in row.items():
        sheet.cell(row=3, column=column[header], value=value)
    workbook.save(target)
    return target


def upload(page, path: Path) -> None:
    page.get_by_label(re.compile("^" + re.escape(zh("Workbook (.xlsx)")))).set_input_files(path)
    page.get_by_role("button", name=zh("Check the workbook")).click()


def test_import_a_workbook_with_an_error_then_fixed(page, shot, tmp_path):
    page.goto("/")
    nav(page).get_by_role("link", name=zh("Import"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(zh("Import a workbook"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name=zh("Download the template (Excel)")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    template = tmp_path / "template.xlsx"
    download.save_as(template)
    assert PROJECTS_SHEET in load_workbook(template, read_only=True).sheetnames
    shot(page, "upload")

    upload(page, fill_template(template, tmp_path / "项目-有误.xlsx", "五万块"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(zh("Check the import"))
    expect(page.get_by_role("alert")).to_be_visible()
    problems = page.get_by_role("region", name=zh("Problems"), exact=True)
    bad = problems.get_by_role("row").filter(has_text="五万块")
    expect(bad).to_have_count(1)
    expect(bad.get_by_role("cell").nth(0)).to_have_text(PROJECTS_SHEET)
    expect(bad.get_by_role("cell").nth(1)).to_have_text("3")
    expect(bad.get_by_role("cell").nth(2)).to_contain_text(re.compile(f"{BUDGET_HEADER}|J"))
    expect(page.get_by_role("button", name=zh("Import now"))).to_have_count(0)
    shot(page, "problems")

    page.get_by_role("link", name=zh("Upload another workbook")).click()
    upload(page, fill_template(template, tmp_path / "项目.xlsx", "5万"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(zh("Check the import"))
    expect(page.get_by_role("alert")).to_have_count(0)
    would = page.get_by_role("region", name=zh("What the import would do"))
    projects_row = would.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=PROJECTS_SHEET, exact=True)
    )
    expect(projects_row.get_by_role("cell").first).to_have_text("1")  # to create
    shot(page, "preview")
    page.get_by_role("button", name=zh("Import now")).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(zh("Imported"))
    done = zh(
        "The workbook was imported: %(created)s created, %(updated)s updated,"
        " %(unchanged)s unchanged."
    )
    expect(page.get_by_role("status")).to_have_text(
        done % {"created": 1, "updated": 0, "unchanged": 0}
    )
    shot(page, "done")
    page.get_by_role("main").get_by_role("link", name=zh("Projects"), exact=True).click()
    expect(page.get_by_role("link", name=NEW_CODE)).to_be_visible()
    page.get_by_role("link", name=NEW_CODE).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("浏览器导入测试项目")
    expect(page.get_by_role("main")).to_contain_text("¥50,000.00")


def test_download_the_export_from_the_dashboard(page, shot, tmp_path):
    page.goto("/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=zh("Export (Excel)")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    assert "拱墅区" in download.suggested_filename
    path = tmp_path / "export.xlsx"
    download.save_as(path)
    shot(page, "dashboard")

    workbook = load_workbook(path, read_only=True)
    for sheet in ("汇总", "共建项目", "专项资金", "资金安排", "拨付", "校验"):
        assert sheet in workbook.sheetnames, workbook.sheetnames
    codes = [row[0] for row in workbook[PROJECTS_SHEET].iter_rows(min_row=2, values_only=True)]
    assert "GS-2023-001" in codes
    allocations = [row[0] for row in workbook["专项资金"].iter_rows(min_row=2, values_only=True)]
    assert "GS-2023" in allocations


def test_export_these_projects_from_the_filtered_list(page, tmp_path):
    page.goto("/")
    nav(page).get_by_role("link", name=zh("Projects"), exact=True).click()
    page.get_by_label(zh("Code or name contains")).fill("胜利社区")
    page.get_by_role("button", name=zh("Filter")).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=zh("Export these projects (Excel)")).click()
    path = tmp_path / "projects.xlsx"
    download_info.value.save_as(path)
    rows = load_workbook(path, read_only=True)[PROJECTS_SHEET].iter_rows(values_only=True)
    _header, *body = list(rows)
    names = [row[1] for row in body if row[0] and str(row[0]).startswith("GS-")]
    assert names and all("胜利社区" in name for name in names), names
