"""Codes of projects and allocations name web pages: the one rule holds for imports and the CLI."""

from __future__ import annotations

import pytest

from tests import workbooks
from tests.conftest import snapshot
from tests.workbooks import project, rejected_problems, table, write_workbook

database_url = workbooks.database_url


@pytest.mark.parametrize("code", ["A/1", "new", "NEW"])
def test_import_refuses_a_project_code_no_page_could_show(cli, database_url, tmp_path, code):
    # Every project has a page at /projects/CODE: a slash, or the word of the "new" page, would
    # leave the project out of reach of the web.
    path = write_workbook(tmp_path / "c.xlsx", {"共建项目": table("projects", [project(code)])})
    before = snapshot(database_url)
    problems = rejected_problems(cli, path)
    assert len(problems) == 1 and problems[0].startswith("共建项目:2 [A2 项目编号]")
    assert snapshot(database_url) == before


def test_cli_refuses_an_allocation_code_with_a_slash(cli, database_url):
    before = snapshot(database_url)
    result = cli("allocations", "add", "330105", "2023", "1000", "--code", "GS/2023-X")
    assert result.exit_code == 1
    assert "is not a code" in result.output + result.stderr
    assert snapshot(database_url) == before
