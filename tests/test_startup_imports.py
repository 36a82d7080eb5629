"""Short commands start without the heavy libraries they do not use (timings: benchmarks/startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = frozenset(
    {
        "alembic",
        "litestar",
        "numpy",
        "openpyxl",
        "python_calamine",
        "sqlalchemy",
        "sqlmodel",
        "xlsxwriter",
    }
)
# Every command that reads the database needs the ORM; none that only reads needs these.
NOT_FOR_READING = HEAVY - {"sqlalchemy", "sqlmodel"}


def modules_after(code: str, database_url: str = "sqlite://") -> set[str]:
    """Run code in a fresh interpreter; return the names of the modules it imported."""
    code += "\nimport sys\nprint(' '.join(sys.modules))\n"
    env = {**os.environ, "COCON_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return set(done.stdout.splitlines()[-1].split())  # what the code printed comes first


def libraries_loaded(args: list[str], database_url: str = "sqlite://") -> set[str]:
    """Run `cocon ARGS` in a fresh interpreter; return the heavy libraries it imported."""
    code = f"from cocon.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
    return {name.split(".")[0] for name in modules_after(code, database_url)} & HEAVY


def test_help_imports_no_heavy_library():
    assert libraries_loaded(["--help"]) == set()


def test_help_of_every_command_imports_no_heavy_library():
    for command in (["check"], ["import"], ["serve"], ["users", "add"], ["orgs", "tree"]):
        assert libraries_loaded([*command, "--help"]) == set(), command


def test_check_on_a_current_database_imports_no_migrations_numpy_or_excel(database_url):
    # The schema is current (the fixture migrated it): no need to load Alembic to find that out.
    loaded = libraries_loaded(["check"], database_url)
    assert {"sqlalchemy", "sqlmodel"} <= loaded
    assert loaded & NOT_FOR_READING == set()


def test_web_scope_does_not_load_the_workbook_importer():
    loaded = modules_after("import cocon.web.scope")
    assert "cocon.workbook.importer" not in loaded and "openpyxl" not in loaded


def test_findings_do_not_load_allocations():
    # allocations asks findings for a project's warnings; findings reads the rows themselves.
    assert "cocon.allocations" not in modules_after("import cocon.findings")
