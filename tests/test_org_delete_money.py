"""Deleting an org is refused while projects or allocations refer to it."""

from tests.conftest import snapshot


def test_delete_org_with_projects_refused(cli, database_url):
    cli.ok("demo")
    before = snapshot(database_url)
    result = cli("orgs", "delete", "330105017003")
    assert result.exit_code == 1
    assert "money attached" in result.stderr
    assert "3 projects" in result.stderr
    assert snapshot(database_url) == before


def test_delete_org_with_allocation_refused(cli):
    cli.ok("demo")
    cli.ok("orgs", "add", "330105001999", "测试社区", "--parent", "330105001")
    cli.ok("allocations", "add", "330105001999", "2023", "1万", "--code", "T-1")
    result = cli("orgs", "delete", "330105001999")
    assert result.exit_code == 1
    assert "1 allocations" in result.stderr


def test_delete_org_without_money_works(cli):
    cli.ok("demo")
    cli.ok("orgs", "add", "330105001999", "测试社区", "--parent", "330105001")
    assert "Deleted" in cli.ok("orgs", "delete", "330105001999")
