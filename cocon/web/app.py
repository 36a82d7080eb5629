"""create_app(): the Litestar application over one database, built on demand."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit

from litestar import Litestar, Request, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, Headers, State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response.base import ASGIResponse
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Receive, Scope, Send
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cocon import db
from cocon.actors import act_as
from cocon.api import api_router, openapi_config
from cocon.checks import Policies
from cocon.demo import load_demo
from cocon.models import Org
from cocon.settings import LOOPBACK_HOSTS, Settings
from cocon.user_models import InstallationSecret
from cocon.users import Account
from cocon.web.auth import CSRF_COOKIE, PUBLIC, SignedInMiddleware, is_https, require_right
from cocon.web.errors import EXCEPTION_HANDLERS
from cocon.web.headers import SecurityHeadersMiddleware
from cocon.web.i18n import LanguageMiddleware
from cocon.web.login import signed_out
from cocon.web.pagecache import PageCache
from cocon.web.pages import route_handlers
from cocon.web.render import STATIC, make_environment
from cocon.web.sessions import SESSION_COOKIE, DatabaseStore, SessionBackend

logger = logging.getLogger("cocon.web")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_NAME = "signing_key"


def cross_site(headers: Headers) -> bool:
    """Tell whether the browser says a request comes from another site (Sec-Fetch-Site, Origin)."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != headers.get("host", "")


class CheckedCSRFMiddleware(CSRFMiddleware):
    """Litestar's token check, after refusing writes the browser marks as cross-site.

    Only pages whose handler has opt csrf_form hand out the token cookie, so the other pages
    set no cookie (and the pages kept for every reader hold no token).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get(self.config.exclude_from_csrf_key):
            # The API's routes: a token in a header, which no browser sends by itself.
            await self.app(scope, receive, send)
            return
        if not self.config.secret:  # known once the app has started (see installation_secret)
            self.config = replace(self.config, secret=scope["litestar_app"].state.secret)
        if scope["method"] not in READ_METHODS:
            if cross_site(Headers.from_scope(scope)):
                raise PermissionDeniedException("cross-site write refused")
        elif handler is None or not handler.opt.get("csrf_form"):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def host_name(header: str) -> str:
    """Return the name in a Host header, without the port ("[::1]:8000" gives "::1")."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else ""
    if text.count(":") > 1:  # an IPv6 address without brackets (in a setting): no port
        return text
    name, _colon, port = text.rpartition(":")
    return name if name and port.isdigit() else text


def host_allowed(header: str | None, allowed: tuple[str, ...]) -> bool:
    """Tell whether a Host header names one of the allowed hosts (any port; "*.x" for subdomains)."""
    name = host_name(header or "")
    if not name:
        return False
    for pattern in allowed:
        pattern = host_name(pattern) if not pattern.startswith("*") else pattern.lower()
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class CoconApp(Litestar):
    """Litestar, refusing other Host headers, answering HEAD wherever GET is answered, and a
    NUL in a path as not found (Litestar's own host check compares the port too)."""

    allowed_host_names: tuple[str, ...] = LOOPBACK_HOSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not host_allowed(Headers.from_scope(scope).get("host"), self.allowed_host_names):
                response = ASGIResponse(body=b"invalid host header", status_code=400)
                await response(scope, receive, send)
                return
            if _holds_nul(scope):
                # No page takes a NUL (and PostgreSQL refuses one in a text parameter); the
                # API answers its own way for what lies under it.
                nowhere = "/api/-/not-found" if scope["path"].startswith("/api/") else "/-/not-found"
                scope = {**scope, "path": nowhere, "raw_path": nowhere.encode()}
            if scope["method"] == "HEAD":
                scope = {**scope, "method": "GET"}
                send = _without_body(send)
        await super().__call__(scope, receive, send)


def _holds_nul(scope: Scope) -> bool:
    raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in raw or b"%00" in raw


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b"", "more_body": message.get("more_body", False)}
        await send(message)

    return send_head


def installation_secret(engine: Engine, settings: Settings) -> str:
    """Return the signing secret: COCON_SECRET_KEY, else one made once and kept in the database.

    Kept, it outlives restarts: a form left open across one still saves.
    """
    if settings.secret_key:
        return settings.secret_key
    with db.session_scope(engine) as session:
        kept = session.get(InstallationSecret, SECRET_NAME)
        if kept is not None:
            return kept.value
    try:
        with db.session_scope(engine) as session:
            session.add(InstallationSecret(name=SECRET_NAME, value=secrets.token_hex(32)))
    except IntegrityError:  # another worker made it first
        pass
    with db.session_scope(engine) as session:
        return session.get(InstallationSecret, SECRET_NAME).value


def prepare_database(settings: Settings, policies: Policies):
    """Make the engine, migrate, and load the demo into a database without orgs."""
    engine = db.make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    db.migrate(engine)
    with db.session_scope(engine) as session:
        empty = session.execute(select(Org.id).limit(1)).first() is None
    if empty:
        logger.info("the database has no orgs: loading the Gongshu demo")
        with db.session_scope(engine, write=True) as session:
            load_demo(session, policies=policies)
    return engine


async def provide_session(request: Request) -> AsyncIterator[Session]:
    """Give the handler a session: reading for GET/HEAD, writing for the rest.

    A handler with opt late_write (see LATE_WRITE) gets a reading session and calls
    db.begin_writing before it writes: it reads and checks at length first, and other writers
    should not wait for that.

    It commits when the handler returns and rolls back when it raises. The dependency is async
    on purpose: Litestar runs a sync generator's clean-up on a worker thread, and when every
    worker thread waits for a pooled connection, the connections waiting to be given back by
    that clean-up never are (a deadlock under load). Opening a Session does no I/O; the commit
    or rollback at the end is short.
    """
    engine = request.app.state.engine
    write = request.method not in READ_METHODS and not request.route_handler.opt.get("late_write")
    with db.session_scope(engine, write=write) as session:
        account = request.scope.get("user")
        if isinstance(account, Account):
            act_as(session, account.actor)
        yield session


def provide_settings(state: State) -> Settings:
    """Give the handler the installation's settings."""
    return state.settings


def provide_policies(state: State) -> Policies:
    """Give the handler the block/warn policy of each money check."""
    return state.policies


def create_app(settings: Settings) -> Litestar:
    """Build the web app; the database is prepared when the app starts, not before."""
    policies = Policies(settings.check_policies)

    def on_startup(app: Litestar) -> None:
        app.state.engine = prepare_database(settings, policies)
        app.state.secret = installation_secret(app.state.engine, settings)

    def on_shutdown(app: Litestar) -> None:
        engine = app.state.get("engine")
        if engine is not None:
            engine.dispose()

    csrf = CSRFConfig(
        secret="",  # set from app.state.secret at the first request
        cookie_name=CSRF_COOKIE,
        cookie_samesite="lax",
        cookie_httponly=True,
        cookie_secure=settings.secure_cookies,
    )
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        name="static",
        cache_control=CacheControlHeader(max_age=3600, public=True),
        opt=PUBLIC,
    )
    sessions = ServerSideSessionConfig(
        key=SESSION_COOKIE,
        max_age=settings.session_idle_minutes * 60,
        renew_on_access=True,
        store="sessions",
    )
    backend = SessionBackend(sessions, secure=lambda connection: is_https(connection, settings))
    app = CoconApp(
        # The pages are left out of the OpenAPI document, which describes the API alone.
        route_handlers=[
            Router(path="/", route_handlers=route_handlers(), include_in_schema=False),
            static,
            api_router(),
        ],
        dependencies={
            "session": Provide(provide_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "policies": Provide(provide_policies, sync_to_thread=False),
        },
        middleware=[
            SecurityHeadersMiddleware(settings),
            LanguageMiddleware(),
            DefineMiddleware(SessionMiddleware, backend=backend),
            DefineMiddleware(CheckedCSRFMiddleware, config=csrf),
            DefineMiddleware(SignedInMiddleware, exclude_from_auth_key="exclude_from_auth"),
        ],
        guards=[require_right],
        stores={"sessions": DatabaseStore(lambda: app.state.engine)},
        exception_handlers={**EXCEPTION_HANDLERS, NotAuthorizedException: signed_out},
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(make_environment())
        ),
        state=State(
            {
                "settings": settings,
                "policies": policies,
                "page_cache": PageCache() if settings.page_cache else None,
            }
        ),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=openapi_config(),
        debug=False,
    )
    app.allowed_host_names = settings.allowed_hosts
    return app
