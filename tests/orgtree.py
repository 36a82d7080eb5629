"""A small org tree shared by the org-tree tests (not a test module itself)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_divisions

# Two provinces, three cities, three districts, three streets, four communities.
SMALL_TREE: list[tuple[str, str]] = [
    ("33", "浙江省"),
    ("3301", "杭州市"),
    ("3302", "宁波市"),
    ("330105", "拱墅区"),
    ("330106", "西湖区"),
    ("330105017", "文晖街道"),
    ("330105018", "米市巷街道"),
    ("330106001", "北山街道"),
    ("330105017003", "胜利社区"),
    ("330105017004", "流水苑社区"),
    ("330105018001", "米市巷社区"),
    ("330106001001", "北山社区"),
    ("44", "广东省"),
    ("4419", "东莞市"),
    ("441900", "东莞市辖区"),
]


def load_tree(cli, tmp_path: Path, orgs: list[tuple[str, str]] | None = None) -> Path:
    """Import the small tree (or orgs) through the CLI and return the folder of its files."""
    folder = write_divisions(tmp_path / "tree", SMALL_TREE if orgs is None else orgs)
    cli.ok("orgs", "import-divisions", str(folder))
    return folder


def refused(cli, *args: str, **kwargs):
    """Run a command that must fail with a message on stderr; return the result."""
    result = cli(*args, **kwargs)
    assert result.exit_code != 0, result.output
    assert result.stderr.strip(), "a refused command must say why on stderr"
    return result
