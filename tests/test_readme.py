"""Every CLI command is documented in README.md."""

from __future__ import annotations

import re

import click

from cocon.cli import main
from tests.conftest import REPO


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        paths.append(" ".join(path))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, path))
    return paths


def test_readme_walk_finds_the_org_commands():
    paths = _command_paths(main)
    assert {"init", "demo", "orgs", "orgs import-divisions", "orgs show"} <= set(paths)


def test_readme_names_every_cli_command():
    readme = REPO / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    missing = [
        path
        for path in _command_paths(main)
        if not re.search(rf"cocon {re.escape(path)}(?![\w-])", text)
    ]
    assert not missing, f"README.md does not mention: {', '.join('cocon ' + p for p in missing)}"
