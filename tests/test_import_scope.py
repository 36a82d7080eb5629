"""The import engine's scope: with one, no row may reach outside that org's subtree.

The web imports inside the request's scope; the CLI passes none (the whole tree). A row that
names an org, project or allocation outside the scope is refused on that cell, and nothing is
written. Partners belong to no org, so any scope may add or change them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cocon import db
from cocon.checks import Policies
from cocon.errors import SourceProblem
from cocon.orgs import get_org
from cocon.workbook.importer import ImportReport, WorkbookRejected, dry_run, import_source
from tests import workbooks
from tests.conftest import snapshot
from tests.workbooks import NEW_PARTNER, every_sheet, partner, project, table, write_workbook

# Each test gets a fresh copy of a database holding the demo, on both backends.
database_url = workbooks.database_url

WENHUI, SHANGTANG, GONGSHU = "330105017", "330105008", "330105"


def run(url: str, path: Path, scope_code: str | None) -> ImportReport:
    """Import path within the org scope_code (None: the whole tree); commit if it passes."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            scope = get_org(session, scope_code) if scope_code else None
            return import_source(session, path, Policies({}), scope=scope)
    finally:
        engine.dispose()


def refused(url: str, path: Path, scope_code: str) -> list[SourceProblem]:
    """Import path within scope_code, expect it refused with nothing written; return the problems."""
    before = snapshot(url)
    with pytest.raises(WorkbookRejected) as caught:
        run(url, path, scope_code)
    assert snapshot(url) == before
    return caught.value.problems


def only(problems: list[SourceProblem]) -> SourceProblem:
    assert len(problems) == 1, problems
    return problems[0]


def test_project_owned_in_scope_imports(database_url, tmp_path):
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", [project("T-1")])})
    report = run(database_url, path, WENHUI)
    assert report.sheets[0].created == 1


def test_project_owner_outside_scope_refused_on_its_cell(database_url, tmp_path):
    rows = [project("T-1"), project("T-2", owner=SHANGTANG, site="330105008052")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", rows)})
    problems = refused(database_url, path, WENHUI)
    assert [(p.source, p.line, p.cell) for p in problems] == [
        ("共建项目", 3, "C3"),
        ("共建项目", 3, "D3"),
    ]
    assert problems[0].column == "C3 牵头单位"
    assert problems[0].message == (
        "There is no org 330105008 in the part of the tree you work in"
    )  # nothing of the org outside is named


def test_project_site_outside_scope_refused(database_url, tmp_path):
    rows = [project("T-1", site="330105008052")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", rows)})
    problem = only(refused(database_url, path, WENHUI))
    assert problem.cell == "D2" and "There is no org 330105008052 in" in problem.message


def test_existing_project_owned_outside_scope_cannot_be_taken_over(database_url, tmp_path):
    # GS-2023-007 belongs to the district: a street may not rewrite it, not even as its own.
    rows = [project("GS-2023-007", name="瓜山社区未来邻里中心改造")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", rows)})
    problem = only(refused(database_url, path, WENHUI))
    assert problem.cell == "A2"
    assert problem.message == "This code cannot be used; choose another"


def test_profile_of_a_community_outside_scope_refused(database_url, tmp_path):
    rows = [{"code": "330105008052", "households": 100}]
    path = write_workbook(tmp_path / "p.xlsx", {"社区档案": table("profiles", rows)})
    problem = only(refused(database_url, path, WENHUI))
    assert problem.source == "社区档案" and problem.cell == "A2"
    assert problem.message.startswith("There is no org 330105008052 in the part of the tree")


def allocation(code: str, **changes: object) -> dict[str, object]:
    return {"code": code, "org": WENHUI, "year": 2023, "amount": "1万", **changes}


@pytest.mark.parametrize(
    ("row", "cell", "start"),
    [
        (allocation("T-A", org=SHANGTANG), "B2", "There is no org 330105008 in"),
        (allocation("T-A", org="330105017003", parent="GS-2023"), "E2", "There is no allocation GS-2023 in"),
        (allocation("GS-2023-ST"), "A2", "This code cannot be used; choose another"),
    ],
    ids=["org", "parent", "existing-code"],
)
def test_allocation_outside_scope_refused(database_url, tmp_path, row, cell, start):
    keys = ["code", "org", "year", "amount", "parent"]
    path = write_workbook(
        tmp_path / "a.xlsx", {"专项资金": table("allocations", [row], columns=keys)}
    )
    problem = only(refused(database_url, path, WENHUI))
    assert problem.cell == cell and problem.message.startswith(start), problem


def test_sub_allocation_of_a_parent_in_scope_imports(database_url, tmp_path):
    rows = [
        allocation("T-C", org="330105017003", parent="T-P", amount="1000"),
        allocation("T-P", parent=None),
    ]
    path = write_workbook(tmp_path / "a.xlsx", {"专项资金": table("allocations", rows)})
    assert run(database_url, path, WENHUI).sheets[0].created == 2


@pytest.mark.parametrize(
    ("row", "cell", "start"),
    [
        ({"project": "GS-2023-001", "allocation": "HZ-2023", "amount": "1万"}, "B2", "There is no allocation HZ-2023 in"),
        ({"project": "GS-2023-009", "allocation": "WH-2023-OWN", "amount": "1万"}, "A2", "There is no project GS-2023-009 in"),
    ],
    ids=["allocation", "project"],
)  # fmt: skip
def test_funding_line_outside_scope_refused(database_url, tmp_path, row, cell, start):
    path = write_workbook(tmp_path / "f.xlsx", {"资金安排": table("funding", [row])})
    problem = only(refused(database_url, path, WENHUI))
    assert problem.cell == cell and problem.message.startswith(start), problem


def test_payment_on_a_line_outside_scope_refused(database_url, tmp_path):
    row = {
        "voucher_no": "T-V-9",
        "project": "GS-2023-001",
        "allocation": "ZJ-2023",
        "paid_on": "2023-06-01",
        "amount": 100,
    }
    path = write_workbook(tmp_path / "p.xlsx", {"拨付": table("payments", [row])})
    problem = only(refused(database_url, path, GONGSHU))
    assert problem.message.startswith("There is no allocation ZJ-2023 in the part of the tree")
    assert "拱墅区" not in problem.message


def test_contribution_to_a_project_outside_scope_refused(database_url, tmp_path):
    row = {"project": "GS-2023-009", "partner": "91330105MA2GL3K724", "kind": "现金", "amount": 1}
    path = write_workbook(tmp_path / "c.xlsx", {"共建单位出资": table("contributions", [row])})
    problem = only(refused(database_url, path, WENHUI))
    assert problem.cell == "A2" and "GS-2023-009" in problem.message


def test_partners_belong_to_no_org_and_import_in_any_scope(database_url, tmp_path):
    rows = [partner(NEW_PARTNER, name="杭州测试共建有限公司"), partner(name="改名")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建单位": table("partners", rows)})
    result = run(database_url, path, "330105017003").sheets[0]
    assert (result.created, result.updated) == (1, 1)


def test_every_sheet_imports_within_the_street_and_the_district(database_url, tmp_path):
    sheets = every_sheet()
    sheets.pop("社区档案")  # 米市社区 lies in another street
    path = write_workbook(tmp_path / "all.xlsx", sheets)
    dry = dry_run_report(database_url, path, WENHUI)
    assert not dry.all_problems and sum(s.created for s in dry.sheets) == 7
    report = run(database_url, path, GONGSHU)
    assert sum(s.created for s in report.sheets) == 7


def test_every_sheet_with_a_profile_elsewhere_refused_in_the_street(database_url, tmp_path):
    path = write_workbook(tmp_path / "all.xlsx", every_sheet())
    problem = only(refused(database_url, path, WENHUI))
    assert problem.source == "社区档案" and "330105001052" in problem.message
    assert "米市社区" not in problem.message  # nothing outside is named


def test_without_scope_the_whole_tree_is_open(database_url, tmp_path):
    rows = [project("T-1", owner=SHANGTANG, site="330105008052")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", rows)})
    assert run(database_url, path, None).sheets[0].created == 1


def dry_run_report(url: str, path: Path, scope_code: str) -> ImportReport:
    """Run the web's preview: the report of an import that is rolled back."""
    before = snapshot(url)
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            report = dry_run(session, path, Policies({}), scope=get_org(session, scope_code))
    finally:
        engine.dispose()
    assert snapshot(url) == before
    return report


def test_dry_run_reports_problems_and_writes_nothing(database_url, tmp_path):
    rows = [project("T-1"), project("T-2", owner=SHANGTANG, site="330105008052")]
    path = write_workbook(tmp_path / "p.xlsx", {"共建项目": table("projects", rows)})
    report = dry_run_report(database_url, path, WENHUI)
    assert len(report.all_problems) == 2 and report.sheets[0].created == 1
