"""Uploaded workbooks between their preview and their confirmation: files on the server, by token.

Each upload gets a folder named by a random token under one private directory (0700): the
workbook, what it is called and the scope it was previewed in, and the problems the preview
found (to mark them in a copy). Nothing of it travels in a cookie or a form but the token.
A token is good for TTL seconds and only in the scope it was previewed in; old folders are
removed whenever another upload arrives. Nothing here knows of HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from cocon.errors import NotFound, Refused, SourceProblem
from cocon.i18n import _

TTL = 3600
CHUNK = 1024 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
WORKBOOK, META, MARKED, RESULT = "upload.xlsx", "meta.json", "errors.xlsx", "result.json"
LOCK = "importing"


def default_folder() -> Path:
    """Return where uploads wait when nothing else is configured: private to this user."""
    return Path(tempfile.gettempdir()) / f"cocon-uploads-{os.getuid()}"


def clean_name(name: str | None) -> str:
    """Return a file name fit to show: no folders, no control characters, not too long."""
    base = _UNSAFE_NAME.sub("", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return base[:120] or "workbook.xlsx"


@dataclass(frozen=True)
class Upload:
    """One stored upload: its token, folder and what it was called and previewed in."""

    token: str
    folder: Path
    name: str
    scope: str
    created: float

    @property
    def workbook(self) -> Path:
        """Return the path of the uploaded workbook."""
        return self.folder / WORKBOOK

    @property
    def marked(self) -> Path:
        """Return the path of the copy with the problems marked."""
        return self.folder / MARKED

    @property
    def imported(self) -> bool:
        """Tell whether the upload was imported already (its result is kept, the file is not)."""
        return (self.folder / RESULT).exists()


class UploadStore:
    """The folder of uploads waiting for their confirmation."""

    def __init__(self, root: Path, ttl: float = TTL) -> None:
        self.root = Path(root)
        self.ttl = ttl

    def _ready(self) -> Path:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # In a shared temp folder another user could have made the folder first: refuse it.
        if self.root.stat().st_uid != os.getuid():
            raise RuntimeError(f"{self.root} belongs to another user: set app.state.upload_dir")
        self.root.chmod(0o700)
        return self.root

    def save(self, source: IO[bytes], name: str | None, scope: str, limit: int) -> Upload:
        """Store an upload (at most limit + 1 bytes: the safety checks name a larger one)."""
        self.sweep()
        token = secrets.token_urlsafe(24)
        folder = self._ready() / token
        folder.mkdir(mode=0o700)
        left = limit + 1
        with (folder / WORKBOOK).open("wb") as target:
            while left > 0 and (chunk := source.read(min(CHUNK, left))):
                target.write(chunk)
                left -= len(chunk)
        upload = Upload(token, folder, clean_name(name), scope, time.time())
        self._write_meta(upload, [])
        return upload

    def _write_meta(self, upload: Upload, problems: list[SourceProblem]) -> None:
        meta = {
            "name": upload.name,
            "scope": upload.scope,
            "created": upload.created,
            "problems": [asdict(problem) for problem in problems],
        }
        (upload.folder / META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    def _meta(self, token: str) -> tuple[Path, dict]:
        if not _TOKEN.fullmatch(token or ""):
            raise self._gone()
        folder = self.root / token
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise self._gone() from None
        return folder, meta

    def get(self, token: str, scope: str) -> Upload:
        """Return the upload of token previewed in scope; an unknown, expired or foreign one is not found."""
        folder, meta = self._meta(token)
        if meta.get("scope") != scope:
            raise self._gone()
        if time.time() - float(meta.get("created", 0)) > self.ttl:
            self.discard(token)
            raise self._gone()
        return Upload(token, folder, str(meta.get("name")), scope, float(meta["created"]))

    def keep_problems(self, upload: Upload, problems: list[SourceProblem]) -> None:
        """Remember the problems a preview found, to mark them in a copy later."""
        self._write_meta(upload, problems)

    def problems(self, upload: Upload) -> list[SourceProblem]:
        """Return the problems the preview of an upload found."""
        _folder, meta = self._meta(upload.token)
        return [SourceProblem(**problem) for problem in meta.get("problems", [])]

    @contextmanager
    def claimed(self, upload: Upload) -> Iterator[None]:
        """Hold an upload while it is imported: a second confirmation meanwhile is refused."""
        lock = upload.folder / LOCK
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            raise Refused(
                _("This workbook is being imported already: wait a moment and reload the page")
            ) from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    def finish(self, upload: Upload, result: dict) -> None:
        """Keep what the import did and drop the workbook: it cannot be imported twice."""
        (upload.folder / RESULT).write_text(json.dumps(result, ensure_ascii=False), "utf-8")
        for name in (WORKBOOK, MARKED):
            with contextlib.suppress(OSError):
                (upload.folder / name).unlink()

    def result(self, upload: Upload) -> dict:
        """Return what the import of an upload did; not found before it was imported."""
        try:
            return json.loads((upload.folder / RESULT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise self._gone() from None

    def discard(self, token: str) -> None:
        """Remove an upload and everything kept with it."""
        if _TOKEN.fullmatch(token or ""):
            shutil.rmtree(self.root / token, ignore_errors=True)

    def sweep(self) -> None:
        """Remove the uploads older than the TTL (their tokens are dead anyway)."""
        if not self.root.is_dir():
            return
        oldest = time.time() - self.ttl
        for folder in self.root.iterdir():
            with contextlib.suppress(OSError):
                if folder.is_dir() and folder.stat().st_mtime < oldest:
                    shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _gone() -> NotFound:
        return NotFound(_("This upload is unknown or has expired: upload the workbook again"))
