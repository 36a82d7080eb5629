"""Finance's review workbook: sheets, headers, layout, totals that match the rollup, safe text."""

from __future__ import annotations

import re
import shutil
import tracemalloc
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from cocon import db
from cocon.allocations import draw, get_allocation, record_payment, save_allocation
from cocon.checks import Policies, Rule
from cocon.creditcode import credit_code_check_char
from cocon.findings import failing_rows
from cocon.models import Allocation, Org, Project
from cocon.money import to_decimal_yuan
from cocon.orgs import create_org, get_org
from cocon.partners import save_partner
from cocon.projects import ProjectInput, save_project, set_contribution
from cocon.rollup import RollupNode, rollup_tree
from cocon.workbook import exporter
from cocon.workbook.exporter import (
    ALLOCATION_EXTRAS,
    CHECKS,
    CONTRIBUTION_EXTRAS,
    FUNDING_EXTRAS,
    MONEY_FORMAT,
    PROJECT_EXTRAS,
    SUMMARY,
    ExportSummary,
    export_workbook,
    is_totals_row,
)
from cocon.workbook.schema import (
    ALLOCATIONS,
    CONTRIBUTIONS,
    FUNDING,
    PARTNERS,
    PAYMENTS,
    PROJECTS,
    column_for_header,
    sheet_for_title,
)
from tests.conftest import Cli
from tests.xlsx_formulas import cached_values, recalculate

GONGSHU = "330105"
ORDER = (SUMMARY, PARTNERS, PROJECTS, FUNDING, CONTRIBUTIONS, ALLOCATIONS, PAYMENTS, CHECKS)
EXTRAS = {
    "partners": (),
    "projects": PROJECT_EXTRAS,
    "funding": FUNDING_EXTRAS,
    "contributions": CONTRIBUTION_EXTRAS,
    "allocations": ALLOCATION_EXTRAS,
    "payments": (),
}
WARN_ALL = Policies({rule.value: "warn" for rule in Rule})
# The only formulas an export may hold: a sum over one column, and amount - drawn - passed down.
EMITTED = re.compile(r"=SUBTOTAL\(9,([A-Z]+)2:\1(\d+)\)|=([A-Z]+)(\d+)-([A-Z]+)\4-([A-Z]+)\4")


@dataclass
class DemoExport:
    """Gongshu 2023 of the demo, exported once per backend, with the rollup to check it by."""

    url: str
    zh: Path
    en: Path
    zh_summary: ExportSummary
    en_summary: ExportSummary
    node: RollupNode
    findings: int
    allocations: dict[str, tuple[int, int, int]]
    progress: list[tuple[str, int, int]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the URL of a database with the demo loaded (`cocon demo`), made once per module."""
    folder = tmp_path_factory.mktemp(f"demo-{request.param}")
    if request.param == "sqlite":
        path = folder / "demo.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
        Cli(url).ok("demo")
        yield url
        return
    template = request.getfixturevalue("_postgres_template")
    if template is None:
        pytest.skip("no PostgreSQL server answers (set COCON_TEST_POSTGRES_URL)")
    admin_url, template_name = template
    name = f"cocon_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    Cli(url).ok("demo")
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def demo(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> DemoExport:
    """Export Gongshu 2023 of the demo in Chinese (the default) and in English."""
    folder = tmp_path_factory.mktemp("export")
    engine = db.make_engine(demo_url)
    calls: list[tuple[str, int, int]] = []
    with Session(engine) as session:
        root = get_org(session, GONGSHU)
        zh_summary = export_workbook(
            session,
            folder / "gongshu-2023.xlsx",
            root=root,
            year=2023,
            progress=lambda *call: calls.append(call),
        )
    with Session(engine) as session:
        root = get_org(session, GONGSHU)
        en_summary = export_workbook(
            session, folder / "gongshu-2023-en.xlsx", root=root, year=2023, language="en"
        )
        node = rollup_tree(session, root, 2023)[0]
        findings = len(failing_rows(session, root, 2023))
        rows = session.execute(
            select(
                Allocation.code,
                Allocation.amount_fen,
                Allocation.drawn_fen,
                Allocation.sub_allocated_fen,
            )
        ).all()
    engine.dispose()
    return DemoExport(
        demo_url,
        folder / "gongshu-2023.xlsx",
        folder / "gongshu-2023-en.xlsx",
        zh_summary,
        en_summary,
        node,
        findings,
        {code: (amount, drawn, subs) for code, amount, drawn, subs in rows},
        calls,
    )


@pytest.fixture(scope="module")
def zh_book(demo: DemoExport) -> openpyxl.Workbook:
    return openpyxl.load_workbook(demo.zh)


@pytest.fixture(scope="module")
def recalculated(demo: DemoExport) -> dict[tuple[str, str], Decimal]:
    return recalculate(demo.zh)


def _headers(ws) -> list[str]:
    return [cell.value for cell in next(ws.iter_rows(min_row=1, max_row=1))]


def _column(ws, header: str) -> str:
    return openpyxl.utils.get_column_letter(_headers(ws).index(header) + 1)


def _yuan(value: object) -> Decimal:
    """Read a money cell back: a double with at most two decimals, as exact yuan."""
    exact = Decimal(str(value))
    assert exact == exact.quantize(Decimal("0.01")), value
    return exact.quantize(Decimal("0.01"))


def _data_rows(ws) -> list[tuple]:
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    return [row for row in rows if not is_totals_row(row)]


# -- sheets and headers ------------------------------------------------------------------------


def test_sheets_chinese_titles_by_default(demo: DemoExport, zh_book):
    titles = [
        "汇总",
        "共建单位",
        "共建项目",
        "资金安排",
        "共建单位出资",
        "专项资金",
        "拨付",
        "校验",
    ]
    assert zh_book.sheetnames == titles
    assert demo.zh_summary.sheets == titles
    assert demo.zh_summary.language == "zh_CN"


def test_sheets_english_titles_with_language_en(demo: DemoExport):
    book = openpyxl.load_workbook(demo.en)
    assert book.sheetnames == [sheet.en for sheet in ORDER]
    assert demo.en_summary.sheets == book.sheetnames
    assert demo.en_summary.rows == demo.zh_summary.rows


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_headers_equal_schema_headers(demo: DemoExport, language: str):
    book = openpyxl.load_workbook(demo.zh if language == "zh_CN" else demo.en)
    for sheet in ORDER:
        headers = _headers(book[sheet.title(language)])
        expected = [c.header(language) for c in (*sheet.columns, *EXTRAS.get(sheet.key, ()))]
        assert headers == expected, sheet.key


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_headers_reimport_schema_columns_only(demo: DemoExport, language: str):
    book = openpyxl.load_workbook(demo.zh if language == "zh_CN" else demo.en)
    for title in book.sheetnames:
        sheet = sheet_for_title(title)
        if sheet is None:
            assert title in (SUMMARY.title(language), CHECKS.title(language))
            continue
        headers = _headers(book[title])
        found = [column_for_header(sheet, header) for header in headers]
        assert found[: len(sheet.columns)] == list(sheet.columns)
        # The read-only columns after them answer to no column of the import.
        assert found[len(sheet.columns) :] == [None] * len(EXTRAS[sheet.key])


def test_summary_rows_counted_per_sheet(demo: DemoExport, zh_book):
    rows = demo.zh_summary.rows
    assert list(rows) == [sheet.key for sheet in ORDER]
    assert rows["projects"] == demo.node.total.project_count == 36
    assert rows["checks"] == demo.findings
    assert rows["summary"] == 1 + 18 + 178  # all levels below a district root
    for sheet in ORDER[1:]:
        assert len(_data_rows(zh_book[sheet.zh])) == rows[sheet.key], sheet.key


def test_progress_reports_each_sheet(demo: DemoExport):
    titles = [sheet.zh for sheet in ORDER]
    assert [call[0] for call in demo.progress if call[1] == 0] == titles
    for sheet in ORDER:
        calls = [call for call in demo.progress if call[0] == sheet.zh]
        rows = demo.zh_summary.rows[sheet.key]
        assert calls[0] == (sheet.zh, 0, rows)
        assert calls[-1] == (sheet.zh, rows, rows)
        assert [done for _title, done, _total in calls] == sorted(done for _t, done, _n in calls)


# -- the Summary -------------------------------------------------------------------------------


def test_summary_outline_levels_present(zh_book):
    ws = zh_book["汇总"]
    levels = {}
    for row in range(2, 2 + 197):
        code = ws.cell(row, 1).value
        levels[len(code)] = {*levels.get(len(code), set()), ws.row_dimensions[row].outlineLevel}
    assert levels == {6: {0}, 9: {1}, 12: {2}}
    assert ws.sheet_properties.outlinePr.summaryBelow is False
    assert ws.sheet_format.outlineLevelRow == 2


def test_summary_figures_equal_rollup(demo: DemoExport, zh_book):
    ws = zh_book["汇总"]
    nodes = {}
    stack = [demo.node]
    while stack:
        node = stack.pop()
        nodes[node.code] = node
        stack.extend(node.children)
    headers = _headers(ws)
    seen = 0
    for row in ws.iter_rows(min_row=2, max_row=1 + len(nodes), values_only=True):
        values = dict(zip(headers, row, strict=True))
        total = nodes[values["单位编码"]].total
        assert values["单位名称"] == nodes[values["单位编码"]].name
        assert values["项目数"] == total.project_count
        assert values["未通过校验"] == total.failing
        money = {
            "预算金额（元）": total.budget,
            "省级资金（元）": total.funding_by_level[0],
            "市级资金（元）": total.funding_by_level[1],
            "区级资金（元）": total.funding_by_level[2],
            "街道资金（元）": total.funding_by_level[3],
            "社区资金（元）": total.funding_by_level[4],
            "共建单位出资（元）": total.partners,
            "资金合计（元）": total.funded,
            "已拨付（元）": total.paid,
            "专项资金（元）": total.held,
            "已安排（元）": total.drawn,
            "剩余额度（元）": total.remaining,
        }
        for header, fen in money.items():
            assert _yuan(values[header]) == to_decimal_yuan(fen), (values["单位编码"], header)
        seen += 1
    assert seen == len(nodes) == 197
    assert ws["E2"].number_format == MONEY_FORMAT
    assert ws["E2"].data_type == "n"  # a value, not a formula


def test_summary_chart_present(demo: DemoExport, zh_book):
    ws = zh_book["汇总"]
    assert len(ws._charts) == 1
    chart = ws._charts[0]
    assert chart.tagname == "barChart"
    assert [s.tx.v for s in chart.series] == ["专项资金（元）", "已安排（元）", "已拨付（元）"]
    # One bar group per street of Gongshu, read from a block below the outline.
    reference = chart.series[0].val.numRef.f
    first, last = (int(n) for n in re.findall(r"\$(\d+)", reference))
    assert last - first + 1 == len(demo.node.children) == 18
    streets = {child.code: child.total for child in demo.node.children}
    held_column = _column(ws, "专项资金（元）")
    for row in range(first, last + 1):
        held = _yuan(ws[f"{held_column}{row}"].value)
        assert held == to_decimal_yuan(streets[ws[f"A{row}"].value].held)


# -- layout ------------------------------------------------------------------------------------


def test_projects_frozen_header_and_autofilter(zh_book):
    ws = zh_book["共建项目"]
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref == "A1:U37"  # header and 36 projects, not the totals row
    assert is_totals_row([ws["A38"].value])
    for header in ("预算金额（元）", "资金合计（元）", "资金缺口（元）", "已拨付（元）"):
        column = _column(ws, header)
        assert ws[f"{column}2"].number_format == MONEY_FORMAT
        assert ws[f"{column}38"].value == f"=SUBTOTAL(9,{column}2:{column}37)"


def test_data_sheets_frozen_and_filtered(zh_book):
    for sheet in ORDER[1:]:
        ws = zh_book[sheet.zh]
        assert ws.freeze_panes in ("A2", "C2"), sheet.key
        assert ws.auto_filter.ref.startswith("A1:"), sheet.key


def test_allocations_conditional_formatting_red_when_over(zh_book):
    ws = zh_book["专项资金"]
    remaining = _column(ws, "剩余额度（元）")
    ranges = list(ws.conditional_formatting)
    assert len(ranges) == 1
    assert str(ranges[0].sqref) == f"A2:{remaining}13"
    rule = ranges[0].rules[0]
    assert rule.type == "expression"
    assert rule.formula == [f"${remaining}2<0"]
    assert rule.dxf.fill.fgColor.rgb.endswith("FFC7CE")
    assert ws[f"{remaining}2"].value == "=D2-I2-J2"


def test_print_setup_on_every_sheet(zh_book):
    for ws in zh_book:
        assert ws.page_setup.orientation == "landscape", ws.title
        # fitToWidth defaults to 1 in ECMA-376: xlsxwriter leaves it out, openpyxl reads None.
        assert ws.page_setup.fitToWidth in (None, 1)
        assert ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert ws.print_title_rows == "$1:$1"


# -- totals recalculated -----------------------------------------------------------------------


def _totals(ws, recalculated) -> dict[str, Decimal]:
    """Return the recalculated value of each formula on the totals row, by header."""
    headers = _headers(ws)
    row = ws.max_row
    assert is_totals_row([ws.cell(row, 1).value])
    totals = {}
    for index, header in enumerate(headers, 1):
        cell = ws.cell(row, index)
        if cell.data_type == "f":
            totals[header] = recalculated[(ws.title.upper(), cell.coordinate)]
    return totals


def test_totals_equal_rollup_to_the_fen(demo: DemoExport, zh_book, recalculated):
    total = demo.node.total
    fen = to_decimal_yuan
    assert _totals(zh_book["共建项目"], recalculated) == {
        "预算金额（元）": fen(total.budget),
        "资金合计（元）": fen(total.funded),
        "资金缺口（元）": fen(total.budget - total.funded),
        "已拨付（元）": fen(total.paid),
    }
    assert _totals(zh_book["资金安排"], recalculated) == {
        "金额（元）": fen(sum(total.funding_by_level))
    }
    assert _totals(zh_book["共建单位出资"], recalculated) == {"金额（元）": fen(total.partners)}
    assert _totals(zh_book["拨付"], recalculated) == {"金额（元）": fen(total.paid)}
    allocations = _totals(zh_book["专项资金"], recalculated)
    assert allocations["金额（元）"] - allocations["已下拨（元）"] == fen(total.held)
    assert allocations["已安排（元）"] == fen(total.drawn)
    assert allocations["剩余额度（元）"] == fen(total.remaining)
    assert len(allocations) == 4


def test_totals_every_formula_checked(zh_book, recalculated):
    formulas_in_book = {
        (ws.title.upper(), cell.coordinate)
        for ws in zh_book
        for row in ws.iter_rows()
        for cell in row
        if cell.data_type == "f"
    }
    assert formulas_in_book == set(recalculated)
    assert len(formulas_in_book) == 4 + 1 + 1 + 1 + 4 + 12  # totals, and remaining per allocation


def test_totals_cached_results_equal_recalculated(demo: DemoExport, recalculated):
    """Every formula carries its result, so a viewer that does not recalculate shows it too."""
    cached = cached_values(demo.zh)
    assert cached == recalculated
    assert all(value == value.quantize(Decimal("0.01")) for value in cached.values())


def test_allocations_remaining_formula_per_row(demo: DemoExport, zh_book, recalculated):
    ws = zh_book["专项资金"]
    remaining = _column(ws, "剩余额度（元）")
    for row in range(2, ws.max_row):
        amount, drawn, subs = demo.allocations[ws[f"A{row}"].value]
        computed = recalculated[("专项资金", f"{remaining}{row}")]
        assert computed == to_decimal_yuan(amount - drawn - subs)


def test_allocations_sheet_checks_each_allocation_over_its_tree(zh_book):
    ws = zh_book["专项资金"]
    headers = _headers(ws)
    rows = {row[0]: dict(zip(headers, row, strict=True)) for row in _data_rows(ws)}
    gongshu = rows["GS-2023"]
    assert gongshu["出资专项资金编号"] == "GS-2023"
    assert _yuan(gongshu["已安排（元）"]) == Decimal("650000.00")  # drawn directly
    assert _yuan(gongshu["已下拨（元）"]) == Decimal("1350000.00")
    assert _yuan(gongshu["下级已安排（元）"]) == Decimal("1290000.00")
    assert _yuan(gongshu["未使用（含下拨，元）"]) == Decimal("60000.00")
    banshan = rows["GS-2023-BS"]
    assert banshan["出资专项资金编号"] == "GS-2023"
    assert _yuan(banshan["未使用（含下拨，元）"]) == Decimal("60000.00")


def test_funding_and_summary_sheets_name_origin_and_holder(demo: DemoExport, zh_book):
    ws = zh_book["资金安排"]
    headers = _headers(ws)
    lines = [dict(zip(headers, row, strict=True)) for row in _data_rows(ws)]
    passed = [line for line in lines if line["资金编号"] == "GS-2023-WH"]
    assert passed and all(line["资金来源单位"] == "拱墅区" for line in passed)
    assert all(line["资金所属单位"] == "文晖街道" for line in passed)
    summary = zh_book["汇总"]
    first = next(summary.iter_rows(min_row=2, values_only=True))
    top = dict(zip(_headers(summary), first, strict=True))
    assert _yuan(top["区级资金（元）"]) == Decimal("1940000.00")
    assert _yuan(top["区级资金（使用/安排单位，元）"]) == Decimal("650000.00")


def test_money_cells_exact_decimals(demo: DemoExport, zh_book):
    ws = zh_book["共建项目"]
    budgets = {row[0]: _yuan(row[9]) for row in _data_rows(ws)}
    engine = db.make_engine(demo.url)
    with Session(engine) as session:
        stored = dict(session.execute(select(Project.code, Project.budget_fen)).all())
    engine.dispose()
    assert budgets == {code: to_decimal_yuan(fen) for code, fen in stored.items()}


def test_checks_sheet_lists_failing_rows(demo: DemoExport, zh_book):
    rows = _data_rows(zh_book["校验"])
    assert len(rows) == demo.findings == demo.node.total.failing == 1
    rule, severity, subject, org, message, excess = rows[0]
    assert (rule, severity, subject, org) == ("资金与预算不符", "提醒", "GS-2023-010", "上塘街道")
    assert "资金缺口" in message
    assert _yuan(excess) == Decimal("80000.00")


def test_export_empty_year_of_demo(demo: DemoExport, tmp_path: Path):
    engine = db.make_engine(demo.url)
    with Session(engine) as session:
        summary = export_workbook(
            session, tmp_path / "empty.xlsx", root=get_org(session, GONGSHU), year=2099
        )
    engine.dispose()
    assert summary.rows["summary"] == 197
    assert {key: n for key, n in summary.rows.items() if key != "summary"} == dict.fromkeys(
        ["partners", "projects", "funding", "contributions", "allocations", "payments", "checks"],
        0,
    )
    book = openpyxl.load_workbook(tmp_path / "empty.xlsx")
    ws = book["共建项目"]
    assert ws.max_row == 2 and is_totals_row([ws["A2"].value])
    assert ws["J2"].value == 0 and ws["J2"].data_type == "n"  # no SUBTOTAL over no rows
    assert ws.auto_filter.ref == "A1:U1"


def test_export_to_stream_and_filter(demo: DemoExport):
    stream = BytesIO()
    engine = db.make_engine(demo.url)
    with Session(engine) as session:
        summary = export_workbook(
            session,
            stream,
            root=get_org(session, GONGSHU),
            year=2023,
            language="en",
            projects_filter={"status": "completed"},
        )
    engine.dispose()
    book = openpyxl.load_workbook(BytesIO(stream.getvalue()))
    projects = _data_rows(book["Projects"])
    assert len(projects) == summary.rows["projects"] > 0
    assert {row[6] for row in projects} == {"completed"}
    codes = {row[0] for row in projects}
    assert {row[0] for row in _data_rows(book["Funding lines"])} <= codes
    assert {row[1] for row in _data_rows(book["Payments"])} <= codes
    assert summary.rows["summary"] == 197  # the Summary covers the whole scope all the same
    assert summary.rows["allocations"] == 12


def test_export_unknown_filter_refused(demo: DemoExport, tmp_path: Path):
    engine = db.make_engine(demo.url)
    with Session(engine) as session, pytest.raises(ValueError, match="projects_filter"):
        export_workbook(
            session, tmp_path / "x.xlsx", root=None, year=None, projects_filter={"x": 1}
        )
    engine.dispose()


def test_export_whole_tree_caps_summary_depth(demo: DemoExport, tmp_path: Path):
    engine = db.make_engine(demo.url)
    with Session(engine) as session:
        summary = export_workbook(session, tmp_path / "all.xlsx", root=None, year=None)
    engine.dispose()
    book = openpyxl.load_workbook(tmp_path / "all.xlsx")
    ws = book["汇总"]
    codes = [ws.cell(row, 1).value for row in range(2, 2 + summary.rows["summary"])]
    assert codes == ["33", "3301", GONGSHU]  # province, city, district: two levels below
    assert [ws.row_dimensions[row].outlineLevel for row in (2, 3, 4)] == [0, 1, 2]
    assert summary.rows["allocations"] == 14
    assert len(ws._charts) == 1


def test_allocations_overcommitted_painted_and_blocking(engine, tmp_path: Path):
    with db.session_scope(engine, write=True) as session:
        district, community = _small_tree(session)
        save_allocation(session, WARN_ALL, org=district, year=2023, amount=100, code="A-1")
        allocation = get_allocation(session, "A-1")
        for number in range(2):
            project = save_project(
                session,
                ProjectInput(
                    name=f"项目{number}",
                    owner=district,
                    site=community,
                    category="other",
                    year=2023,
                    budget=80,
                    code=f"P-{number}",
                ),
            )
            draw(session, WARN_ALL, project, allocation, 80)
    path = tmp_path / "over.xlsx"
    with Session(engine) as session:
        summary = export_workbook(session, path, root=get_org(session, GONGSHU), year=2023)
    ws = openpyxl.load_workbook(path)["专项资金"]
    remaining = _column(ws, "剩余额度（元）")
    assert recalculate(path)[("专项资金", f"{remaining}2")] == Decimal("-60.00")
    (ranges,) = list(ws.conditional_formatting)
    assert str(ranges.sqref) == f"A2:{remaining}2"
    checks = _data_rows(openpyxl.load_workbook(path)["校验"])
    assert summary.rows["checks"] == len(checks) == 1
    assert checks[0][:3] == ("超额安排", "阻止", "A-1")
    assert _yuan(checks[0][5]) == Decimal("60.00")


# -- text that must stay text ------------------------------------------------------------------

RISKY = ["=1+2", "+86 1", "-5", "@SUM(A1)", "\tTab", "\rCR", "\nLF", "#N/A", '=HYPERLINK("x")']


def _credit_code(number: int) -> str:
    body = f"91330105MA{number:07d}"
    return body + credit_code_check_char(body)


def _small_tree(session: Session) -> tuple[Org, Org]:
    create_org(session, "33", "浙江省")
    create_org(session, "3301", "杭州市", "33")
    district = create_org(session, GONGSHU, "拱墅区", "3301")
    create_org(session, "330105017", "文晖街道", GONGSHU)
    community = create_org(session, "330105017003", "胜利社区", "330105017")
    return district, community


def test_injection_names_written_as_text(engine, tmp_path: Path):
    with db.session_scope(engine, write=True) as session:
        district, community = _small_tree(session)
        save_allocation(session, WARN_ALL, org=district, year=2023, amount=100, code="A-1")
        allocation = get_allocation(session, "A-1")
        for number, name in enumerate(RISKY):
            partner = save_partner(
                session, credit_code=_credit_code(number), name="x", kind="enterprise"
            )
            project = save_project(
                session,
                ProjectInput(
                    name="x",
                    owner=district,
                    site=community,
                    category="other",
                    year=2023,
                    budget=1,
                    description="x",
                    code=f"P-{number}",
                ),
            )
            contribution = set_contribution(session, project, partner, 1, note="x")
            line = draw(session, WARN_ALL, project, allocation, 1).row
            payment = record_payment(
                session,
                WARN_ALL,
                line,
                paid_on=date(2023, 5, 1),
                amount=1,
                voucher_no=f"V-{number}",
                note="x",
            ).row
            # The domain strips leading blanks and refuses control characters; put the risky
            # text itself in every text field, as an older database or another writer may hold.
            partner.name = partner.contact = name
            project.name = project.description = name
            contribution.note = payment.note = name
            session.add_all([partner, project, contribution, payment])
        allocation.source_note = RISKY[0]
        session.add(allocation)
    with Session(engine) as session:
        summary = export_workbook(
            session, tmp_path / "risky.xlsx", root=get_org(session, GONGSHU), year=2023
        )
    assert summary.rows["projects"] == summary.rows["partners"] == len(RISKY)
    expected = {name.replace("\r", "\n") for name in RISKY}  # XML reads a bare CR as LF
    book = openpyxl.load_workbook(tmp_path / "risky.xlsx")
    places = {
        "共建单位": ("单位名称", "联系人"),
        "共建项目": ("项目名称", "项目简介"),
        "共建单位出资": ("备注", "共建单位名称"),
        "拨付": ("备注",),
        "专项资金": ("资金来源",),
    }
    checked = 0
    for title, headers in places.items():
        ws = book[title]
        for header in headers:
            column = _headers(ws).index(header) + 1
            for row in range(2, 2 + summary.rows[sheet_for_title(title).key]):
                cell = ws.cell(row, column)
                assert cell.data_type == "s", (title, header, cell.value)
                assert cell.value in expected, (title, header, cell.value)
                assert cell.quotePrefix is True  # Excel keeps it text even when edited
                checked += 1
    assert checked == 7 * len(RISKY) + 1
    assert {row[1] for row in _data_rows(book["共建项目"])} == expected
    _assert_only_emitted_formulas(tmp_path / "risky.xlsx")


def test_injection_rich_text_shaped_names_stay_text(engine, tmp_path: Path):
    # xlsxwriter copies inline text shaped like <r>…</r> into the sheet's XML as it is.
    shaped = [
        "<r><t>x</t></r>",
        '<r><t>a</t></r></is></c><c r="Z2"><f>HYPERLINK("http://x")</f></c>'
        '<c r="Z3" t="inlineStr"><is><r><t>b</t></r>',
    ]
    with db.session_scope(engine, write=True) as session:
        _small_tree(session)
        for number, name in enumerate(shaped):
            partner = save_partner(
                session, credit_code=_credit_code(number), name="plain", kind="enterprise"
            )
            partner.name = name
            session.add(partner)
    with Session(engine) as session:
        export_workbook(session, tmp_path / "rich.xlsx", root=None, year=None)
    ws = openpyxl.load_workbook(tmp_path / "rich.xlsx")["共建单位"]
    assert [ws.cell(row, 2).value for row in (2, 3)] == shaped
    assert all(ws.cell(row, 2).data_type == "s" for row in (2, 3))
    assert ws["Z2"].value is None and ws["Z3"].value is None
    _assert_only_emitted_formulas(tmp_path / "rich.xlsx")


def test_injection_array_formula_shaped_names_stay_text(engine, tmp_path: Path):
    # Rows go through write_row, which would take {=…} for an array formula if strings were
    # turned into formulas: the workbook turns none.
    shaped = ["{=1+2}", '{=HYPERLINK("http://x")}']
    with db.session_scope(engine, write=True) as session:
        _small_tree(session)
        for number, name in enumerate(shaped):
            partner = save_partner(
                session, credit_code=_credit_code(number), name="plain", kind="enterprise"
            )
            partner.name = name
            session.add(partner)
    with Session(engine) as session:
        export_workbook(session, tmp_path / "array.xlsx", root=None, year=None)
    ws = openpyxl.load_workbook(tmp_path / "array.xlsx")["共建单位"]
    assert [ws.cell(row, 2).value for row in (2, 3)] == shaped
    assert all(ws.cell(row, 2).data_type == "s" for row in (2, 3))
    _assert_only_emitted_formulas(tmp_path / "array.xlsx")


def _assert_only_emitted_formulas(path: Path) -> None:
    """Every <f> element in the file is a formula the exporter writes itself."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                xml = archive.read(name).decode()
                for formula in re.findall(r"<f>(.*?)</f>", xml):
                    assert EMITTED.fullmatch("=" + formula), (name, formula)


def test_injection_cr_and_control_characters_survive(engine, tmp_path: Path):
    with db.session_scope(engine, write=True) as session:
        _small_tree(session)
        partner = save_partner(
            session, credit_code=_credit_code(1), name="plain", kind="enterprise"
        )
        partner.name = "a\r\nb\rc\x0bd"
        session.add(partner)
    with Session(engine) as session:
        export_workbook(session, tmp_path / "cr.xlsx", root=None, year=None)
    ws = openpyxl.load_workbook(tmp_path / "cr.xlsx")["共建单位"]
    assert ws["B2"].value == "a\nb\nc\ufffdd"
    assert ws["B2"].data_type == "s"


# -- empty scopes ------------------------------------------------------------------------------


def test_empty_scope_community_exports(engine, tmp_path: Path):
    with db.session_scope(engine, write=True) as session:
        _small_tree(session)
    with Session(engine) as session:
        community = get_org(session, "330105017003")
        summary = export_workbook(session, tmp_path / "c.xlsx", root=community, year=2023)
    assert summary.rows == {
        "summary": 1,
        "partners": 0,
        "projects": 0,
        "funding": 0,
        "contributions": 0,
        "allocations": 0,
        "payments": 0,
        "checks": 0,
    }
    book = openpyxl.load_workbook(tmp_path / "c.xlsx")
    assert len(book.sheetnames) == 8
    assert book["汇总"]["A2"].value == "330105017003"


def test_empty_scope_empty_database_exports(engine, tmp_path: Path):
    with Session(engine) as session:
        summary = export_workbook(session, tmp_path / "e.xlsx", root=None, year=None)
    assert summary.total_rows == 0
    book = openpyxl.load_workbook(tmp_path / "e.xlsx")
    assert book.sheetnames == [sheet.zh for sheet in ORDER]
    assert book["汇总"]._charts == []
    for title in book.sheetnames[1:]:
        assert book[title].max_row <= 2  # the header, and the totals row of money sheets


def test_injection_risky_names_in_summary(engine, tmp_path: Path):
    with db.session_scope(engine, write=True) as session:
        _small_tree(session)
        street = get_org(session, "330105017")
        street.name = "=cmd|' /C calc'!A0"
        session.add(street)
    with Session(engine) as session:
        export_workbook(session, tmp_path / "s.xlsx", root=get_org(session, GONGSHU), year=None)
    ws = openpyxl.load_workbook(tmp_path / "s.xlsx")["汇总"]
    names = [ws.cell(row, 2) for row in range(2, 5)]
    assert names[1].value == "=cmd|' /C calc'!A0"
    assert names[1].data_type == "s"
    assert names[1].alignment.indent == 1
    _assert_only_emitted_formulas(tmp_path / "s.xlsx")


# -- memory ------------------------------------------------------------------------------------


def _bulk_projects(engine, start: int, count: int) -> None:
    with db.session_scope(engine, write=True) as session:
        district, community = get_org(session, GONGSHU), get_org(session, "330105017003")
        fixed = (district.id, community.id, 5, "other", 2023, "draft")
        about = "改造社区闲置用房开设长者食堂" * 3
        rows = [(f"B-{n:06d}", f"项目{n}", *fixed, n, about) for n in range(start, start + count)]
        columns = ("code", "name", "owner_id", "site_id", "site_level", "category", "year")
        columns += ("status", "budget_fen", "description")
        db.bulk_insert(session.connection(), "project", columns, rows)


@pytest.mark.slow
def test_export_memory_flat_as_rows_grow(_sqlite_template, tmp_path: Path, monkeypatch):
    # One backend is enough to watch memory.
    shutil.copy(_sqlite_template, tmp_path / "memory.db")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'memory.db'}")
    with db.session_scope(engine, write=True) as session:
        _small_tree(session)

    def peak(batch: int, path: Path) -> int:
        """Return the peak memory while the sheets are written (the last progress report comes
        after the last row; closing then copies the rows through xlsxwriter's fixed buffer,
        whose peak varies from run to run by more than the rows' share of it)."""
        monkeypatch.setattr(exporter, "BATCH", batch)
        peaks = []
        tracemalloc.start()
        try:
            with Session(engine) as session:
                export_workbook(
                    session,
                    path,
                    root=None,
                    year=None,
                    progress=lambda *_: peaks.append(tracemalloc.get_traced_memory()[1]),
                )
            return max(peaks)
        finally:
            tracemalloc.stop()

    peak(50, tmp_path / "warm-up.xlsx")  # catalogs, compiled statements: loaded once
    _bulk_projects(engine, 0, 300)
    small = {batch: peak(batch, tmp_path / f"small-{batch}.xlsx") for batch in (50, 10**6)}
    _bulk_projects(engine, 300, 1_800)
    large = {batch: peak(batch, tmp_path / f"large-{batch}.xlsx") for batch in (50, 10**6)}
    engine.dispose()
    print("peak memory by batch size, 300 and 2,100 projects:", small, large)
    # Seven times the rows take no more memory when rows stream through in batches of 50 ...
    assert large[50] < small[50] * 1.3, (small, large)
    # ... while holding them all at once shows up in the same measure.
    assert large[10**6] > small[10**6] * 1.5, (small, large)
    ws = openpyxl.load_workbook(tmp_path / "large-50.xlsx", read_only=True)["共建项目"]
    last = next(ws.iter_rows(min_row=2_102, max_row=2_102, values_only=True))
    assert last[0] == "合计"
    assert last[9] == "=SUBTOTAL(9,J2:J2101)"
