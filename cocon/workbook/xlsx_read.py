"""Read the sheets of a checked .xlsx workbook with python-calamine, one sheet at a time.

calamine reads a sheet whole; the safety scan has already bounded what that can cost (rows,
columns, unpacked bytes), found the formula cells, whose cached values calamine would give as
if typed, and the error cells, which calamine gives as empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from cocon.errors import Invalid
from cocon.i18n import _
from cocon.workbook.safety import check_sheet, unreadable
from cocon.workbook.xlsx_scan import SheetScan, column_number

_EMPTY = ""


class CheckedWorkbook:
    """A workbook that passed the safety scan, its sheets read when asked for."""

    def __init__(self, copy: IO[bytes], shown: str, scans: dict[str, SheetScan]) -> None:
        from python_calamine import CalamineWorkbook

        self.shown = shown
        self.scans = scans
        copy.seek(0)
        try:
            self.book = CalamineWorkbook.from_filelike(copy)
            self.sheet_names: list[str] = list(self.book.sheet_names)
        except Exception as exc:
            # A hostile or broken part can fail in any way: each means no usable workbook.
            raise unreadable(shown) from exc

    def rows(self, title: str) -> SheetRows:
        """Read one sheet and return its rows, to be iterated once, in order."""
        scan = self.scans.get(title)
        damaged = Invalid(_("sheet {sheet} is damaged and cannot be read").format(sheet=title))
        if scan is None:  # a sheet the scan did not find where the workbook says it is
            raise damaged
        check_sheet(self.shown, title, scan)
        try:
            sheet = self.book.get_sheet_by_name(title)
        except Exception as exc:
            raise damaged from exc
        return SheetRows(sheet, scan)


class SheetRows:
    """Iterate a sheet's rows that hold anything: (row number, values from column A).

    Empty cells are "", as calamine gives them; an error cell holds its text (#N/A).
    """

    def __init__(self, sheet: object, scan: SheetScan | None) -> None:
        self.sheet = sheet
        self.height: int = sheet.height
        self.errors = by_line(scan.errors) if scan else {}
        self.kept = set(by_line(scan.formulas)) if scan else set()
        self._iterator = self._rows()

    def __iter__(self) -> Iterator[tuple[int, list]]:
        return self

    def __next__(self) -> tuple[int, list]:
        return next(self._iterator)

    def _rows(self) -> Iterator[tuple[int, list]]:
        start = self.sheet.start
        # calamine's rows begin at row 1 but at the sheet's first filled column.
        pad = [_EMPTY] * (start[1] if start else 0)
        errors, kept = self.errors, self.kept
        number = 0
        for number, values in enumerate(self.sheet.iter_rows(), start=1):
            if pad:
                values = pad + values
            if number in errors:
                for column, text in errors[number].items():
                    values.extend([_EMPTY] * (column - len(values)))
                    values[column - 1] = text
            elif values.count(_EMPTY) == len(values) and number not in kept:
                continue
            yield number, values
        # Rows that hold only formulas with no stored result lie beyond what calamine gives.
        for line in sorted(line for line in kept if line > number):
            yield line, []


def by_line(cells: dict[str, str]) -> dict[int, dict[int, str]]:
    """Index texts by cell reference (B7) by row, then column."""
    result: dict[int, dict[int, str]] = {}
    for reference, text in cells.items():
        letters = reference.rstrip("0123456789")
        result.setdefault(int(reference[len(letters) :]), {})[column_number(letters)] = text
    return result
