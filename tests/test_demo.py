"""`cocon demo`: the Gongshu slice and the profiles of its 12 integrated large community units."""

from __future__ import annotations

import json
import re

from sqlalchemy import select, text
from sqlmodel import Session

from cocon.models import CommunityProfile, Org
from cocon.orgs import ancestors
from cocon.profiles import qualify
from tests.conftest import REPO, snapshot

GONGSHU = "330105"


def _demo_profiles(engine) -> list[tuple[Org, CommunityProfile, Org]]:
    """Return (community, profile, street) for every profile of the demo."""
    with Session(engine) as session:
        rows = session.execute(
            select(Org, CommunityProfile).join(CommunityProfile, CommunityProfile.org_id == Org.id)
        ).all()
        return [(org, profile, ancestors(session, org)[-1]) for org, profile in rows]


def _qualifying(engine) -> list[tuple[Org, CommunityProfile, Org]]:
    return [row for row in _demo_profiles(engine) if qualify(row[1]).qualifies]


def test_demo_files_are_in_the_repository():
    for name in ("provinces", "cities", "areas", "streets", "villages"):
        assert (REPO / "imports" / "divisions" / f"{name}.csv").is_file()
    for name in (
        "profiles",
        "partners",
        "projects",
        "contributions",
        "allocations",
        "funding",
        "payments",
    ):
        assert (REPO / "imports" / "demo" / f"{name}.csv").is_file()


def test_demo_prints_what_it_loaded(cli):
    out = cli.ok("demo")
    assert "province: 1 created, 0 updated, 0 unchanged" in out
    assert "district: 1 created, 0 updated, 0 unchanged" in out
    assert "street: 18 created, 0 updated, 0 unchanged" in out
    assert "community: 178 created, 0 updated, 0 unchanged" in out
    assert "profiles.csv: 15 to create, 0 to update, 0 unchanged" in out
    assert "projects.csv: 36 to create, 0 to update, 0 unchanged" in out


def test_demo_loads_gongshu_with_18_streets_and_178_communities(cli, database_url):
    cli.ok("demo")
    out = cli.ok("orgs", "show", GONGSHU)
    assert "浙江省 › 杭州市 › 拱墅区" in out
    assert "Children: 18" in out
    orgs = snapshot(database_url)["org"]
    levels = [row[3] for row in orgs if row[1].startswith(GONGSHU)]
    assert levels.count(4) == 18
    assert levels.count(5) == 178
    assert len(orgs) == 3 + 18 + 178


def test_demo_shengli_community_breadcrumb_and_qualification(cli):
    cli.ok("demo")
    out = cli.ok("orgs", "show", "330105017003")
    assert out.splitlines()[0] == "浙江省 › 杭州市 › 拱墅区 › 文晖街道 › 胜利社区"
    assert "Integrated large community unit: qualifies" in out


def test_demo_shengli_community_found_by_name(cli):
    cli.ok("demo")
    assert "Code: 330105017003" in cli.ok("orgs", "show", "胜利社区")


def test_demo_has_12_qualifying_profiles(cli, engine):
    cli.ok("demo")
    assert len(_qualifying(engine)) == 12


def test_demo_qualifying_profiles_lie_in_7_streets(cli, engine):
    cli.ok("demo")
    streets = {street.code for _org, _profile, street in _qualifying(engine)}
    assert len(streets) == 7
    assert all(code.startswith(GONGSHU) and len(code) == 9 for code in streets)


def test_demo_qualifying_profiles_cover_all_four_unit_types(cli, engine):
    cli.ok("demo")
    types = {profile.unit_type for _org, profile, _street in _qualifying(engine)}
    assert types == {
        "relocation_flow",
        "business_integration",
        "traditional_integration",
        "whole_village_reform",
    }


def test_demo_qualifying_profiles_sum_to_the_reported_residents(cli, engine):
    cli.ok("demo")
    rows = _qualifying(engine)
    assert sum(profile.permanent_residents for _o, profile, _s in rows) == 137_800
    assert sum(profile.floating_residents for _o, profile, _s in rows) == 134_500


def test_demo_other_profiles_do_not_qualify(cli, engine):
    cli.ok("demo")
    others = [row for row in _demo_profiles(engine) if not qualify(row[1]).qualifies]
    assert len(others) == 3
    assert all(profile.unit_type is None for _o, profile, _s in others)


def test_demo_twice_changes_nothing(cli, database_url):
    cli.ok("demo")
    before = snapshot(database_url)
    out = cli.ok("demo")
    assert "street: 0 created, 0 updated, 18 unchanged" in out
    assert "community: 0 created, 0 updated, 178 unchanged" in out
    assert "profiles.csv: 0 to create, 0 to update, 15 unchanged" in out
    assert snapshot(database_url) == before


def test_demo_restores_an_edited_profile(cli):
    cli.ok("demo")
    cli.ok("orgs", "profile", "330105017003", "--households", "100")
    out = cli.ok("demo")
    assert "profiles.csv: 0 to create, 1 to update, 14 unchanged" in out
    assert "Households: 3,912" in cli.ok("orgs", "show", "330105017003")


def test_demo_tree_depth_one_shows_gongshu_and_its_18_streets(cli):
    cli.ok("demo")
    lines = cli.ok("orgs", "tree", "--root", GONGSHU, "--depth", "1").splitlines()
    assert lines[0] == "拱墅区 (330105, district) · 196 below"
    assert len(lines) == 19
    streets = lines[1:]
    assert all(re.fullmatch(r"  \S+街道 \(330105\d{3}, street\) · \d+ below", s) for s in streets)
    assert sum(int(re.search(r"· (\d+) below", s).group(1)) for s in streets) == 178
    assert "  文晖街道 (330105017, street)" in "\n".join(streets)
    assert "社区" not in "\n".join(lines)


def test_demo_district_money_counts_by_origin_in_the_rollup_json(cli):
    cli.ok("demo")
    out = cli.ok("rollup", "--org", GONGSHU, "--year", "2023", "--depth", "1", "--format", "json")
    data = json.loads(out)
    # Gongshu put up ¥2,000,000: ¥650,000 drawn on it directly, ¥1,290,000 on what it passed down.
    assert data["funding"]["district"] == "1940000.00"
    assert data["funding_by_holder"]["district"] == "650000.00"
    [own] = data["allocations"]
    assert own["code"] == "GS-2023"
    assert own["amount"] == "2000000.00"
    assert own["passed_down"] == "1350000.00"
    assert len(own["passed_to"]) == 7
    assert own["drawn_directly"] == "650000.00"
    assert own["drawn_downstream"] == "1290000.00"
    assert own["unspent"] == "60000.00"
    assert own["unspent_at"] == [
        {"code": "GS-2023-BS", "org": "330105011", "org_name": "半山街道", "amount": "60000.00"}
    ]
    banshan = next(child for child in data["children"] if child["code"] == "330105011")
    assert banshan["funding"]["district"] == banshan["drawn"] == "140000.00"
    assert banshan["funding"]["street"] == "0.00"
    [passed] = banshan["allocations"]
    assert passed["origin"]["allocation"] == "GS-2023"
    assert passed["unspent"] == "60000.00"


def test_demo_rollup_table_shows_district_money_by_origin(cli):
    cli.ok("demo")
    lines = cli.ok("rollup", "--org", GONGSHU, "--year", "2023", "--depth", "0").splitlines()
    header = lines[0].split(" | ")
    gongshu = lines[1].split(" | ")
    assert gongshu[header.index("District funds")] == "¥1,940,000.00"


def test_demo_origin_figures_come_back_migrating_down_and_up(cli, engine):
    from alembic import command

    from cocon.db import alembic_config

    cli.ok("demo")
    args = ("rollup", "--org", GONGSHU, "--year", "2023", "--format", "json")
    before = cli.ok(*args)
    command.downgrade(alembic_config(engine), "-1")
    with Session(engine) as session:
        # Before 0014 (one step down) a project's level columns counted the level holding the allocation.
        district = session.execute(
            text("SELECT SUM(drawn_l3_fen) FROM project WHERE year = 2023")
        ).scalar_one()
    assert district == 650_000_00
    command.upgrade(alembic_config(engine), "head")
    engine.dispose()
    assert cli.ok(*args) == before
    assert json.loads(before)["funding"]["district"] == "1940000.00"
