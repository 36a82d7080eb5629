"""Who an API request acts for: the owner of the personal token it carries, and nothing else.

Only `Authorization: Bearer <token>` authenticates. The web's session, its sign-in middleware
and its CSRF check are switched off on the API's routes (their opt keys, set on the router), so
a session cookie alone never authorizes anything here, and no CSRF token is needed: a browser
never adds the header by itself. Failed tokens are counted per client address (in the
database, like failed sign-ins); past the limit the address gets 429 with Retry-After.
"""

from __future__ import annotations

import time

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.types import Receive, Scope, Send
from sqlalchemy import delete, func, select

from cocon import db
from cocon.api.errors import api_language
from cocon.i18n import use_language
from cocon.rights import Right
from cocon.settings import Settings
from cocon.user_models import LoginFailure
from cocon.users import THROTTLE_WINDOW
from cocon.web.auth import client_address

# The opt of every API route: no web session, no CSRF check, no web sign-in (the token's instead).
API_OPT = {"skip_session": True, "exclude_from_csrf": True, "exclude_from_auth": True}
# The opt key of the API routes anyone may read (the OpenAPI document).
API_PUBLIC_KEY = "api_public"
API_PUBLIC = {"right": Right.PUBLIC, API_PUBLIC_KEY: True}
MAX_FAILED_TOKENS_PER_ADDRESS = 30
FAILURE_KIND = "token"


def bearer_token(connection: ASGIConnection) -> str | None:
    """Return the token of an Authorization: Bearer header, or None."""
    scheme, _space, token = connection.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _failures(session, address: str, since: float) -> int:
    statement = select(func.count(LoginFailure.id)).where(
        LoginFailure.kind == FAILURE_KIND, LoginFailure.key == address, LoginFailure.at >= since
    )
    return int(session.execute(statement).scalar() or 0)


class TokenMiddleware(AbstractAuthenticationMiddleware):
    """Load the account of the request's token; refuse the request without a working one."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle the request in the language of its Accept-Language (no cookie, no ?lang=)."""
        with use_language(api_language(ASGIConnection(scope))):
            await super().__call__(scope, receive, send)

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        """Return the token owner's account, or refuse (401; 429 once an address failed often)."""
        settings: Settings = connection.app.state.settings
        address = client_address(connection, settings)[:200]
        token = bearer_token(connection)
        use = await to_thread.run_sync(self._check, connection, token, address)
        if use is None:
            raise NotAuthorizedException("no working API token")
        return AuthenticationResult(user=use.account, auth=use.token_id)

    @staticmethod
    def _check(connection: ASGIConnection, token: str | None, address: str):
        from cocon.tokens import check_token, mark_used

        engine = connection.app.state.engine
        now = time.time()
        with db.session_scope(engine) as session:
            if _failures(session, address, now - THROTTLE_WINDOW) >= MAX_FAILED_TOKENS_PER_ADDRESS:
                raise TooManyRequestsException(headers={"Retry-After": str(THROTTLE_WINDOW)})
            use = check_token(session, token) if token else None
        if token is None or (use is not None and not use.stale_last_use):
            return use
        with db.session_scope(engine, write=True, data=False) as session:
            if use is None:
                session.execute(
                    delete(LoginFailure).where(
                        LoginFailure.kind == FAILURE_KIND, LoginFailure.at < now - THROTTLE_WINDOW
                    )
                )
                session.add(LoginFailure(kind=FAILURE_KIND, key=address, at=now))
            elif use.stale_last_use:
                mark_used(session, use.token_id)
        return use
