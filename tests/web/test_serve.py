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
