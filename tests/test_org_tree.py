"""The five-level org tree through the CLI: level rules, code forms, moving, deleting, the tree."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.conftest import snapshot
from tests.orgtree import load_tree, refused

# --- level rules ------------------------------------------------------------------------------


def test_add_province_without_parent_works(cli):
    out = cli.ok("orgs", "add", "33", "浙江省")
    assert "浙江省 (33, province)" in out
    assert "Code: 33" in cli.ok("orgs", "show", "33")


def test_add_province_with_parent_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "add", "34", "安徽省", "--parent", "33")
    assert "A province has no parent" in result.stderr
    assert snapshot(database_url) == before


def test_add_city_without_parent_refused(cli):
    result = refused(cli, "orgs", "add", "3301", "杭州市")
    assert "A city needs a parent province" in result.stderr


def test_add_each_level_under_the_level_above_works(cli):
    cli.ok("orgs", "add", "33", "浙江省")
    cli.ok("orgs", "add", "3301", "杭州市", "--parent", "33")
    cli.ok("orgs", "add", "330105", "拱墅区", "--parent", "3301")
    cli.ok("orgs", "add", "330105017", "文晖街道", "--parent", "330105")
    out = cli.ok("orgs", "add", "330105017003", "胜利社区", "--parent", "330105017")
    assert "胜利社区 (330105017003, community)" in out
    show = cli.ok("orgs", "show", "330105017003")
    assert "浙江省 › 杭州市 › 拱墅区 › 文晖街道 › 胜利社区" in show


def test_add_street_under_city_refused_naming_the_levels(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "add", "330105099", "新街道", "--parent", "3301")
    assert "The parent of a street must be a district" in result.stderr
    assert "杭州市 (3301) is a city" in result.stderr
    assert snapshot(database_url) == before


def test_add_community_under_district_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "add", "330105017099", "新社区", "--parent", "330105")
    assert "must be a street" in result.stderr
    assert "is a district" in result.stderr


@pytest.mark.parametrize("code", ["3", "330", "33010", "3301051", "33010501700", "3301050170031"])
def test_add_wrong_code_length_refused(cli, tmp_path, database_url, code):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "add", code, "某组织", "--parent", "3301")
    assert "is not a division code" in result.stderr
    assert snapshot(database_url) == before


def test_add_non_digit_code_refused(cli):
    result = refused(cli, "orgs", "add", "3a", "某省")
    assert "'3a' is not a division code" in result.stderr


def test_add_duplicate_code_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "add", "330105017", "又一个文晖街道", "--parent", "330105")
    assert "An org with the code 330105017 exists already" in result.stderr
    assert snapshot(database_url) == before


def test_add_district_whose_code_pads_its_city_works(cli, tmp_path):
    # Dongguan: district 441900 sits under city 4419; the code is not a duplicate of the city.
    load_tree(cli, tmp_path, [("44", "广东省"), ("4419", "东莞市")])
    cli.ok("orgs", "add", "441900", "东莞市辖区", "--parent", "4419")
    assert "Level: district" in cli.ok("orgs", "show", "441900")


def test_add_padded_community_code_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    refused(cli, "orgs", "add", "330105018000", "某社区", "--parent", "330105018")
    assert snapshot(database_url) == before


def test_add_empty_name_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "add", "330105099", "  ", "--parent", "330105")
    assert "The name is missing" in result.stderr


# --- the database backs the level rule ---------------------------------------------------------

INSERT_ORG = text(
    "INSERT INTO org (code, name, level, parent_id, parent_level, path)"
    " VALUES (:code, :name, :level, :parent_id, :parent_level, :path)"
)


def _org_id(engine, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM org WHERE code = :c"), {"c": code}).scalar_one()


def test_database_refuses_parent_two_levels_up(cli, tmp_path, engine):
    load_tree(cli, tmp_path)
    city = _org_id(engine, "3301")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            INSERT_ORG,
            {
                "code": "330105099",
                "name": "越级街道",
                "level": 4,
                "parent_id": city,
                "parent_level": 2,
                "path": "/33/3301/330105099/",
            },
        )


def test_database_refuses_parent_level_that_does_not_match_the_parent(cli, tmp_path, engine):
    # Claiming the city is a district passes the CHECK but not the (parent_id, parent_level) FK.
    load_tree(cli, tmp_path)
    city = _org_id(engine, "3301")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            INSERT_ORG,
            {
                "code": "330105099",
                "name": "越级街道",
                "level": 4,
                "parent_id": city,
                "parent_level": 3,
                "path": "/33/3301/330105099/",
            },
        )


def test_database_refuses_province_with_parent(cli, tmp_path, engine):
    load_tree(cli, tmp_path)
    province = _org_id(engine, "33")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            INSERT_ORG,
            {
                "code": "34",
                "name": "安徽省",
                "level": 1,
                "parent_id": province,
                "parent_level": 1,
                "path": "/33/34/",
            },
        )


def test_database_refuses_code_of_wrong_length(cli, tmp_path, engine):
    load_tree(cli, tmp_path)
    district = _org_id(engine, "330105")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            INSERT_ORG,
            {
                "code": "33010509",
                "name": "八位街道",
                "level": 4,
                "parent_id": district,
                "parent_level": 3,
                "path": "/33/3301/330105/33010509/",
            },
        )


def test_database_refuses_duplicate_code(cli, tmp_path, engine):
    load_tree(cli, tmp_path)
    district = _org_id(engine, "330105")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            INSERT_ORG,
            {
                "code": "330105017",
                "name": "重复街道",
                "level": 4,
                "parent_id": district,
                "parent_level": 3,
                "path": "/33/3301/330105/330105017/",
            },
        )


# --- code forms ---------------------------------------------------------------------------------


def test_show_padded_district_code_finds_district(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "show", "330105000000")
    assert "Code: 330105\n" in out
    assert "Level: district" in out


def test_show_padded_city_code_finds_city(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "show", "330100000000")
    assert "Code: 3301\n" in out
    assert "Level: city" in out


def test_show_padded_street_code_finds_street(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "Code: 330105017\n" in cli.ok("orgs", "show", "330105017000")


def test_show_full_width_digits_find_org(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "Code: 330105\n" in cli.ok("orgs", "show", "３３０１０５")


def test_show_code_with_spaces_finds_org(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "Code: 330105\n" in cli.ok("orgs", "show", " 330105 ")


def test_show_padded_code_prefers_most_specific_org(cli, tmp_path):
    # Both the city 4419 and the district 441900 exist: the padded form names the district.
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "show", "441900000000")
    assert "Code: 441900\n" in out
    assert "Level: district" in out


def test_show_short_code_of_padding_city_finds_city(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "Level: city" in cli.ok("orgs", "show", "4419")


def test_show_unique_name_finds_org(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "show", "文晖街道")
    assert "浙江省 › 杭州市 › 拱墅区 › 文晖街道" in out
    assert "Code: 330105017\n" in out


def test_show_ambiguous_name_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    cli.ok("orgs", "add", "330105018002", "胜利社区", "--parent", "330105018")
    result = refused(cli, "orgs", "show", "胜利社区")
    assert "More than one org is named 胜利社区" in result.stderr
    assert "give its code" in result.stderr


def test_show_unknown_name_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "show", "不存在社区")
    assert "No org is named 不存在社区" in result.stderr


def test_show_unknown_code_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "show", "339999")
    assert "No org has the code 339999" in result.stderr


def test_show_lists_children(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "show", "330105")
    assert "Children: 2" in out
    assert "文晖街道 (330105017)" in out
    assert "米市巷街道 (330105018)" in out


# --- moving -------------------------------------------------------------------------------------


def test_move_street_carries_its_communities(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "move", "330105017", "--to", "330106")
    assert "浙江省 › 杭州市 › 西湖区 › 文晖街道" in out
    show = cli.ok("orgs", "show", "330105017003")
    assert "浙江省 › 杭州市 › 西湖区 › 文晖街道 › 胜利社区" in show
    tree = cli.ok("orgs", "tree", "--root", "330106")
    assert "西湖区 (330106, district) · 5 below" in tree
    assert "文晖街道 (330105017, street) · 2 below" in tree
    assert "胜利社区 (330105017003, community)" in tree
    assert "流水苑社区 (330105017004, community)" in tree


def test_move_street_leaves_old_district_smaller(cli, tmp_path):
    load_tree(cli, tmp_path)
    cli.ok("orgs", "move", "330105017", "--to", "330106")
    tree = cli.ok("orgs", "tree", "--root", "330105")
    assert "拱墅区 (330105, district) · 2 below" in tree
    assert "文晖街道" not in tree


def test_move_district_to_other_city_moves_the_whole_subtree(cli, tmp_path):
    load_tree(cli, tmp_path)
    cli.ok("orgs", "move", "330105", "--to", "3302")
    assert "浙江省 › 宁波市 › 拱墅区 › 米市巷街道 › 米市巷社区" in cli.ok(
        "orgs", "show", "330105018001"
    )
    tree = cli.ok("orgs", "tree", "--root", "3302")
    assert "宁波市 (3302, city) · 6 below" in tree
    assert "杭州市" not in cli.ok("orgs", "tree", "--root", "3302")
    assert "杭州市 (3301, city) · 3 below" in cli.ok("orgs", "tree", "--root", "3301")


def test_move_back_restores_the_tree(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    cli.ok("orgs", "move", "330105017", "--to", "330106")
    cli.ok("orgs", "move", "330105017", "--to", "330105")
    assert snapshot(database_url) == before


def test_move_to_parent_of_wrong_level_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "move", "330105017", "--to", "3302")
    assert "The parent of a street must be a district" in result.stderr
    assert "宁波市 (3302) is a city" in result.stderr
    assert snapshot(database_url) == before


def test_move_under_itself_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    refused(cli, "orgs", "move", "330105", "--to", "330105")
    assert snapshot(database_url) == before


def test_move_under_own_descendant_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    refused(cli, "orgs", "move", "330105", "--to", "330105017")
    assert snapshot(database_url) == before


def test_move_to_unknown_parent_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "move", "330105017", "--to", "330199")
    assert "No org has the code 330199" in result.stderr


# --- deleting -----------------------------------------------------------------------------------


def test_delete_org_with_children_refused_saying_how_many(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "delete", "330105017")
    assert "文晖街道 (330105017) has 2 child orgs" in result.stderr
    assert "move or delete them first" in result.stderr
    assert snapshot(database_url) == before


def test_delete_leaf_works(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "delete", "330105017004")
    assert "Deleted 流水苑社区 (330105017004, community)" in out
    assert "No org has the code 330105017004" in refused(cli, "orgs", "show", "330105017004").stderr
    assert "Children: 1" in cli.ok("orgs", "show", "330105017")
    codes = {row[1] for row in snapshot(database_url)["org"]}
    assert "330105017004" not in codes
    assert len(codes) == 14


def test_delete_community_removes_its_profile(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    cli.ok("orgs", "profile", "330105017004", "--households", "3200")
    cli.ok("orgs", "delete", "330105017004")
    assert snapshot(database_url)["community_profile"] == []


def test_delete_unknown_code_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "No org has the code 330105099" in refused(cli, "orgs", "delete", "330105099").stderr


# --- renaming -----------------------------------------------------------------------------------


def test_rename_changes_the_name(cli, tmp_path):
    load_tree(cli, tmp_path)
    cli.ok("orgs", "rename", "330105017", "文晖")
    assert "浙江省 › 杭州市 › 拱墅区 › 文晖 › 胜利社区" in cli.ok("orgs", "show", "330105017003")


# --- the tree -----------------------------------------------------------------------------------


def test_tree_depth_one_shows_root_and_children_only(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "tree", "--root", "330105", "--depth", "1")
    lines = out.splitlines()
    assert lines == [
        "拱墅区 (330105, district) · 5 below",
        "  文晖街道 (330105017, street) · 2 below",
        "  米市巷街道 (330105018, street) · 1 below",
    ]


def test_tree_depth_zero_shows_the_root_only(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "tree", "--root", "3301", "--depth", "0")
    assert out.splitlines() == ["杭州市 (3301, city) · 9 below"]


def test_tree_without_root_shows_all_provinces(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "tree")
    assert "浙江省 (33, province) · 11 below" in out
    assert "广东省 (44, province) · 2 below" in out
    assert len(out.splitlines()) == 15


def test_tree_root_accepts_padded_code(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "tree", "--root", "330106000000")
    assert out.splitlines()[0] == "西湖区 (330106, district) · 2 below"


def test_tree_unknown_root_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "tree", "--root", "339999")
    assert "No org has the code 339999" in result.stderr


def test_tree_malformed_root_refused(cli, tmp_path):
    load_tree(cli, tmp_path)
    result = refused(cli, "orgs", "tree", "--root", "33x")
    assert "is not a division code" in result.stderr


def test_tree_of_empty_database_says_how_to_load(cli):
    assert "No orgs yet" in cli.ok("orgs", "tree")


# --- finding ------------------------------------------------------------------------------------


def test_find_by_part_of_name(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "find", "社区")
    assert len(out.splitlines()) == 4


def test_find_by_code_prefix(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "find", "330105017")
    assert "文晖街道 (330105017, street)" in out
    assert "胜利社区 (330105017003, community)" in out


def test_find_nothing_says_so(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "Nothing found for 上海" in cli.ok("orgs", "find", "上海")
