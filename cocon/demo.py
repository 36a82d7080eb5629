"""The Gongshu demo: the real division slice, and profiles, partners, projects and money."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from cocon.checks import DEFAULT, Policies
from cocon.divisions import DivisionSummary, import_divisions
from cocon.workbook.importer import ImportReport, import_source

DEMO_ROOT = "330105"


def default_imports_dir() -> Path:
    """Return the imports/ folder of the source checkout."""
    return Path(__file__).resolve().parent.parent / "imports"


@dataclass
class DemoSummary:
    """What loading the demo did."""

    divisions: DivisionSummary
    data: ImportReport


def load_demo(
    session: Session, imports_dir: Path | None = None, policies: Policies = DEFAULT
) -> DemoSummary:
    """Load the Gongshu demo through the importer; loading it again changes nothing."""
    folder = imports_dir or default_imports_dir()
    divisions = import_divisions(session, folder / "divisions")
    return DemoSummary(divisions, import_source(session, folder / "demo", policies))
