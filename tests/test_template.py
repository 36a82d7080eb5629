"""The import template: sheets, headers, example rows, formats and validations, in both languages."""

from __future__ import annotations

import datetime as dt
import unicodedata
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from cocon.i18n import _, use_language
from cocon.labels import choices
from cocon.workbook import template
from cocon.workbook.schema import SHEETS, Column, Kind, Sheet, column_for_header, sheet_for_title
from cocon.workbook.template import (
    EXAMPLE_ROW,
    LAST_ROW,
    LISTS_SHEET,
    display_width,
    example_value,
    instructions_title,
    template_headers,
    write_template,
)

LANGUAGES = pytest.mark.parametrize("language", ["zh_CN", "en"], ids=["zh", "en"])


def _load(language: str | None = None) -> Workbook:
    buffer = BytesIO()
    if language is None:
        write_template(buffer)
    else:
        write_template(buffer, language=language)
    buffer.seek(0)
    return load_workbook(buffer)


@pytest.fixture(scope="module")
def books() -> dict[str, Workbook]:
    return {language: _load(language) for language in ("zh_CN", "en")}


def _columns(sheet: Sheet) -> list[tuple[str, Column]]:
    return [(get_column_letter(i), column) for i, column in enumerate(sheet.columns, start=1)]


def _validations(ws: Worksheet, letter: str) -> list[DataValidation]:
    wanted = f"{letter}{EXAMPLE_ROW}:{letter}{LAST_ROW}"
    return [dv for dv in ws.data_validations.dataValidation if str(dv.sqref) == wanted]


def _labels(column: Column, language: str) -> list[str]:
    assert column.choices is not None
    with use_language(language):
        return [name for _value, name in choices(column.choices)]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _list_values(book: Workbook, formula: str) -> list[str]:
    if formula.startswith('"'):
        return formula.strip('"').split(",")
    sheet_name, cells = formula.split("!")
    return [row[0].value for row in book[sheet_name.strip("'")][cells.replace("$", "")]]


def test_sheet_names_chinese_by_default() -> None:
    # The autouse fixture makes English current: the template is still Chinese unless asked.
    book = _load()
    assert book.sheetnames == ["说明", *(sheet.zh for sheet in SHEETS)]
    assert book.sheetnames[1:] == [
        "社区档案",
        "共建单位",
        "共建项目",
        "共建单位出资",
        "专项资金",
        "资金安排",
        "拨付",
    ]


def test_sheet_names_english() -> None:
    book = _load("en")
    assert book.sheetnames == ["Instructions", *(sheet.en for sheet in SHEETS)]
    assert book.active is not None
    assert book.active.title == "Instructions"


@LANGUAGES
def test_sheet_names_found_by_schema(books: dict[str, Workbook], language: str) -> None:
    titles = books[language].sheetnames[1:]
    assert [sheet_for_title(title) for title in titles] == list(SHEETS)
    assert instructions_title(language) == books[language].sheetnames[0]


@LANGUAGES
def test_headers_equal_schema(books: dict[str, Workbook], language: str) -> None:
    book = books[language]
    expected = template_headers(language)
    assert list(expected) == book.sheetnames[1:]
    for sheet in SHEETS:
        ws = book[sheet.title(language)]
        row = [cell.value for cell in ws[1]]
        assert row == [column.header(language) for column in sheet.columns]
        assert row == expected[sheet.title(language)]
        assert [column_for_header(sheet, header) for header in row] == list(sheet.columns)


def test_headers_chinese_values() -> None:
    headers = template_headers("zh_CN")
    assert headers["共建项目"][:5] == ["项目编号", "项目名称", "牵头单位", "实施社区", "项目类别"]
    assert "预算金额（元）" in headers["共建项目"]
    assert headers["共建单位"][0] == "统一社会信用代码"


@LANGUAGES
def test_headers_styled_required_marked(books: dict[str, Workbook], language: str) -> None:
    required_fill = template.REQUIRED_FILL.fgColor.rgb
    optional_fill = template.OPTIONAL_FILL.fgColor.rgb
    assert required_fill != optional_fill
    for sheet in SHEETS:
        ws = books[language][sheet.title(language)]
        for index, column in enumerate(sheet.columns, start=1):
            cell = ws.cell(row=1, column=index)
            assert cell.font.bold
            assert cell.alignment.wrap_text
            assert cell.fill.fill_type == "solid"
            expected = required_fill if column.required else optional_fill
            assert cell.fill.fgColor.rgb == expected, (sheet.key, column.key)


@LANGUAGES
def test_example_row_round_trip(books: dict[str, Workbook], language: str) -> None:
    for sheet in SHEETS:
        ws = books[language][sheet.title(language)]
        for index, column in enumerate(sheet.columns, start=1):
            value = ws.cell(row=EXAMPLE_ROW, column=index).value
            expected = example_value(column, language)
            if isinstance(expected, dt.date):
                expected = dt.datetime.combine(expected, dt.time())
            if column.example in (None, ""):
                assert value is None
            elif column.kind is Kind.CHOICE:
                assert value in _labels(column, language)
            elif column.kind is not Kind.DATE:
                assert value == column.example
            assert value == expected, (sheet.key, column.key)
        assert ws.max_row == EXAMPLE_ROW


def test_example_row_chinese_values(books: dict[str, Workbook]) -> None:
    projects = books["zh_CN"]["共建项目"]
    row = dict(
        zip(
            template_headers("zh_CN")["共建项目"],
            next(projects.iter_rows(min_row=EXAMPLE_ROW, max_row=EXAMPLE_ROW, values_only=True)),
            strict=True,
        )
    )
    assert row["项目编号"] == "EXAMPLE-2023-001"
    assert row["实施社区"] == "330105017003"
    assert row["项目类别"] == "文体设施"
    assert row["状态"] == "已完成"
    assert row["开始日期"] == dt.datetime(2023, 3, 1)
    assert row["预算金额（元）"] == 500000
    assert books["zh_CN"]["共建单位"]["C2"].value == "企业"
    assert books["zh_CN"]["社区档案"]["F2"].value == "传统融合型"


def test_example_row_english_values(books: dict[str, Workbook]) -> None:
    projects = books["en"]["Projects"]
    assert projects["E2"].value == "culture and sports"
    assert projects["G2"].value == "completed"
    assert books["en"]["Partners"]["C2"].value == "enterprise"


@LANGUAGES
def test_example_row_styled(books: dict[str, Workbook], language: str) -> None:
    grey = template.EXAMPLE_FONT.color.rgb
    for sheet in SHEETS:
        ws = books[language][sheet.title(language)]
        for index in range(1, len(sheet.columns) + 1):
            font = ws.cell(row=EXAMPLE_ROW, column=index).font
            assert font.italic
            assert not font.bold
            assert font.color is not None
            assert font.color.rgb == grey


@LANGUAGES
def test_freeze_panes_header(books: dict[str, Workbook], language: str) -> None:
    for sheet in SHEETS:
        assert books[language][sheet.title(language)].freeze_panes == "A2"


@LANGUAGES
def test_column_widths_fit_headers(books: dict[str, Workbook], language: str) -> None:
    for sheet in SHEETS:
        ws = books[language][sheet.title(language)]
        for letter, column in _columns(sheet):
            width = ws.column_dimensions[letter].width
            assert width >= column.width
            assert width >= _width(column.header(language)), (sheet.key, column.key)


def test_column_widths_count_cjk_double() -> None:
    assert display_width("租住（流动）人口") == 16
    assert display_width("Area (m²)") == 9
    assert display_width("预算金额（元）") == _width("预算金额（元）")


@LANGUAGES
def test_dropdown_every_choice_column(books: dict[str, Workbook], language: str) -> None:
    book = books[language]
    seen = 0
    for sheet in SHEETS:
        ws = book[sheet.title(language)]
        for letter, column in _columns(sheet):
            lists = [dv for dv in _validations(ws, letter) if dv.type == "list"]
            if column.kind is not Kind.CHOICE:
                assert not lists
                continue
            seen += 1
            assert len(lists) == 1, (sheet.key, column.key)
            validation = lists[0]
            assert _list_values(book, validation.formula1) == _labels(column, language)
            assert validation.showErrorMessage
            assert validation.errorStyle == "stop"
            assert validation.error
            assert validation.errorTitle
            assert validation.allow_blank
    assert seen == sum(c.kind is Kind.CHOICE for s in SHEETS for c in s.columns) == 5


def test_dropdown_chinese_labels(books: dict[str, Workbook]) -> None:
    book = books["zh_CN"]

    def listed(sheet: str, letter: str) -> list[str]:
        (validation,) = [dv for dv in _validations(book[sheet], letter) if dv.type == "list"]
        return _list_values(book, validation.formula1)

    assert "文体设施" in listed("共建项目", "E")
    assert "儿童服务（托育）" in listed("共建项目", "E")
    assert listed("共建项目", "G") == ["草稿", "已申报", "已批准", "实施中", "已完成", "已取消"]
    assert listed("共建单位", "C")[0] == "企业"
    assert listed("共建单位出资", "C") == ["现金", "实物（折价）"]
    assert "整村改造型" in listed("社区档案", "F")


def test_dropdown_long_lists_hidden_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template, "INLINE_LIST_LIMIT", 5)
    book = _load("zh_CN")
    assert book.sheetnames == ["说明", *(sheet.zh for sheet in SHEETS), LISTS_SHEET]
    assert book[LISTS_SHEET].sheet_state == "hidden"
    for sheet in SHEETS:
        ws = book[sheet.zh]
        for letter, column in _columns(sheet):
            if column.kind is not Kind.CHOICE:
                continue
            (validation,) = _validations(ws, letter)
            assert validation.formula1.startswith(f"'{LISTS_SHEET}'!$")
            assert _list_values(book, validation.formula1) == _labels(column, "zh_CN")


def test_dropdown_short_lists_inline(books: dict[str, Workbook]) -> None:
    for book in books.values():
        assert LISTS_SHEET not in book.sheetnames


@LANGUAGES
def test_number_formats_by_kind(books: dict[str, Workbook], language: str) -> None:
    expected = {
        Kind.CODE: "@",
        Kind.ORG: "@",
        Kind.AMOUNT: "#,##0.00",
        Kind.DATE: "yyyy-mm-dd",
        Kind.COUNT: "0",
        Kind.YEAR: "0",
    }
    for sheet in SHEETS:
        ws = books[language][sheet.title(language)]
        for letter, column in _columns(sheet):
            if column.kind not in expected:
                continue
            assert ws.column_dimensions[letter].number_format == expected[column.kind]
            if column.example not in (None, ""):
                cell = ws[f"{letter}{EXAMPLE_ROW}"]
                assert cell.number_format == expected[column.kind], (sheet.key, column.key)


@LANGUAGES
def test_number_formats_codes_stay_text(books: dict[str, Workbook], language: str) -> None:
    book = books[language]
    profiles = book[SHEETS[0].title(language)]
    assert profiles["A2"].value == "000000000001"
    assert profiles["A2"].data_type == "s"
    assert profiles["A2"].number_format == "@"
    partners = book[SHEETS[1].title(language)]
    assert partners["A2"].value == "91330105EXAMPLE00X"
    assert partners["E2"].value == "0571-88880000"
    assert partners.column_dimensions["E"].number_format == "@"


@LANGUAGES
def test_validation_counts_and_years(books: dict[str, Workbook], language: str) -> None:
    for sheet in SHEETS:
        ws = books[language][sheet.title(language)]
        for letter, column in _columns(sheet):
            found = _validations(ws, letter)
            if column.kind is Kind.COUNT:
                (validation,) = found
                assert (validation.type, validation.operator) == ("whole", "greaterThanOrEqual")
                assert validation.formula1 == "0"
            elif column.kind is Kind.YEAR:
                (validation,) = found
                assert (validation.type, validation.operator) == ("whole", "between")
                assert (validation.formula1, validation.formula2) == ("2000", "2100")
            elif column.kind is not Kind.CHOICE:
                assert not found, (sheet.key, column.key)
                continue
            assert validation.showErrorMessage
            assert validation.error
            assert len(validation.error) <= 255
            assert len(validation.errorTitle) <= 32


@LANGUAGES
def test_instructions_content(books: dict[str, Workbook], language: str) -> None:
    ws = books[language].worksheets[0]
    assert ws.title == ("说明" if language == "zh_CN" else "Instructions")
    assert ws.column_dimensions["A"].width >= 80
    texts = [row[0].value for row in ws.iter_rows(max_col=1) if row[0].value]
    assert all(row[0].alignment.wrap_text for row in ws.iter_rows(max_col=1))
    assert ws.max_column == 1
    text = "\n".join(texts)
    with use_language(language):
        for sheet in SHEETS:
            assert sheet.title(language) in text
            assert _(sheet.description) in text
    for sample in ("2,000,000.00", "¥2,000,000", "200万", "0.02亿", "2023/3/1", "2023年3月1日"):
        assert sample in text
    assert "330105000000" in text
    assert not any(t.startswith(("=", "+", "-", "@")) for t in texts)


def test_write_template_to_path(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path, language="en")
    book = load_workbook(path)
    assert book.sheetnames[0] == "Instructions"
    assert book["Projects"]["A1"].value == "Project code"


def test_write_template_unknown_language_chinese() -> None:
    assert _load("fr").sheetnames == _load("zh_CN").sheetnames
    assert template_headers("fr") == template_headers("zh_CN")
