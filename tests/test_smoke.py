from tests.conftest import write_divisions


def test_import_divisions_smoke(cli, tmp_path):
    folder = write_divisions(
        tmp_path / "d", [("33", "浙江省"), ("3301", "杭州市"), ("330105", "拱墅区")]
    )
    out = cli.ok("orgs", "import-divisions", str(folder))
    assert "district: 1 created" in out
