"""Domain exceptions: raised by the core, mapped to HTTP and CLI messages in one place each."""

from __future__ import annotations

from dataclasses import dataclass


class CoconError(Exception):
    """Base of every error the core raises on purpose; its message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CoconError):
    """The thing asked for does not exist (or is outside the user's scope)."""


class Invalid(CoconError):
    """Input breaks a rule; nothing was written."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Forbidden(CoconError):
    """The user's role does not hold the right the action needs."""


class Refused(CoconError):
    """The action is understood but not allowed in the current state."""


@dataclass(frozen=True)
class SourceProblem:
    """One thing wrong in an input file, located as precisely as the file allows."""

    source: str
    line: int | None
    column: str | None
    message: str
    cell: str | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
        if self.column:
            where += f" [{self.column}]"
        return f"{where}: {self.message}"


class ImportFailed(CoconError):
    """An input file had problems; every one is listed and nothing was written."""

    def __init__(self, message: str, problems: list[SourceProblem]) -> None:
        super().__init__(message)
        self.problems = problems


class Busy(CoconError):
    """The database stayed busy with another write past the wait allowed; nothing was written.

    Trying again in a moment normally succeeds: the web answers 503 with the input kept, the
    CLI exits with status 75 (EX_TEMPFAIL).
    """
