"""Uploaded workbooks between their preview and their confirmation, kept in the database.

Each upload is a row of waiting_upload under a random token: the workbook's bytes, its name,
the user who sent it and the scope it was previewed in, and the problems the preview found (to
mark them in a copy). Being in the application's database, a confirmation reaches it on any
worker or server. A token is good for TTL seconds, only for the user who uploaded it and only in
the scope it was previewed in. Quotas: a user's waiting workbooks take at most their quota (the
oldest previews make room for a new one), the server's at most its total; expired ones go
whenever another upload arrives. Nothing here knows of HTTP.
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import delete, func, select
from sqlmodel import Session

from cocon.errors import NotFound, Refused, SourceProblem
from cocon.i18n import _
from cocon.user_models import WaitingUpload

TTL = 3600
MiB = 1024 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def clean_name(name: str | None) -> str:
    """Return a file name fit to show: no folders, no control characters, not too long."""
    base = _UNSAFE_NAME.sub("", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return base[:120] or "workbook.xlsx"


def read_limited(source: IO[bytes], limit: int) -> bytes:
    """Read at most limit + 1 bytes (the safety checks name a larger file as too large)."""
    return source.read(limit + 1)


@contextmanager
def as_file(content: bytes) -> Iterator[Path]:
    """Give bytes a path for the time of a block (the workbook readers read files)."""
    with tempfile.TemporaryDirectory(prefix="cocon-upload-") as folder:
        path = Path(folder) / "upload.xlsx"
        path.write_bytes(content)
        yield path


@dataclass(frozen=True)
class Upload:
    """One waiting upload: its token, what it was called, who sent it and where."""

    token: str
    name: str
    scope: str
    user_id: int
    created: float
    imported: bool


def _gone() -> NotFound:
    return NotFound(_("This upload is unknown or has expired: upload the workbook again"))


class UploadStore:
    """The workbooks waiting for their confirmation, in the request's database session."""

    def __init__(
        self, session: Session, *, quota: int, total: int, ttl: float = TTL
    ) -> None:
        self.session = session
        self.quota = quota
        self.total = total
        self.ttl = ttl

    def sweep(self) -> None:
        """Remove the uploads older than the TTL (their tokens are dead anyway)."""
        oldest = time.time() - self.ttl
        self.session.execute(delete(WaitingUpload).where(WaitingUpload.created < oldest))

    def _waiting(self, user_id: int | None = None) -> int:
        statement = select(func.coalesce(func.sum(WaitingUpload.size), 0)).where(
            WaitingUpload.content.is_not(None)
        )
        if user_id is not None:
            statement = statement.where(WaitingUpload.user_id == user_id)
        return int(self.session.execute(statement).scalar() or 0)

    def _make_room(self, user_id: int, size: int) -> None:
        if size > self.quota:
            raise Refused(self._over_quota())
        oldest_first = self.session.execute(
            select(WaitingUpload.token, WaitingUpload.size)
            .where(WaitingUpload.user_id == user_id, WaitingUpload.content.is_not(None))
            .order_by(WaitingUpload.created)
        ).all()
        waiting = sum(row.size for row in oldest_first)
        for token, held in oldest_first:
            if waiting + size <= self.quota:
                break
            self.discard(token)
            waiting -= held
        if self._waiting() + size > self.total:
            raise Refused(
                _("The server holds too many workbooks waiting for confirmation: try again later")
            )

    def _over_quota(self) -> str:
        return _("The workbook is larger than your upload quota of {limit} MB").format(
            limit=self.quota // MiB
        )

    def save(self, content: bytes, name: str | None, scope: str, user_id: int) -> Upload:
        """Keep an upload for its confirmation, making room in the user's quota first."""
        self.sweep()
        self._make_room(user_id, len(content))
        row = WaitingUpload(
            token=secrets.token_urlsafe(24),
            user_id=user_id,
            scope_code=scope,
            name=clean_name(name),
            created=time.time(),
            size=len(content),
            content=content,
        )
        self.session.add(row)
        self.session.flush()
        return self._upload(row)

    @staticmethod
    def _upload(row: WaitingUpload) -> Upload:
        return Upload(
            row.token, row.name, row.scope_code, row.user_id, row.created, row.result is not None
        )

    def _row(self, token: str, scope: str, user_id: int, *, lock: bool = False) -> WaitingUpload:
        if not _TOKEN.fullmatch(token or ""):
            raise _gone()
        statement = select(WaitingUpload).where(WaitingUpload.token == token)
        if lock:
            statement = statement.with_for_update()
        row = self.session.execute(statement).scalar_one_or_none()
        if row is None or row.user_id != user_id or row.scope_code != scope:
            raise _gone()
        if time.time() - row.created > self.ttl:
            raise _gone()
        return row

    def get(self, token: str, scope: str, user_id: int, *, lock: bool = False) -> Upload:
        """Return the user's upload of token previewed in scope; any other reads as not found.

        With lock, a second confirmation of the same upload waits for the first to end.
        """
        return self._upload(self._row(token, scope, user_id, lock=lock))

    def content(self, upload: Upload) -> bytes:
        """Return the workbook of an upload that was not imported yet."""
        row = self._row(upload.token, upload.scope, upload.user_id)
        if row.content is None:
            raise _gone()
        return bytes(row.content)

    def keep_problems(self, upload: Upload, problems: list[SourceProblem]) -> None:
        """Remember the problems a preview found, to mark them in a copy later."""
        row = self._row(upload.token, upload.scope, upload.user_id)
        row.problems = json.dumps([asdict(problem) for problem in problems], ensure_ascii=False)
        self.session.add(row)
        self.session.flush()

    def problems(self, upload: Upload) -> list[SourceProblem]:
        """Return the problems the preview of an upload found."""
        row = self._row(upload.token, upload.scope, upload.user_id)
        return [SourceProblem(**problem) for problem in json.loads(row.problems or "[]")]

    def finish(self, upload: Upload, result: dict) -> None:
        """Keep what the import did and drop the workbook: it cannot be imported twice."""
        row = self._row(upload.token, upload.scope, upload.user_id)
        row.result = json.dumps(result, ensure_ascii=False)
        row.content = None
        self.session.add(row)
        self.session.flush()

    def result(self, upload: Upload) -> dict:
        """Return what the import of an upload did; not found before it was imported."""
        row = self._row(upload.token, upload.scope, upload.user_id)
        if row.result is None:
            raise _gone()
        return json.loads(row.result)

    def discard(self, token: str) -> None:
        """Remove an upload and everything kept with it."""
        self.session.execute(delete(WaitingUpload).where(WaitingUpload.token == token))
