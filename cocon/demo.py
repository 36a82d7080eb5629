"""The Gongshu demo: the real division slice and the profiles of its large community units."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from cocon.checks import DEFAULT, Policies
from cocon.demo_money import Counts, load_demo_money
from cocon.divisions import DivisionSummary, import_divisions
from cocon.profiles import ProfileCounts, import_profiles_csv

DEMO_ROOT = "330105"


def default_imports_dir() -> Path:
    """Return the imports/ folder of the source checkout."""
    return Path(__file__).resolve().parent.parent / "imports"


@dataclass
class DemoSummary:
    """What loading the demo did."""

    divisions: DivisionSummary
    profiles: ProfileCounts
    money: dict[str, Counts]


def load_demo(
    session: Session, imports_dir: Path | None = None, policies: Policies = DEFAULT
) -> DemoSummary:
    """Load the Gongshu demo data; loading it again changes nothing."""
    folder = imports_dir or default_imports_dir()
    divisions = import_divisions(session, folder / "divisions")
    profiles = ProfileCounts()
    for path in sorted(folder.glob("gongshu-profiles*.csv")):
        counts = import_profiles_csv(session, path)
        profiles.created += counts.created
        profiles.updated += counts.updated
        profiles.unchanged += counts.unchanged
    money = load_demo_money(session, folder / "demo", policies)
    return DemoSummary(divisions, profiles, money)
