"""Who a request acts for, and whether its route lets them: sign-in, rights, client address.

- `SignedInMiddleware` (Litestar's authentication middleware) loads the account of the session
  on every request but those of public routes; a session past its absolute timeout, of a user
  since disabled, or whose sessions were ended reads as signed out. It also binds the CSRF
  cookie to the session: a write whose token was handed to another session is refused.
- `require_right`, a guard on the whole app, refuses any route whose handler names no right
  (opt "right") and any user whose role lacks it (cocon.rights).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from functools import cache
from typing import Any

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.handlers import BaseRouteHandler
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.utils.scope.state import ScopeState

from cocon import db
from cocon.rights import Right, may, role_refusal
from cocon.settings import Settings
from cocon.users import Account, load_account

logger = logging.getLogger("cocon.web")
CSRF_COOKIE = "csrftoken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Handler opt of the routes anyone may reach without signing in.
PUBLIC = {"right": Right.PUBLIC, "exclude_from_auth": True}


def needs(right: Right, **opt: Any) -> dict[str, Any]:
    """Return the handler opt that declares the right a route needs."""
    return {"right": right, **opt}


@cache
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # Parsed once per setting: every request asks (the headers middleware, the client address).
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(settings.trusted_proxies))


def client_address(connection: ASGIConnection, settings: Settings) -> str:
    """Return the client's address: the peer's, or from X-Forwarded-For behind a trusted proxy.

    Only addresses added by trusted proxies are believed: the right-most one that is not a
    trusted proxy is the client (anything to its left the client may have made up).
    """
    peer = connection.client.host if connection.client else ""
    if not _trusted(peer, settings):
        return peer
    forwarded = ",".join(connection.headers.getall("x-forwarded-for", []))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, settings):
            return hop
    return hops[0] if hops else peer


def is_https(connection: ASGIConnection, settings: Settings) -> bool:
    """Tell whether the request came over HTTPS (or cookies must be Secure anyway)."""
    if settings.secure_cookies or connection.scope.get("scheme") == "https":
        return True
    peer = connection.client.host if connection.client else ""
    proto = connection.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https" and _trusted(peer, settings)


def token_digest(token: str) -> str:
    """Return what a session keeps of the CSRF token it was handed."""
    return hashlib.sha256(token.encode()).hexdigest()


def session_data(account_id: int, epoch: int) -> dict[str, Any]:
    """Return what a new session holds: who, since when, and no CSRF token bound yet."""
    return {"uid": account_id, "epoch": epoch, "login": time.time(), "csrf": None}


class SignedInMiddleware(AbstractAuthenticationMiddleware):
    """Load the signed-in account of each request; refuse requests that have none."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        """Return the account of the session, or refuse the request as signed out."""
        data = connection.session
        settings: Settings = connection.app.state.settings
        account = None
        uid, epoch, login = data.get("uid"), data.get("epoch"), data.get("login")
        fresh = isinstance(login, int | float) and (
            time.time() - login < settings.session_max_hours * 3600
        )
        if isinstance(uid, int) and isinstance(epoch, int) and fresh:
            account = await to_thread.run_sync(self._load, connection, uid, epoch)
        if account is None:
            connection.clear_session()
            raise NotAuthorizedException()
        self._bind_csrf(connection, data)
        return AuthenticationResult(user=account, auth=data)

    @staticmethod
    def _load(connection: ASGIConnection, uid: int, epoch: int) -> Account | None:
        with db.session_scope(connection.app.state.engine) as session:
            return load_account(session, uid, epoch)

    @staticmethod
    def _bind_csrf(connection: ASGIConnection, data: dict[str, Any]) -> None:
        cookie = connection.cookies.get(CSRF_COOKIE)
        if connection.scope["method"] in SAFE_METHODS:
            issued = ScopeState.from_scope(connection.scope).csrf_token
            if not cookie and isinstance(issued, str) and issued:
                # A token the server makes now is known to no one else: it becomes this
                # session's (the sign-in drops the old cookie, so the first form page makes one).
                data["csrf"] = token_digest(issued)
            return
        if not cookie or data.get("csrf") != token_digest(cookie):
            raise PermissionDeniedException("CSRF token not handed to this session")


def current_account(connection: ASGIConnection) -> Account:
    """Return the account a request acts for (routes that are not public always have one)."""
    account = connection.scope.get("user")
    if not isinstance(account, Account):
        raise NotAuthorizedException()
    return account


def require_right(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Refuse a route that declares no right, and a user whose role lacks the one it declares."""
    right = handler.opt.get("right")
    if handler.http_methods == {"OPTIONS"}:
        return  # Litestar's own answer to OPTIONS: the allowed methods, nothing more
    if not isinstance(right, Right):
        logger.error("route %s declares no right: refused", handler.handler_name)
        raise PermissionDeniedException("no right declared")
    if right is not Right.PUBLIC:
        require(current_account(connection), right)


def require(account: Account, right: Right) -> None:
    """Refuse an action inside a route that needs a further right (e.g. one status change)."""
    if not may(account.role, right):
        raise role_refusal(account.role)


def record_apart(
    connection: ASGIConnection,
    action: str,
    entity: str,
    *,
    code: str | None = None,
    org_id: int | None = None,
    details: dict | None = None,
) -> None:
    """Record an event in the audit trail in a transaction of its own.

    For what the request's own transaction cannot keep: a refusal (it rolls back) or a
    download (it reads from a snapshot).
    """
    from cocon.actors import Actor, act_as
    from cocon.audit import record

    engine = connection.app.state.get("engine")
    if engine is None:
        return
    account = connection.scope.get("user")
    settings: Settings = connection.app.state.settings
    if isinstance(account, Account):
        actor, org_id = account.actor, org_id if org_id is not None else account.org_id
    else:
        actor = Actor(f"anonymous@{client_address(connection, settings)}")
    try:
        with db.session_scope(engine, write=True, data=False) as session:
            act_as(session, actor)
            record(session, action, entity, code=code, org_id=org_id, details=details)
    except Exception:  # the refusal or the download must go on even if the trail is busy
        logger.exception("could not record %s %s in the audit trail", action, entity)

