"""`cocon serve` runs uvicorn on the app factory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

from click.testing import CliRunner
from litestar import Litestar
from sqlalchemy import func, select

from cocon import db
from cocon.cli import main
from cocon.cli.serve import app_factory
from cocon.models import Org


def test_serve_runs_uvicorn_with_the_factory(monkeypatch):
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append((args, kwargs)))
    result = CliRunner().invoke(main, ["serve", "--port", "8123"], env={"COCON_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/" in result.output
    ((args, kwargs),) = calls
    assert args == ("cocon.cli.serve:app_factory",)
    assert kwargs["factory"] is True and kwargs["port"] == 8123 and kwargs["host"] == "127.0.0.1"
    assert kwargs["workers"] == 1


def _org_count(url: str) -> int:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return session.execute(select(func.count()).select_from(Org)).scalar_one()
    finally:
        engine.dispose()


def test_serve_with_workers_prepares_the_database_once_before_they_start(
    monkeypatch, cli, database_url
):
    # Each worker builds its own app; the demo is loaded before, so they do not race to load it.
    calls = []

    def run(*args, **kwargs) -> None:
        calls.append((kwargs, _org_count(database_url)))

    monkeypatch.setattr("uvicorn.run", run)
    cli.ok("serve", "--workers", "2")
    ((kwargs, orgs_when_started),) = calls
    assert kwargs["workers"] == 2 and kwargs["factory"] is True
    assert orgs_when_started > 190  # the Gongshu demo


def test_serve_rejects_zero_workers():
    result = CliRunner().invoke(main, ["serve", "--workers", "0"])
    assert result.exit_code != 0 and "--workers" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_serve_with_two_workers_answers_on_a_new_database(empty_sqlite_url, tmp_path):
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "COCON_DATABASE_URL": empty_sqlite_url, "COCON_LANG": "en"}
    command = [sys.executable, "-c", "from cocon.cli import main; main()"]
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "serve", "--port", str(port), "--workers", "2"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"http://127.0.0.1:{port}/health"):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        while log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert _org_count(empty_sqlite_url) > 190


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
