"""Server-side sessions in the application's own database, through Litestar's session middleware.

`DatabaseStore` is a Litestar `Store` over the app's engine (table web_session), so several
workers and servers behind a load balancer share the sessions. `SessionBackend` is Litestar's
server-side backend with three changes an office network needs: a new session id at sign-in
(`rotate_session`), nothing stored for a visitor who is not signed in, and the store written
only when the session changed (the idle expiry is renewed by the store itself, at most once a
minute). The cookie lives as long as the browser; the server ends idle and old sessions.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession
from sqlalchemy import Engine, delete, insert, select, update

from cocon.user_models import WebSession

SESSION_COOKIE = "cocon_session"
# The store renews a session's idle expiry on use, but writes it at most this often.
RENEW_EVERY = 60
_ROTATE = "cocon_rotate_session"
_LOADED = "cocon_session_loaded"


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class DatabaseStore(Store):
    """Keep values with an expiry in the web_session table of the app's database."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine

    @staticmethod
    def _storable(key: str) -> bool:
        """Tell whether key could name a stored session (PostgreSQL refuses a NUL in a query)."""
        return "\x00" not in key

    def _set(self, key: str, value: bytes, expires_in: float | None) -> None:
        expires = time.time() + (expires_in if expires_in is not None else 10 * 365 * 86400)
        with self._engine().begin() as connection:
            connection.execute(delete(WebSession).where(WebSession.key == key))
            connection.execute(insert(WebSession).values(key=key, value=value, expires_at=expires))

    def _get(self, key: str, renew_for: float | None) -> bytes | None:
        now = time.time()
        if not self._storable(key):  # a cookie may carry anything
            return None
        with self._engine().begin() as connection:
            row = connection.execute(
                select(WebSession.value, WebSession.expires_at).where(WebSession.key == key)
            ).first()
            if row is None:
                return None
            if row.expires_at <= now:
                connection.execute(delete(WebSession).where(WebSession.key == key))
                return None
            if renew_for is not None and row.expires_at < now + renew_for - RENEW_EVERY:
                connection.execute(
                    update(WebSession)
                    .where(WebSession.key == key)
                    .values(expires_at=now + renew_for)
                )
            return bytes(row.value)

    def _delete(self, key: str) -> None:
        if not self._storable(key):
            return
        with self._engine().begin() as connection:
            connection.execute(delete(WebSession).where(WebSession.key == key))

    def _delete_all(self) -> None:
        with self._engine().begin() as connection:
            connection.execute(delete(WebSession))

    def _expires_in(self, key: str) -> int | None:
        if not self._storable(key):
            return None
        with self._engine().connect() as connection:
            expires = connection.execute(
                select(WebSession.expires_at).where(WebSession.key == key)
            ).scalar()
        if expires is None or expires <= time.time():
            return None
        return int(expires - time.time())

    def sweep(self) -> None:
        """Remove the sessions whose time has passed."""
        with self._engine().begin() as connection:
            connection.execute(delete(WebSession).where(WebSession.expires_at <= time.time()))

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None):
        """Store value under key for expires_in seconds."""
        data = value.encode() if isinstance(value, str) else value
        await to_thread.run_sync(self._set, key, data, _seconds(expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        """Return the value under key unless it expired, renewing its expiry."""
        return await to_thread.run_sync(self._get, key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        """Remove key."""
        await to_thread.run_sync(self._delete, key)

    async def delete_all(self) -> None:
        """Remove every session."""
        await to_thread.run_sync(self._delete_all)

    async def exists(self, key: str) -> bool:
        """Tell whether key holds a value that has not expired."""
        return await self.expires_in(key) is not None

    async def expires_in(self, key: str) -> int | None:
        """Return the seconds until key expires, or None when it is gone."""
        return await to_thread.run_sync(self._expires_in, key)


def rotate_session(connection: ASGIConnection) -> None:
    """Give this request's session a new id when the response is sent (at sign-in)."""
    connection.state[_ROTATE] = True


class SessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, rotated at sign-in and stored only when they change."""

    def __init__(self, config: ServerSideSessionConfig, secure: Callable[[ASGIConnection], bool]):
        super().__init__(config=config)
        self.secure = secure

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        """Load the session and remember what it held, to store it only once it changes."""
        data = await super().load_from_connection(connection)
        connection.state[_LOADED] = dict(data)
        return data

    def _cookie(self, connection: ASGIConnection, value: str, expired: bool = False) -> str:
        cookie = Cookie(
            key=self.config.key,
            value=value,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure(connection),
            expires=0 if expired else None,
        )
        return cookie.to_header(header="")

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        """Store a changed session (under a new id at sign-in); end an emptied one."""
        store = self.config.get_store_from_app(connection.scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        old_id = connection.cookies.get(self.config.key)
        if scope_session is Empty or not scope_session:
            if old_id:
                await self.delete(old_id, store=store)
                headers.add("Set-Cookie", self._cookie(connection, "null", expired=True))
            return
        rotate = connection.state.get(_ROTATE, False)
        loaded = connection.state.get(_LOADED)
        if not rotate and loaded and scope_session == loaded:
            return
        if rotate or not loaded:
            # Never keep an id the store did not know: it may be one a third party chose.
            if old_id:
                await self.delete(old_id, store=store)
            session_id = secrets.token_hex(self.config.session_id_bytes)
        else:
            session_id = old_id
        await self.set(session_id, self.serialize_data(scope_session, connection.scope), store)
        headers.add("Set-Cookie", self._cookie(connection, session_id))
