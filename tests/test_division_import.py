"""`cocon orgs import-divisions`: the national division files into the org tree."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import snapshot, write_divisions
from tests.orgtree import SMALL_TREE, load_tree, refused


def _replace(path: Path, old: str, new: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert old in content, f"{old!r} not in {path.name}"
    path.write_text(content.replace(old, new), encoding="utf-8")


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _import(cli, folder: Path, *options: str) -> str:
    return cli.ok("orgs", "import-divisions", str(folder), *options)


def _refused_import(cli, database_url: str, folder: Path):
    """Import folder, which must fail and leave the database exactly as it was."""
    before = snapshot(database_url)
    result = refused(cli, "orgs", "import-divisions", str(folder))
    assert snapshot(database_url) == before
    return result


def _codes(database_url: str) -> set[str]:
    return {row[1] for row in snapshot(database_url)["org"]}


# --- what an import does -----------------------------------------------------------------------


def test_import_prints_summary_per_level(cli, tmp_path):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    out = _import(cli, folder)
    assert out.splitlines() == [
        "province: 2 created, 0 updated, 0 unchanged",
        "city: 3 created, 0 updated, 0 unchanged",
        "district: 3 created, 0 updated, 0 unchanged",
        "street: 3 created, 0 updated, 0 unchanged",
        "community: 4 created, 0 updated, 0 unchanged",
    ]


def test_import_builds_the_tree(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "浙江省 › 杭州市 › 拱墅区 › 文晖街道 › 胜利社区" in cli.ok(
        "orgs", "show", "330105017003"
    )
    assert "浙江省 (33, province) · 11 below" in cli.ok("orgs", "tree", "--root", "33")


def test_import_twice_changes_nothing(cli, tmp_path, database_url):
    folder = load_tree(cli, tmp_path)
    before = snapshot(database_url)
    out = _import(cli, folder)
    assert out.splitlines() == [
        "province: 0 created, 0 updated, 2 unchanged",
        "city: 0 created, 0 updated, 3 unchanged",
        "district: 0 created, 0 updated, 3 unchanged",
        "street: 0 created, 0 updated, 3 unchanged",
        "community: 0 created, 0 updated, 4 unchanged",
    ]
    assert snapshot(database_url) == before


def test_import_adds_new_orgs_to_a_loaded_tree(cli, tmp_path):
    load_tree(cli, tmp_path)
    folder = write_divisions(tmp_path / "more", [*SMALL_TREE, ("330105018002", "新社区")])
    out = _import(cli, folder)
    assert "community: 1 created, 0 updated, 4 unchanged" in out
    assert "Children: 2" in cli.ok("orgs", "show", "330105018")


def test_import_renamed_org_is_updated(cli, tmp_path):
    folder = load_tree(cli, tmp_path)
    _replace(folder / "streets.csv", '"文晖街道"', '"文晖新街道"')
    out = _import(cli, folder)
    assert "street: 0 created, 1 updated, 2 unchanged" in out
    assert "community: 0 created, 0 updated, 4 unchanged" in out
    assert "拱墅区 › 文晖新街道 › 胜利社区" in cli.ok("orgs", "show", "330105017003")


def test_import_parent_change_moves_the_org(cli, tmp_path):
    folder = load_tree(cli, tmp_path)
    _replace(folder / "streets.csv", '330105017,"文晖街道",330105,', '330105017,"文晖街道",330106,')
    out = _import(cli, folder)
    assert "street: 0 created, 1 updated, 2 unchanged" in out
    assert "浙江省 › 杭州市 › 西湖区 › 文晖街道 › 胜利社区" in cli.ok(
        "orgs", "show", "330105017003"
    )
    assert "西湖区 (330106, district) · 5 below" in cli.ok("orgs", "tree", "--root", "330106")


def test_import_moved_org_then_same_file_again_changes_nothing(cli, tmp_path, database_url):
    folder = load_tree(cli, tmp_path)
    _replace(folder / "streets.csv", '330105017,"文晖街道",330105,', '330105017,"文晖街道",330106,')
    _import(cli, folder)
    before = snapshot(database_url)
    assert "street: 0 created, 0 updated, 3 unchanged" in _import(cli, folder)
    assert snapshot(database_url) == before


def test_import_new_org_under_a_moved_org_gets_the_new_path(cli, tmp_path):
    # The district moves to another city and, in the same run, a street of it gains a community.
    load_tree(cli, tmp_path)
    folder = write_divisions(tmp_path / "next", [*SMALL_TREE, ("330105017005", "新社区")])
    _replace(folder / "areas.csv", '330105,"拱墅区",3301,', '330105,"拱墅区",3302,')
    out = _import(cli, folder)
    assert "district: 0 created, 1 updated, 2 unchanged" in out
    assert "community: 1 created, 0 updated, 4 unchanged" in out
    show = cli.ok("orgs", "show", "330105017005")
    assert "浙江省 › 宁波市 › 拱墅区 › 文晖街道 › 新社区" in show
    assert "文晖街道 (330105017, street) · 3 below" in cli.ok("orgs", "tree", "--root", "3302")


def test_import_leaves_orgs_missing_from_the_files_alone(cli, tmp_path):
    load_tree(cli, tmp_path)
    cli.ok("orgs", "add", "330105018099", "手工社区", "--parent", "330105018")
    _import(cli, write_divisions(tmp_path / "again", SMALL_TREE))
    assert "Code: 330105018099" in cli.ok("orgs", "show", "330105018099")


def test_import_reads_a_byte_order_mark(cli, tmp_path):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    for path in folder.glob("*.csv"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert "community: 4 created" in _import(cli, folder)


# --- --root -------------------------------------------------------------------------------------


def test_import_root_loads_subtree_and_ancestors_only(cli, tmp_path, database_url):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    out = _import(cli, folder, "--root", "330105")
    assert out.splitlines() == [
        "province: 1 created, 0 updated, 0 unchanged",
        "city: 1 created, 0 updated, 0 unchanged",
        "district: 1 created, 0 updated, 0 unchanged",
        "street: 2 created, 0 updated, 0 unchanged",
        "community: 3 created, 0 updated, 0 unchanged",
    ]
    assert _codes(database_url) == {
        "33",
        "3301",
        "330105",
        "330105017",
        "330105018",
        "330105017003",
        "330105017004",
        "330105018001",
    }


def test_import_root_accepts_padded_code(cli, tmp_path, database_url):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    _import(cli, folder, "--root", "330105000000")
    assert "330105018001" in _codes(database_url)
    assert "330106" not in _codes(database_url)


def test_import_root_street_loads_its_communities(cli, tmp_path, database_url):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    _import(cli, folder, "--root", "330105017")
    assert _codes(database_url) == {
        "33",
        "3301",
        "330105",
        "330105017",
        "330105017003",
        "330105017004",
    }


def test_import_root_padded_prefers_most_specific(cli, tmp_path, database_url):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    _import(cli, folder, "--root", "441900000000")
    assert _codes(database_url) == {"44", "4419", "441900"}


def test_import_root_unknown_code_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "import-divisions", str(folder), "--root", "339999")
    assert "The code 339999 is not in the division files" in result.stderr
    assert snapshot(database_url) == before


# --- bad input: exit code, file, line and reason on stderr, nothing written --------------------


def _loaded_then_next(cli, tmp_path) -> Path:
    """Load part of the tree, and write files with all of it plus one more org."""
    load_tree(cli, tmp_path, SMALL_TREE[:8])
    return write_divisions(tmp_path / "next", [*SMALL_TREE, ("330105018002", "新社区")])


def test_import_missing_file_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    (folder / "villages.csv").unlink()
    result = _refused_import(cli, database_url, folder)
    assert "villages.csv: the file is missing" in result.stderr
    assert "nothing was written" in result.stderr


def test_import_missing_directory_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    result = _refused_import(cli, database_url, tmp_path / "nowhere")
    assert "provinces.csv: the file is missing" in result.stderr


def test_import_missing_header_column_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _replace(folder / "cities.csv", "code,name,provinceCode", "code,name,province")
    result = _refused_import(cli, database_url, folder)
    assert "cities.csv:1: the header lacks the columns provinceCode" in result.stderr


def test_import_empty_file_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    (folder / "areas.csv").write_text("", encoding="utf-8")
    result = _refused_import(cli, database_url, folder)
    assert "areas.csv:1: the file is empty" in result.stderr


def test_import_unknown_parent_code_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "streets.csv", '330199001,"孤儿街道",330199,33,3301')
    result = _refused_import(cli, database_url, folder)
    assert (
        "streets.csv:5 [areaCode]: the parent code '330199' is not in the district file"
        in result.stderr
    )


def test_import_code_of_wrong_length_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "streets.csv", '33010501,"八位街道",330105,33,3301')
    result = _refused_import(cli, database_url, folder)
    assert (
        "streets.csv:5 [code]: '33010501' is not a street code: expected 9 digits" in result.stderr
    )


def test_import_district_code_in_city_file_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "cities.csv", '330107,"错位区",33')
    result = _refused_import(cli, database_url, folder)
    assert "cities.csv:5 [code]: '330107' is not a city code: expected 4 digits" in result.stderr


def test_import_duplicate_code_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "villages.csv", '330105017003,"胜利社区二",330105017,33,3301,330105')
    result = _refused_import(cli, database_url, folder)
    assert (
        "villages.csv:7 [code]: the code 330105017003 appears twice (first at villages.csv:2)"
        in result.stderr
    )


def test_import_file_not_utf8_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    gbk = "code,name,cityCode,provinceCode\n330105,拱墅区,3301,33\n".encode("gbk")
    (folder / "areas.csv").write_bytes(gbk)
    result = _refused_import(cli, database_url, folder)
    assert "areas.csv:2: the file is not UTF-8 text" in result.stderr


def test_import_file_not_utf8_names_the_line_far_into_the_file(cli, tmp_path, database_url):
    orgs = [*SMALL_TREE, *((f"330105018{i:03d}", f"社区{i}") for i in range(2, 1000))]
    load_tree(cli, tmp_path, SMALL_TREE[:8])
    folder = write_divisions(tmp_path / "next", orgs)
    path = folder / "villages.csv"
    lines = path.read_bytes().split(b"\n")
    lines[600] = lines[600].decode("utf-8").encode("gbk")
    path.write_bytes(b"\n".join(lines))
    result = _refused_import(cli, database_url, folder)
    assert "villages.csv:601: the file is not UTF-8 text" in result.stderr


def test_import_row_with_too_few_columns_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "villages.csv", "330105017009")
    result = _refused_import(cli, database_url, folder)
    assert "villages.csv:7: the row has 1 columns, expected 6" in result.stderr


def test_import_empty_name_refused(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "villages.csv", '330105017009,"",330105017,33,3301,330105')
    result = _refused_import(cli, database_url, folder)
    assert "villages.csv:7 [name]: the name is empty" in result.stderr


def test_import_error_in_last_village_row_writes_nothing(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "villages.csv", '330105099001,"无街道社区",330105099,33,3301,330105')
    before = _codes(database_url)
    result = _refused_import(cli, database_url, folder)
    assert "villages.csv:7 [streetCode]" in result.stderr
    assert "1 problems in the division files; nothing was written" in result.stderr
    assert _codes(database_url) == before
    assert "330105018002" not in before


def test_import_error_on_empty_database_writes_nothing(cli, tmp_path, database_url):
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    _append(folder / "villages.csv", "330105017009")
    result = _refused_import(cli, database_url, folder)
    assert "villages.csv:6" in result.stderr
    assert snapshot(database_url)["org"] == []


def test_import_lists_every_problem_in_one_run(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "streets.csv", '33010501,"八位街道",330105,33,3301')
    _append(folder / "streets.csv", '330199001,"孤儿街道",330199,33,3301')
    result = _refused_import(cli, database_url, folder)
    assert "2 problems in the division files" in result.stderr
    assert "streets.csv:5 [code]" in result.stderr
    assert "streets.csv:6 [areaCode]" in result.stderr


def test_import_lists_problems_across_files(cli, tmp_path, database_url):
    folder = _loaded_then_next(cli, tmp_path)
    _append(folder / "cities.csv", '330,"坏市",33')
    _append(folder / "villages.csv", "330105017009")
    result = _refused_import(cli, database_url, folder)
    assert "cities.csv:5 [code]" in result.stderr
    assert "villages.csv:7:" in result.stderr


def test_import_bad_root_code_form_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    folder = write_divisions(tmp_path / "d", SMALL_TREE)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "import-divisions", str(folder), "--root", "33x")
    assert "is not a division code" in result.stderr
    assert snapshot(database_url) == before
