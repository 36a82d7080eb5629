"""`cocon serve` runs uvicorn on the app factory."""

from __future__ import annotations

from click.testing import CliRunner
from litestar import Litestar

from cocon.cli import main
from cocon.cli.serve import app_factory


def test_serve_runs_uvicorn_with_the_factory(monkeypatch):
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append((args, kwargs)))
    result = CliRunner().invoke(main, ["serve", "--port", "8123"], env={"COCON_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/" in result.output
    ((args, kwargs),) = calls
    assert args == ("cocon.cli.serve:app_factory",)
    assert kwargs["factory"] is True and kwargs["port"] == 8123 and kwargs["host"] == "127.0.0.1"


def test_serve_factory_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COCON_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(app_factory(), Litestar)
    assert not (tmp_path / "x.db").exists()


def test_serve_rejects_a_bad_port():
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code != 0


def test_serve_on_an_open_address_warns_while_no_admin_exists(monkeypatch, cli):
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)
    cli.ok("orgs", "add", "33", "浙江省")
    warned = cli("serve", "--host", "0.0.0.0")
    assert warned.exit_code == 0 and "no admin exists yet" in warned.stderr
    assert "no admin" not in cli("serve").stderr  # loopback: only this machine reaches it
    cli.ok("users", "add", "root", "--role", "admin", "--org", "33", "--password-stdin",
           input="the first admin of all\n")  # fmt: skip
    assert "no admin" not in cli("serve", "--host", "0.0.0.0").stderr


def test_a_user_whose_org_is_deleted_cannot_sign_in(cli, database_url):
    from tests.test_users_cli import signs_in

    cli.ok("orgs", "add", "33", "浙江省")
    cli.ok("orgs", "add", "3301", "杭州市", "--parent", "33")
    cli.ok("users", "add", "hz", "--role", "viewer", "--org", "3301", "--password-stdin",
           input="a city viewer's words\n")  # fmt: skip
    assert signs_in(database_url, "hz", "a city viewer's words")
    cli.ok("orgs", "delete", "3301")
    assert not signs_in(database_url, "hz", "a city viewer's words")
    assert "hz\thz\tread only\t—" in cli.ok("users", "list")
