"""The Gongshu demo: the real division slice, and profiles, partners, projects and money."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from cocon.checks import DEFAULT, Policies
from cocon.divisions import DivisionSummary, import_divisions
from cocon.rights import Role

# The importer sits above the core: only loading the demo needs it.
if TYPE_CHECKING:
    from cocon.workbook.importer import ImportReport

DEMO_ROOT = "330105"
# Where the demo's users sign in: the district, a street and a community below it.
DEMO_USER_ORGS = (("gongshu", "330105"), ("wenhui", "330105017"), ("shengli", "330105017003"))
DEMO_PASSWORD = "cocon-demo-2023"


def default_imports_dir() -> Path:
    """Return the imports/ folder of the source checkout."""
    return Path(__file__).resolve().parent.parent / "imports"


@dataclass
class DemoSummary:
    """What loading the demo did."""

    divisions: DivisionSummary
    data: ImportReport
    users: list[tuple[str, str, str]]  # (username, role, org code), made now or before


def demo_usernames() -> list[tuple[str, Role, str]]:
    """Return the demo's accounts: one per role at each of the demo's three orgs."""
    return [
        (f"{place}-{role.value}", role, code) for place, code in DEMO_USER_ORGS for role in Role
    ]


def load_demo_users(session: Session) -> list[tuple[str, str, str]]:
    """Add the demo accounts that are missing (all with DEMO_PASSWORD); keep the others as they are."""
    from cocon.orgs import get_org
    from cocon.users import User, find_user, hash_password, now_utc

    hashed = None
    made = []
    for username, role, code in demo_usernames():
        made.append((username, role.value, code))
        if find_user(session, username) is not None:
            continue
        hashed = hashed or hash_password(DEMO_PASSWORD)  # one hash: the same password for all
        org = get_org(session, code)
        session.add(
            User(
                username=username,
                display_name=username,
                role=role.value,
                org_id=org.id,
                password_hash=hashed,
                created_at=now_utc(),
            )
        )
    session.flush()
    return made


def load_demo(
    session: Session, imports_dir: Path | None = None, policies: Policies = DEFAULT
) -> DemoSummary:
    """Load the Gongshu demo through the importer; loading it again changes nothing."""
    from cocon.workbook.importer import import_source

    folder = imports_dir or default_imports_dir()
    divisions = import_divisions(session, folder / "divisions")
    data = import_source(session, folder / "demo", policies)
    return DemoSummary(divisions, data, load_demo_users(session))
