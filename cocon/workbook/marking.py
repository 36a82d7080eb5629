"""Write a copy of a rejected workbook with each bad cell highlighted and explained."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill

from cocon.errors import SourceProblem
from cocon.i18n import _

BAD_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")


def mark_errors(source: Path, target: Path, problems: list[SourceProblem]) -> int:
    """Copy source to target, filling each problem's cell red with the problem as a comment."""
    # The source passed the safety checks when it was imported; open it fully to keep styles.
    # Bytes rather than the path: openpyxl refuses paths by suffix, the safety checks do not.
    workbook = load_workbook(BytesIO(Path(source).read_bytes()))
    notes: dict[tuple[str, str], list[str]] = {}
    for problem in problems:
        if problem.source not in workbook.sheetnames:
            continue
        cell = problem.cell or (f"A{problem.line}" if problem.line else "A1")
        notes.setdefault((problem.source, cell), []).append(problem.message)
    for (sheet, cell), messages in notes.items():
        target_cell = workbook[sheet][cell]
        target_cell.fill = BAD_FILL
        target_cell.comment = Comment("\n".join(messages), _("cocon import"), width=300, height=120)
    workbook.save(target)
    return len(notes)
