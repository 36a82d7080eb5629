"""What every command shares: settings, the engine, progress and error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from cocon.checks import Finding, Policies
from cocon.errors import Busy, CoconError, ImportFailed
from cocon.i18n import _
from cocon.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

Progress = Callable[[str, int, int], None]
# sysexits.h EX_TEMPFAIL: a script may run the command again later.
EXIT_BUSY = 75


class AppContext:
    """What every command gets: the settings and, made on first use, the engine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """Return the engine, migrating the schema the first time."""
        if self._engine is None:
            from cocon import db  # SQLAlchemy and Alembic: only commands that use the database

            self._engine = db.make_engine(
                self.settings.database_url, busy_seconds=self.settings.database_busy_seconds
            )
            db.migrate(self._engine)
        return self._engine

    @property
    def policies(self) -> Policies:
        """Return the block/warn policy of each check from the settings."""
        try:
            return Policies(self.settings.check_policies)
        except ValueError as error:
            raise click.UsageError(str(error)) from None

    @contextmanager
    def session(self, *, write: bool = False, data: bool = True) -> Iterator[Session]:
        """Open a session that commits at the end of the block, acting as the operator."""
        from cocon import db
        from cocon.actors import act_as, operator

        with db.session_scope(self.engine, write=write, data=data) as session:
            yield act_as(session, operator())

    def close(self) -> None:
        """Release the database connections."""
        if self._engine is not None:
            self._engine.dispose()


pass_app = click.make_pass_decorator(AppContext)


def report_errors(function: Callable) -> Callable:
    """Turn the core's errors into a message on stderr and exit status 1 (75: busy, try again)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Busy:
            click.echo(
                _("Error: the database is busy with another write; nothing was written. Run the command again in a moment."),
                err=True,
            )
            sys.exit(EXIT_BUSY)
        except CoconError as error:
            click.echo(_("Error: {message}").format(message=error.message), err=True)
            if isinstance(error, ImportFailed):
                for problem in error.problems:
                    click.echo(f"  {problem}", err=True)
            sys.exit(1)

    return wrapper


@contextmanager
def terminal_progress() -> Iterator[Progress | None]:
    """Yield a progress callback that draws a bar on a terminal, and None elsewhere."""
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress as Bar

    with Bar(transient=True) as bar:
        task = bar.add_task(_("Loading"), total=None)

        def advance(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        yield advance


def print_warnings(warnings: list[Finding]) -> None:
    """Print the warnings a save raised."""
    for finding in warnings:
        click.echo(_("Warning: {message}").format(message=finding.message), err=True)
