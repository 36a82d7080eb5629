"""Recalculate the formulas of a saved workbook with the `formulas` package (not a test module).

The exporter stores its own result with every formula (the cached value a viewer that does not
recalculate shows), so a test that wants to know what Excel will show must compute it
independently. `formulas` parses and evaluates a workbook; it lacks SUBTOTAL,
so SUBTOTAL(9, …) and SUBTOTAL(109, …) (sums, the only kind cocon writes) are added here as SUM.
Results come back as exact Decimals of yuan, rounded to the fen after checking that the double
Excel arithmetic produced lies within a hair of it. ``cached_values`` reads the stored results.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import formulas
import numpy as np
import openpyxl

FEN = Decimal("0.01")
_CELL = re.compile(r"^'\[(?P<book>[^\]]+)\](?P<sheet>.+)'!(?P<cell>\$?[A-Z]+\$?[0-9]+)$")
_FUNCTIONS = formulas.get_functions()


def _subtotal(function_num, *refs):
    number = int(np.ravel(np.asarray(function_num, dtype=object))[0])
    if number not in (9, 109):
        raise ValueError(f"only SUBTOTAL(9, …) is evaluated here, not SUBTOTAL({number}, …)")
    return _FUNCTIONS["SUM"](*refs)


_FUNCTIONS.setdefault("SUBTOTAL", _subtotal)


def to_fen_decimal(value: object) -> Decimal:
    """Turn a computed number into yuan with two decimals, refusing anything off the fen grid."""
    number = float(np.ravel(np.asarray(value, dtype=object))[0])
    rounded = Decimal(repr(number)).quantize(FEN)
    assert abs(Decimal(repr(number)) - rounded) < Decimal("0.000001"), number
    return rounded


def recalculate(path: Path) -> dict[tuple[str, str], Decimal]:
    """Return the value of every formula cell, keyed by (upper-case sheet title, cell)."""
    model = formulas.ExcelModel().loads(str(path)).finish()
    solution = model.calculate()
    formula_cells = set()
    for cell_id in model.cells:
        match = _CELL.match(cell_id)
        if match is not None and getattr(model.cells[cell_id], "inputs", None) is not None:
            formula_cells.add(cell_id)
    values = {}
    for cell_id, result in solution.items():
        if cell_id not in formula_cells:
            continue
        match = _CELL.match(cell_id)
        values[(match["sheet"], match["cell"].replace("$", ""))] = to_fen_decimal(result.value)
    return values


def cached_values(path: Path) -> dict[tuple[str, str], Decimal]:
    """Return the result stored with every formula cell, keyed like ``recalculate``.

    Each is the exact Decimal of the stored double (``Decimal(repr(value))``), not rounded: a
    cached total must read back as a whole number of fen by itself.
    """
    book = openpyxl.load_workbook(path)
    stored = openpyxl.load_workbook(path, data_only=True)
    values = {}
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    value = stored[ws.title][cell.coordinate].value
                    assert isinstance(value, int | float), (ws.title, cell.coordinate, value)
                    values[(ws.title.upper(), cell.coordinate)] = Decimal(repr(value))
    return values
