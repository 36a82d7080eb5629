"""The import template: an instructions sheet, then one sheet per schema sheet, ready to fill in.

Layout of each data sheet:

- Row 1 holds the headers exactly as the schema names them in the chosen language, so the
  importer finds them again with ``column_for_header``. Required columns are *not* marked by
  changing the text (``"项目编号 *"`` would no longer match the schema); they are marked by a
  different header fill (``REQUIRED_FILL``, orange, with dark red text) against the optional
  columns' ``OPTIONAL_FILL`` (blue). The instructions sheet shows both colors as a legend.
- Row 2 is the example row (``EXAMPLE_ROW``) in grey italic; ``example_value`` gives what is
  written there, so the importer can tell an example row left unchanged.
- Rows 2..``LAST_ROW`` carry the data validations: dropdowns for choice columns, a whole number
  ≥ 0 for counts, 2000–2100 for years. Number formats are set on whole columns, so cells typed
  into later rows take them too: codes and orgs as text (``@``), amounts ``#,##0.00`` (yuan;
  the header already says 元), dates ``yyyy-mm-dd``, counts and years ``0``.
- A dropdown list fits inline when its labels joined by commas take at most
  ``INLINE_LIST_LIMIT`` characters (Excel's limit) and no label holds a comma or a quote;
  otherwise the labels go to the hidden sheet ``LISTS_SHEET`` and the validation refers to them.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import IO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from cocon.i18n import DEFAULT_LANGUAGE, _, use_language
from cocon.labels import choices, label
from cocon.settings import LANGUAGES
from cocon.workbook.schema import (
    INSTRUCTIONS_TITLES,
    LISTS_SHEET,
    SHEETS,
    Column,
    Kind,
    Sheet,
)

__all__ = [
    "EXAMPLE_ROW",
    "HEADER_ROW",
    "INSTRUCTIONS_TITLES",
    "LAST_ROW",
    "LISTS_SHEET",
    "choice_labels",
    "column_width",
    "display_width",
    "example_value",
    "instructions_title",
    "template_headers",
    "write_template",
]

HEADER_ROW = 1
EXAMPLE_ROW = 2
LAST_ROW = 5000
INLINE_LIST_LIMIT = 255

NUMBER_FORMATS: dict[Kind, str] = {
    Kind.CODE: "@",
    Kind.ORG: "@",
    Kind.AMOUNT: "#,##0.00",
    Kind.DATE: "yyyy-mm-dd",
    Kind.COUNT: "0",
    Kind.YEAR: "0",
    Kind.VERSION: "0",
}
YEAR_RANGE = (2000, 2100)

REQUIRED_FILL = PatternFill("solid", fgColor="F8CBAD")
OPTIONAL_FILL = PatternFill("solid", fgColor="DDEBF7")
REQUIRED_FONT = Font(bold=True, color="9C0006")
OPTIONAL_FONT = Font(bold=True)
HEADER_ALIGNMENT = Alignment(wrap_text=True, vertical="center")
EXAMPLE_FONT = Font(italic=True, color="808080")
INSTRUCTIONS_WIDTH = 110
# Excel caps a validation's error title at 32 characters and its message at 255.
_ERROR_TITLE_LIMIT = 32
_ERROR_LIMIT = 255


def write_template(
    path_or_stream: str | os.PathLike[str] | IO[bytes], *, language: str = DEFAULT_LANGUAGE
) -> None:
    """Write the import workbook in language (zh_CN or en) to a path or binary stream."""
    language = _language(language)
    with use_language(language):
        workbook = Workbook()
        workbook.properties.creator = "cocon"
        instructions = workbook.active
        assert instructions is not None
        _write_instructions(instructions, language)
        lists = _ListSheet(workbook)
        for sheet in SHEETS:
            _write_data_sheet(workbook.create_sheet(sheet.title(language)), sheet, language, lists)
        lists.move_last()
        workbook.save(path_or_stream)


def template_headers(language: str = DEFAULT_LANGUAGE) -> dict[str, list[str]]:
    """Return the header row of every data sheet, keyed by the sheet's tab name in language."""
    language = _language(language)
    return {
        sheet.title(language): [column.header(language) for column in sheet.columns]
        for sheet in SHEETS
    }


def instructions_title(language: str = DEFAULT_LANGUAGE) -> str:
    """Return the name of the instructions tab in language."""
    return INSTRUCTIONS_TITLES[_language(language)]


def example_value(column: Column, language: str = DEFAULT_LANGUAGE) -> object:
    """Return what the template writes in the example row for column (None for a blank cell).

    Choices are shown by their label in language, dates as dates; openpyxl reads a date back as
    a datetime at midnight.
    """
    value = column.example
    if value is None or value == "":
        return None
    if column.kind is Kind.CHOICE and column.choices is not None:
        with use_language(_language(language)):
            return label(column.choices, str(value))
    if column.kind is Kind.DATE and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def choice_labels(column: Column, language: str = DEFAULT_LANGUAGE) -> list[str]:
    """Return the labels a choice column's dropdown offers in language."""
    if column.choices is None:
        return []
    with use_language(_language(language)):
        return [name for _value, name in choices(column.choices)]


def display_width(text: str) -> int:
    """Return how many columns text takes in Excel, counting CJK and full-width characters as 2."""
    return sum(2 if _is_wide(char) else 1 for char in text)


def column_width(column: Column, language: str = DEFAULT_LANGUAGE) -> int:
    """Return the width of column: the schema's, widened to fit its header with some margin."""
    return max(column.width, display_width(column.header(_language(language))) + 2)


def _language(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _is_wide(char: str) -> bool:
    code = ord(char)
    return (
        0x1100 <= code <= 0x115F
        or 0x2E80 <= code <= 0xA4CF
        or 0xAC00 <= code <= 0xD7A3
        or 0xF900 <= code <= 0xFAFF
        or 0xFE30 <= code <= 0xFE4F
        or 0xFF00 <= code <= 0xFF60
        or 0xFFE0 <= code <= 0xFFE6
        or 0x20000 <= code <= 0x3FFFD
    )


def _write_instructions(ws: Worksheet, language: str) -> None:
    ws.title = INSTRUCTIONS_TITLES[language]
    ws.column_dimensions["A"].width = INSTRUCTIONS_WIDTH
    wrap = Alignment(wrap_text=True, vertical="top")
    rows: list[tuple[str, Font | None, PatternFill | None]] = []

    def add(text: str = "", font: Font | None = None, fill: PatternFill | None = None) -> None:
        rows.append((text, font, fill))

    heading = Font(bold=True, size=12)
    add(_("Co-construction projects and funding: import workbook"), Font(bold=True, size=14))
    add(
        _(
            "Fill in this workbook to import community profiles, partner units, co-construction "
            "projects, partner contributions, allocations, funding lines and payments in one go. "
            "Each sheet after this one holds one kind of record, one record per row. Fill in only "
            "the sheets you need. Keep the sheet names and the header row as they are: they are "
            "recognised in Chinese or English."
        )
    )
    add()
    add(_("The sheets"), heading)
    add(
        _(
            "The sheets are in dependency order: a row may refer to what an earlier sheet "
            "creates, e.g. a funding line names a project and an allocation."
        )
    )
    for sheet in SHEETS:
        add(_sheet_paragraph(sheet, language))
    add()
    add(_("Columns"), heading)
    add(_("A header in this color marks a required column."), REQUIRED_FONT, REQUIRED_FILL)
    add(_("A header in this color marks an optional column."), OPTIONAL_FONT, OPTIONAL_FILL)
    add(_("Columns with a fixed set of values offer a dropdown list; pick a value from it."))
    add()
    add(_("How to write values"), heading)
    rules = (
        _(
            "Amounts in yuan, written as you like: 2000000, 2,000,000.00, ¥2,000,000, 200万 "
            "or 0.02亿; at most two decimals of yuan."
        ),
        _("Dates: 2023-03-01, 2023/3/1, 2023年3月1日, or a date entered in Excel."),
        _(
            "Orgs (owner, site community, org of an allocation): the statistical division code "
            "in any form, e.g. 330105 or 330105000000, or the org's name if it is unique."
        ),
        _(
            "Codes (project, allocation, voucher, unified social credit code) are text: the "
            "code columns are formatted as text so that long codes keep all their digits."
        ),
        _("Counts are whole numbers of 0 or more; years lie between {low} and {high}.").format(
            low=YEAR_RANGE[0], high=YEAR_RANGE[1]
        ),
    )
    for rule in rules:
        add("• " + rule)
    add()
    add(_("Importing"), heading)
    steps = (
        _(
            "The second row of each sheet (grey italic) is an example; its codes (EXAMPLE-…, "
            "community 000000000001) can be no real record's. Left unchanged it is skipped on "
            "import; changed, it is refused: delete it, or write a real record over it, codes "
            "included."
        ),
        _(
            "The import is all or nothing: if any row has an error nothing is imported, and "
            "each error names the sheet, the row and the column so that you can correct it "
            "and import the workbook again."
        ),
        _(
            "The Version column says which version of each record an export was made from; "
            "leave it blank in rows you write yourself. If someone changed a record after "
            "your export, its row is refused: export again and make your changes there."
        ),
    )
    for step in steps:
        add("• " + step)

    for row, (text, font, fill) in enumerate(rows, start=1):
        cell = ws.cell(row=row, column=1, value=text or None)
        cell.alignment = wrap
        if font is not None:
            cell.font = font
        if fill is not None:
            cell.fill = fill


def _sheet_paragraph(sheet: Sheet, language: str) -> str:
    paragraph = _("{sheet}: {description}").format(
        sheet=sheet.title(language), description=_(sheet.description)
    )
    names = [column.header(language) for column in sheet.columns if column.required]
    if names:
        separator = "、" if language == "zh_CN" else ", "
        paragraph += " " + _("Required columns: {columns}.").format(columns=separator.join(names))
    return paragraph


def _write_data_sheet(ws: Worksheet, sheet: Sheet, language: str, lists: _ListSheet) -> None:
    ws.freeze_panes = f"A{EXAMPLE_ROW}"
    for index, column in enumerate(sheet.columns, start=1):
        letter = get_column_letter(index)
        dimension = ws.column_dimensions[letter]
        dimension.width = column_width(column, language)
        number_format = NUMBER_FORMATS.get(column.kind)
        if number_format is not None:
            dimension.number_format = number_format

        header = ws.cell(row=HEADER_ROW, column=index, value=column.header(language))
        header.font = REQUIRED_FONT if column.required else OPTIONAL_FONT
        header.fill = REQUIRED_FILL if column.required else OPTIONAL_FILL
        header.alignment = HEADER_ALIGNMENT

        example = ws.cell(row=EXAMPLE_ROW, column=index, value=example_value(column, language))
        example.font = EXAMPLE_FONT
        if number_format is not None:
            example.number_format = number_format

        validation = _validation(column, language, lists)
        if validation is not None:
            validation.add(f"{letter}{EXAMPLE_ROW}:{letter}{LAST_ROW}")
            ws.add_data_validation(validation)


def _validation(column: Column, language: str, lists: _ListSheet) -> DataValidation | None:
    header = column.header(language)
    if column.kind is Kind.CHOICE:
        labels = choice_labels(column, language)
        joined = ", ".join(labels)
        message = _("Choose one of: {choices}").format(choices=joined)
        if len(message) > _ERROR_LIMIT:
            message = _("Choose a value from the dropdown list.")
        return _make_validation(
            "list",
            formula1=_list_formula(column, labels, lists),
            title=_("Not one of the choices"),
            error=message,
        )
    if column.kind is Kind.COUNT:
        return _make_validation(
            "whole",
            operator="greaterThanOrEqual",
            formula1="0",
            title=_("Not a count"),
            error=_("{column}: write a whole number of 0 or more.").format(column=header),
        )
    if column.kind is Kind.YEAR:
        low, high = YEAR_RANGE
        return _make_validation(
            "whole",
            operator="between",
            formula1=str(low),
            formula2=str(high),
            title=_("Not a year"),
            error=_("{column}: write a year from {low} to {high}, e.g. 2023.").format(
                column=header, low=low, high=high
            ),
        )
    return None


def _make_validation(
    kind: str,
    *,
    formula1: str,
    title: str,
    error: str,
    operator: str | None = None,
    formula2: str | None = None,
) -> DataValidation:
    return DataValidation(
        type=kind,
        operator=operator,
        formula1=formula1,
        formula2=formula2,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle=title[:_ERROR_TITLE_LIMIT],
        error=error[:_ERROR_LIMIT],
    )


def _list_formula(column: Column, labels: list[str], lists: _ListSheet) -> str:
    inline = ",".join(labels)
    fits = len(inline) <= INLINE_LIST_LIMIT and not any('"' in x or "," in x for x in labels)
    if fits:
        return f'"{inline}"'
    assert column.choices is not None
    return lists.reference(column.choices.__name__, labels)


class _ListSheet:
    """The hidden sheet that holds dropdown lists too long for an inline list, made on demand."""

    def __init__(self, workbook: Workbook) -> None:
        self._workbook = workbook
        self._sheet: Worksheet | None = None
        self._ranges: dict[str, str] = {}

    def reference(self, name: str, labels: list[str]) -> str:
        """Return an absolute reference to the list called name, writing it on first use."""
        if name not in self._ranges:
            if self._sheet is None:
                self._sheet = self._workbook.create_sheet(LISTS_SHEET)
                self._sheet.sheet_state = "hidden"
            index = len(self._ranges) + 1
            letter = get_column_letter(index)
            self._sheet.cell(row=1, column=index, value=name)
            for row, text in enumerate(labels, start=2):
                self._sheet.cell(row=row, column=index, value=text)
            self._ranges[name] = (
                f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(labels) + 1}"
            )
        return self._ranges[name]

    def move_last(self) -> None:
        """Put the list sheet, if any, after the data sheets."""
        if self._sheet is not None:
            sheets = self._workbook.worksheets
            self._workbook.move_sheet(self._sheet, len(sheets) - 1 - sheets.index(self._sheet))
