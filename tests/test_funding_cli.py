"""Partners, projects, allocations, funding, payments, checks and rollups through the CLI."""

from __future__ import annotations

import json

import pytest

from cocon.creditcode import CREDIT_CODE_ALPHABET, credit_code_check_char
from tests.conftest import snapshot
from tests.orgtree import load_tree, refused

GONGSHU, XIHU = "330105", "330106"
WENHUI, MISHIXIANG = "330105017", "330105018"
SHENGLI, LIUSHUIYUAN, MISHIXIANG_C, BEISHAN = (
    "330105017003",
    "330105017004",
    "330105018001",
    "330106001001",
)
BODY = "91330105MA2B0CDE1"
GOOD_CODE = BODY + credit_code_check_char(BODY)
WARN_OVERCOMMIT = {"COCON_CHECK_ALLOCATION_OVERCOMMITTED": "warn"}


@pytest.fixture
def tree(cli, tmp_path):
    """Load the small tree: Gongshu and its sibling Xihu under Hangzhou."""
    load_tree(cli, tmp_path)
    return cli


def add_project(
    cli, owner: str, site: str, *, code: str | None = None, year: str = "2023", **options
) -> str:
    """Add a project through the CLI and return its code."""
    env = options.pop("env", None)
    args = ["projects", "add", "--name", "项目", "--owner", owner, "--site", site]
    args += ["--category", "elderly_care", "--year", year]
    if code:
        args += ["--code", code]
    for key, value in options.items():
        args += [f"--{key}", value]
    out = cli.ok(*args, env=env)
    return out.strip().splitlines()[-1].removeprefix("Added project ")


def add_allocation(cli, org: str, amount: str, code: str, *, year: str = "2023", parent=None):
    args = ["allocations", "add", org, year, amount, "--code", code]
    if parent:
        args += ["--parent", parent]
    return cli.ok(*args)


def advance(cli, code: str, *statuses: str) -> None:
    for status in statuses:
        cli.ok("projects", "status", code, status)


# --- partners ---------------------------------------------------------------------------------


def test_partner_add_valid_credit_code_works(cli):
    out = cli.ok("partners", "add", GOOD_CODE.lower(), "杭州某某科技有限公司", "--kind", "企业")
    assert f"{GOOD_CODE}  杭州某某科技有限公司  enterprise" in out
    assert GOOD_CODE in cli.ok("partners", "list")


def test_partner_add_bad_check_character_refused(cli, database_url):
    wrong = next(c for c in CREDIT_CODE_ALPHABET if c != GOOD_CODE[-1])
    before = snapshot(database_url)
    result = refused(cli, "partners", "add", BODY + wrong, "某公司")
    assert f"ends in the check character '{wrong}'" in result.stderr
    assert f"call for '{GOOD_CODE[-1]}'" in result.stderr
    assert snapshot(database_url) == before


# --- projects ---------------------------------------------------------------------------------


def test_project_add_without_code_generates_one(tree):
    assert add_project(tree, GONGSHU, SHENGLI) == "330105-2023-001"
    assert add_project(tree, GONGSHU, LIUSHUIYUAN) == "330105-2023-002"
    assert "330105-2023-002" in tree.ok("projects", "list", "--org", GONGSHU)


def test_project_add_with_code_keeps_it(tree):
    assert add_project(tree, WENHUI, SHENGLI, code="GS-2023-001") == "GS-2023-001"


def test_project_add_site_in_sibling_district_refused(tree, database_url):
    before = snapshot(database_url)
    result = refused(
        tree, "projects", "add", "--name", "x", "--owner", GONGSHU, "--site", BEISHAN,
        "--category", "elderly_care", "--year", "2023",
    )  # fmt: skip
    assert "北山社区 is not within 拱墅区" in result.stderr
    assert snapshot(database_url) == before


def test_project_add_site_not_a_community_refused(tree, database_url):
    before = snapshot(database_url)
    result = refused(
        tree, "projects", "add", "--name", "x", "--owner", GONGSHU, "--site", WENHUI,
        "--category", "elderly_care", "--year", "2023",
    )  # fmt: skip
    assert "The site must be a community" in result.stderr
    assert snapshot(database_url) == before


def test_project_status_full_lifecycle_works(tree):
    code = add_project(tree, GONGSHU, SHENGLI)
    for status, shown in [
        ("submitted", "submitted"),
        ("approved", "approved"),
        ("in_progress", "in progress"),
        ("completed", "completed"),
    ]:
        assert tree.ok("projects", "status", code, status).strip() == f"{code}: {shown}"
    assert "completed" in tree.ok("projects", "list", "--status", "completed")


def test_project_status_draft_to_completed_refused_listing_allowed(tree, database_url):
    code = add_project(tree, GONGSHU, SHENGLI)
    before = snapshot(database_url)
    result = refused(tree, "projects", "status", code, "completed")
    assert (
        "A project that is draft cannot become completed; it can become: submitted / cancelled"
        in result.stderr
    )
    assert snapshot(database_url) == before


# --- allocations and sub-allocations -----------------------------------------------------------


def test_allocation_add_and_list_works(tree):
    assert "Added allocation GS-2023" in add_allocation(tree, GONGSHU, "200万", "GS-2023")
    out = tree.ok("allocations", "list", "--org", GONGSHU)
    assert "GS-2023  拱墅区  2023  ¥2,000,000.00" in out
    assert "drawn ¥0.00, passed down ¥0.00, remaining ¥2,000,000.00" in out


def test_allocation_add_without_code_generates_one(tree):
    assert "Added allocation 330105-2023-A01" in tree.ok("allocations", "add", GONGSHU, "2023", "1")


def test_suballocation_to_descendant_works_and_list_shows_it(tree):
    add_allocation(tree, GONGSHU, "2,000,000", "GS-2023")
    add_allocation(tree, SHENGLI, "50万", "SL-2023", parent="GS-2023")
    out = tree.ok("allocations", "list", "--year", "2023")
    assert "drawn ¥0.00, passed down ¥500,000.00, remaining ¥1,500,000.00" in out
    assert "SL-2023  胜利社区  2023  ¥500,000.00" in out


def test_suballocation_to_same_org_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    before = snapshot(database_url)
    result = refused(tree, "allocations", "add", GONGSHU, "2023", "10万", "--parent", "GS-2023")
    assert "A sub-allocation goes to an org below the parent's (拱墅区)" in result.stderr
    assert snapshot(database_url) == before


def test_suballocation_to_sibling_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    before = snapshot(database_url)
    result = refused(tree, "allocations", "add", XIHU, "2023", "10万", "--parent", "GS-2023")
    assert "西湖区 is not below it" in result.stderr
    assert snapshot(database_url) == before


def test_suballocation_to_ancestor_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    before = snapshot(database_url)
    result = refused(tree, "allocations", "add", "3301", "2023", "10万", "--parent", "GS-2023")
    assert "杭州市 is not below it" in result.stderr
    assert snapshot(database_url) == before


def test_suballocation_of_other_year_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    before = snapshot(database_url)
    result = refused(tree, "allocations", "add", WENHUI, "2024", "10万", "--parent", "GS-2023")
    assert "A sub-allocation has the same year as its parent (2023)" in result.stderr
    assert snapshot(database_url) == before


def test_suballocations_beyond_parent_refused_with_amounts(tree, database_url):
    add_allocation(tree, GONGSHU, "100万", "GS-2023")
    add_allocation(tree, WENHUI, "60万", "WH-2023", parent="GS-2023")
    add_allocation(tree, MISHIXIANG, "30万", "MSX-2023", parent="GS-2023")
    before = snapshot(database_url)
    result = refused(tree, "allocations", "add", SHENGLI, "2023", "15万", "--parent", "GS-2023")
    assert (
        "拱墅区 2023 allocation GS-2023 ¥1,000,000.00: ¥900,000.00 already passed down in"
        " 2 sub-allocations; this one of ¥150,000.00 takes them over the parent by ¥50,000.00"
    ) in result.stderr
    assert snapshot(database_url) == before


def test_suballocation_beyond_room_left_by_draws_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "100万", "GS-2023")
    project = add_project(tree, GONGSHU, SHENGLI, budget="90万")
    tree.ok("funding", "add", project, "GS-2023", "90万")
    before = snapshot(database_url)
    result = refused(tree, "allocations", "add", WENHUI, "2023", "20万", "--parent", "GS-2023")
    assert (
        "¥900,000.00 already committed (1 projects, 0 sub-allocations);"
        " this sub-allocation of ¥200,000.00 exceeds it by ¥100,000.00"
    ) in result.stderr
    assert snapshot(database_url) == before


# --- funding lines ----------------------------------------------------------------------------


def test_funding_from_owner_allocation_works(tree):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    project = add_project(tree, GONGSHU, SHENGLI, budget="10万")
    out = tree.ok("funding", "add", project, "GS-2023", "10万")
    assert f"{project} draws ¥100,000.00 from GS-2023" in out
    assert "drawn ¥100,000.00" in tree.ok("allocations", "list")


@pytest.mark.parametrize("ancestor", ["33", WENHUI])
def test_funding_from_ancestor_allocation_works(tree, ancestor):
    add_allocation(tree, ancestor, "100万", "UP-2023")
    project = add_project(tree, SHENGLI, SHENGLI, budget="5万")
    assert f"{project} draws ¥50,000.00 from UP-2023" in tree.ok(
        "funding", "add", project, "UP-2023", "5万"
    )


def test_funding_from_sibling_allocation_refused(tree, database_url):
    add_allocation(tree, XIHU, "100万", "XH-2023")
    project = add_project(tree, GONGSHU, SHENGLI)
    before = snapshot(database_url)
    result = refused(tree, "funding", "add", project, "XH-2023", "5万")
    assert (
        f"{project} may draw only on allocations of 拱墅区 or the orgs above it, not of 西湖区"
        in result.stderr
    )
    assert snapshot(database_url) == before


def test_funding_from_descendant_allocation_refused(tree, database_url):
    add_allocation(tree, SHENGLI, "100万", "SL-2023")
    project = add_project(tree, GONGSHU, SHENGLI)
    before = snapshot(database_url)
    result = refused(tree, "funding", "add", project, "SL-2023", "5万")
    assert "not of 胜利社区" in result.stderr
    assert snapshot(database_url) == before


def test_funding_from_allocation_of_other_year_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "100万", "GS-2024", year="2024")
    project = add_project(tree, GONGSHU, SHENGLI)
    before = snapshot(database_url)
    result = refused(tree, "funding", "add", project, "GS-2024", "5万")
    assert "The allocation is for 2024, the project for 2023" in result.stderr
    assert snapshot(database_url) == before


def _gongshu_nearly_committed(cli) -> str:
    """Gongshu 2023: ¥2,000,000, of which ¥1,950,000 is committed; return a fresh project."""
    add_allocation(cli, GONGSHU, "¥2,000,000", "GS-2023")
    add_allocation(cli, WENHUI, "50万", "WH-2023", parent="GS-2023")
    add_allocation(cli, MISHIXIANG, "30万", "MSX-2023", parent="GS-2023")
    add_allocation(cli, SHENGLI, "20万", "SL-2023", parent="GS-2023")
    for site, amount in [(SHENGLI, "40万"), (LIUSHUIYUAN, "35万"), (MISHIXIANG_C, "20万")]:
        project = add_project(cli, GONGSHU, site, budget=amount)
        cli.ok("funding", "add", project, "GS-2023", amount)
    return add_project(cli, GONGSHU, SHENGLI, budget="8万")


def test_funding_overcommit_refused_with_full_message(tree, database_url):
    project = _gongshu_nearly_committed(tree)
    before = snapshot(database_url)
    result = refused(tree, "funding", "add", project, "GS-2023", "8万")
    assert (
        "Error: 拱墅区 2023 allocation GS-2023 ¥2,000,000.00: ¥1,950,000.00 already committed"
        " (3 projects, 3 sub-allocations); this draw of ¥80,000.00 exceeds it by ¥30,000.00"
    ) in result.stderr
    assert snapshot(database_url) == before


def test_funding_exactly_filling_allocation_works(tree):
    project = _gongshu_nearly_committed(tree)
    tree.ok("funding", "add", project, "GS-2023", "5万")
    assert "remaining ¥0.00" in tree.ok("allocations", "list", "--org", GONGSHU)


def test_funding_overcommit_under_warn_policy_goes_through_with_warning(tree):
    project = _gongshu_nearly_committed(tree)
    result = tree("funding", "add", project, "GS-2023", "8万", env=WARN_OVERCOMMIT)
    assert result.exit_code == 0, result.stderr
    assert "Warning: 拱墅区 2023 allocation GS-2023" in result.stderr
    assert "exceeds it by ¥30,000.00" in result.stderr
    assert "remaining -¥30,000.00" in tree.ok("allocations", "list", "--org", GONGSHU)


def test_funding_line_redrawn_does_not_count_itself(tree):
    add_allocation(tree, GONGSHU, "10万", "GS-2023")
    project = add_project(tree, GONGSHU, SHENGLI)
    tree.ok("funding", "add", project, "GS-2023", "8万")
    assert "draws ¥100,000.00" in tree.ok("funding", "add", project, "GS-2023", "10万")


# --- payments ---------------------------------------------------------------------------------


def _drawn_project(cli, drawn: str = "10万") -> str:
    add_allocation(cli, GONGSHU, "200万", "GS-2023")
    project = add_project(cli, GONGSHU, SHENGLI, budget=drawn)
    cli.ok("funding", "add", project, "GS-2023", drawn)
    return project


def test_payment_within_drawn_works(tree):
    project = _drawn_project(tree)
    out = tree.ok(
        "payments", "add", project, "GS-2023", "6万", "--date", "2023-05-10", "--voucher", "V1"
    )
    assert "Paid ¥60,000.00 (V1)" in out


def test_payment_over_drawn_refused(tree, database_url):
    project = _drawn_project(tree)
    tree.ok("payments", "add", project, "GS-2023", "6万", "--date", "2023-05-10", "--voucher", "V1")
    before = snapshot(database_url)
    result = refused(
        tree,
        "payments",
        "add",
        project,
        "GS-2023",
        "5万",
        "--date",
        "2023-06-10",
        "--voucher",
        "V2",
    )
    assert (
        f"{project} from GS-2023: ¥100,000.00 drawn, ¥60,000.00 already paid;"
        " this payment of ¥50,000.00 exceeds it by ¥10,000.00"
    ) in result.stderr
    assert snapshot(database_url) == before


def test_payment_on_missing_funding_line_refused(tree, database_url):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    project = add_project(tree, GONGSHU, SHENGLI)
    before = snapshot(database_url)
    result = refused(
        tree, "payments", "add", project, "GS-2023", "1万", "--date", "2023-05-10", "--voucher", "V"
    )
    assert f"{project} draws nothing from GS-2023" in result.stderr
    assert snapshot(database_url) == before


# --- policies and check -----------------------------------------------------------------------


def test_check_policy_invalid_value_is_usage_error(tree):
    result = tree("check", env={"COCON_CHECK_ALLOCATION_OVERCOMMITTED": "stop"})
    assert result.exit_code == 2
    assert "COCON_CHECK_ALLOCATION_OVERCOMMITTED must be 'block' or 'warn'" in result.stderr


def test_check_policy_unknown_rule_is_usage_error(tree, database_url):
    project = _drawn_project(tree)
    before = snapshot(database_url)
    result = tree("funding", "add", project, "GS-2023", "1万", env={"COCON_CHECK_NOPE": "warn"})
    assert result.exit_code == 2
    assert "COCON_CHECK_NOPE names no check" in result.stderr
    assert snapshot(database_url) == before


def test_check_clean_database_exits_0(tree):
    _drawn_project(tree)
    result = tree("check")
    assert result.exit_code == 0
    assert "0 failing checks, 0 blocking" in result.output


def test_check_only_warnings_exits_0(tree):
    project = add_project(tree, GONGSHU, SHENGLI, budget="10万")
    advance(tree, project, "submitted", "approved")
    result = tree("check")
    assert result.exit_code == 0
    assert (
        f"[WARN] {project}: funding ¥0.00 leaves a gap of ¥100,000.00 against the budget"
        " ¥100,000.00"
    ) in result.output
    assert "1 failing checks, 0 blocking" in result.output


def test_check_blocking_rule_exits_1(tree):
    project = add_project(tree, GONGSHU, SHENGLI, budget="10万")
    advance(tree, project, "submitted", "approved")
    result = tree("check", env={"COCON_CHECK_FUNDING_VS_BUDGET": "block"})
    assert result.exit_code == 1
    assert f"[BLOCK] {project}: funding ¥0.00 leaves a gap" in result.output
    assert "1 failing checks, 1 blocking" in result.output


def test_check_lists_every_failing_check(tree):
    warn_all = {
        "COCON_CHECK_ALLOCATION_OVERCOMMITTED": "warn",
        "COCON_CHECK_SUBALLOCATIONS_OVER_PARENT": "warn",
        "COCON_CHECK_PAYMENT_OVER_DRAWN": "warn",
    }
    add_allocation(tree, GONGSHU, "10万", "GS-2023")
    tree.ok("allocations", "add", WENHUI, "2023", "12万", "--code", "WH-2023",
            "--parent", "GS-2023", env=warn_all)  # fmt: skip
    gap = add_project(tree, GONGSHU, SHENGLI, budget="10万", start="2022-12-01")
    advance(tree, gap, "submitted", "approved")
    paid = add_project(tree, WENHUI, SHENGLI, budget="1万")
    tree.ok("funding", "add", paid, "WH-2023", "1万")
    tree.ok("payments", "add", paid, "WH-2023", "2万", "--date", "2023-05-01",
            "--voucher", "V1", env=warn_all)  # fmt: skip
    result = tree("check")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "5 failing checks, 3 blocking"
    expected = [
        "[BLOCK] 拱墅区 2023 allocation GS-2023 ¥100,000.00: ¥120,000.00 committed"
        " (0 projects, 1 sub-allocations), over by ¥20,000.00",
        f"[BLOCK] {paid} from WH-2023: ¥20,000.00 paid against ¥10,000.00 drawn,"
        " over by ¥10,000.00",
        "[BLOCK] 拱墅区 2023 allocation GS-2023 ¥100,000.00: sub-allocations of ¥120,000.00 (1)"
        " exceed it by ¥20,000.00",
        f"[WARN] {gap}: the dates 2022-12-01 fall outside the project year 2023",
        f"[WARN] {gap}: funding ¥0.00 leaves a gap of ¥100,000.00 against the budget ¥100,000.00",
    ]
    assert lines[:-1] == expected


def test_check_with_warn_policies_reports_but_exits_0(tree):
    add_allocation(tree, GONGSHU, "10万", "GS-2023")
    project = add_project(tree, GONGSHU, SHENGLI, budget="12万")
    tree.ok("funding", "add", project, "GS-2023", "12万", env=WARN_OVERCOMMIT)
    result = tree("check", env=WARN_OVERCOMMIT)
    assert result.exit_code == 0
    assert "[WARN] 拱墅区 2023 allocation GS-2023" in result.output
    assert "1 failing checks, 0 blocking" in result.output


def test_check_scoped_to_sibling_district_finds_nothing(tree):
    add_project(tree, GONGSHU, SHENGLI, budget="10万", start="2022-01-01")
    assert "0 failing checks" in tree.ok("check", "--org", XIHU)
    assert "1 failing checks" in tree.ok("check", "--org", GONGSHU)


# --- rollup -----------------------------------------------------------------------------------


def _rollup_data(cli) -> str:
    add_allocation(cli, GONGSHU, "200万", "GS-2023")
    add_allocation(cli, WENHUI, "50万", "WH-2023", parent="GS-2023")
    project = add_project(cli, WENHUI, SHENGLI, budget="30万")
    cli.ok("funding", "add", project, "WH-2023", "20万")
    cli.ok("funding", "add", project, "GS-2023", "5万")
    cli.ok("partners", "add", GOOD_CODE, "某公司")
    cli.ok("projects", "contribute", project, GOOD_CODE, "5万")
    cli.ok("payments", "add", project, "WH-2023", "1万", "--date", "2023-05-01", "--voucher", "V1")
    return project


def test_rollup_json_money_as_decimal_strings_and_nested_children(tree):
    _rollup_data(tree)
    data = json.loads(tree.ok("rollup", "--org", GONGSHU, "--year", "2023", "--format", "json"))
    assert data["code"] == GONGSHU
    assert data["held"] == "2000000.00"
    assert data["drawn"] == "250000.00"
    assert data["remaining"] == "1750000.00"
    assert data["budget"] == "300000.00"
    assert data["paid"] == "10000.00"
    assert data["funded"] == "300000.00"
    # By source level: WH-2023 was passed down from GS-2023, so all of it is district money.
    assert data["funding"]["district"] == "250000.00"
    assert data["funding"]["street"] == "0.00"
    assert data["funding"]["partners"] == "50000.00"
    assert data["funding_by_holder"]["district"] == "50000.00"
    assert data["funding_by_holder"]["street"] == "200000.00"
    assert data["project_count"] == 1
    assert data["projects_by_status"]["draft"] == 1
    assert [c["code"] for c in data["children"]] == [WENHUI, MISHIXIANG]
    wenhui = data["children"][0]
    assert wenhui["held"] == "500000.00"
    assert wenhui["drawn"] == "200000.00"
    assert [c["code"] for c in wenhui["children"]] == [SHENGLI, LIUSHUIYUAN]
    assert wenhui["children"][0]["children"] == []
    assert data["children"][1]["held"] == "0.00"


def test_rollup_json_lists_each_orgs_own_allocations_checked(tree):
    _rollup_data(tree)
    data = json.loads(tree.ok("rollup", "--org", GONGSHU, "--year", "2023", "--format", "json"))
    [own] = data["allocations"]
    assert own["code"] == "GS-2023"
    assert own["origin"] == {
        "allocation": "GS-2023",
        "org": GONGSHU,
        "org_name": "拱墅区",
        "level": "district",
    }
    assert (own["amount"], own["passed_down"]) == ("2000000.00", "500000.00")
    assert [(row["code"], row["amount"]) for row in own["passed_to"]] == [("WH-2023", "500000.00")]
    assert (own["drawn_directly"], own["drawn_downstream"]) == ("50000.00", "200000.00")
    assert own["unspent"] == "1750000.00"
    assert [(row["code"], row["amount"]) for row in own["unspent_at"]] == [
        ("GS-2023", "1450000.00"),
        ("WH-2023", "300000.00"),
    ]
    assert own["paid"] == "10000.00"
    [wenhui] = data["children"][0]["allocations"]
    assert (wenhui["code"], wenhui["origin"]["allocation"]) == ("WH-2023", "GS-2023")
    assert (wenhui["drawn_directly"], wenhui["drawn_downstream"]) == ("200000.00", "0.00")
    assert data["children"][1]["allocations"] == []


def test_rollup_origin_follows_an_allocation_passed_down_from_elsewhere(tree, tmp_path):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    add_allocation(tree, "33", "100万", "ZJ-2023")
    add_allocation(tree, WENHUI, "50万", "WH-2023", parent="GS-2023")
    add_allocation(tree, SHENGLI, "5万", "SL-2023", parent="WH-2023")
    street = add_project(tree, WENHUI, SHENGLI, budget="30万")
    community = add_project(tree, SHENGLI, SHENGLI, budget="1万")
    tree.ok("funding", "add", street, "WH-2023", "20万")
    tree.ok("funding", "add", community, "SL-2023", "1万")

    def funding() -> tuple[dict, dict]:
        out = tree.ok("rollup", "--org", GONGSHU, "--year", "2023", "--format", "json")
        data = json.loads(out)
        return data["funding"], data["funding_by_holder"]

    origin, holder = funding()
    assert (origin["province"], origin["district"]) == ("0.00", "210000.00")
    assert (holder["street"], holder["community"]) == ("200000.00", "10000.00")
    # The province takes over the street's money: it and what it passed down are province money.
    folder = tmp_path / "reparent"
    folder.mkdir()
    (folder / "allocations.csv").write_text(
        f"code,org,year,amount,parent\nWH-2023,{WENHUI},2023,50万,ZJ-2023\n", encoding="utf-8"
    )
    tree.ok("import", str(folder))
    origin, holder = funding()
    assert (origin["province"], origin["district"]) == ("210000.00", "0.00")
    assert (holder["street"], holder["community"]) == ("200000.00", "10000.00")


def test_rollup_json_without_org_lists_provinces(tree):
    _rollup_data(tree)
    data = json.loads(tree.ok("rollup", "--format", "json", "--depth", "1"))
    assert [p["code"] for p in data] == ["33", "44"]
    assert data[0]["held"] == "2000000.00"
    assert [c["code"] for c in data[0]["children"]] == ["3301", "3302"]
    assert data[0]["children"][0]["children"] == []


def test_rollup_table_marks_failing_rows(tree):
    project = add_project(tree, WENHUI, SHENGLI, budget="10万")
    advance(tree, project, "submitted", "approved")
    out = tree.ok("rollup", "--org", GONGSHU)
    rows = {line.split(" (")[0].strip("! "): line for line in out.splitlines()[1:]}
    for name in ("拱墅区", "文晖街道"):
        assert rows[name].startswith("! ")
        assert rows[name].endswith("[1 failing checks]")
    for name in ("米市巷街道", "胜利社区"):
        assert rows[name].startswith("  ")
        assert "failing" not in rows[name]


@pytest.mark.parametrize(
    ("org", "year", "column"), [(XIHU, "2023", "org"), (GONGSHU, "2024", "year")]
)
def test_allocation_in_use_keeps_org_and_year_on_import(
    tree, database_url, tmp_path, org, year, column
):
    add_allocation(tree, GONGSHU, "200万", "GS-2023")
    project = add_project(tree, GONGSHU, SHENGLI, budget="10万")
    tree.ok("funding", "add", project, "GS-2023", "10万")
    folder = tmp_path / "move"
    folder.mkdir()
    (folder / "allocations.csv").write_text(
        f"code,org,year,amount\nGS-2023,{org},{year},200万\n", encoding="utf-8"
    )
    before = snapshot(database_url)
    result = refused(tree, "import", str(folder))
    assert "draw on GS-2023: its org and year stay as they are" in result.output + result.stderr
    assert snapshot(database_url) == before
