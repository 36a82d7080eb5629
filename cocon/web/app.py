"""create_app(): the Litestar application over one database, built on demand."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from litestar import Litestar, Request
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, Headers, State
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from sqlalchemy import select
from sqlmodel import Session

from cocon import db
from cocon.checks import Policies
from cocon.demo import load_demo
from cocon.models import Org
from cocon.settings import Settings
from cocon.web.errors import EXCEPTION_HANDLERS
from cocon.web.headers import SecurityHeadersMiddleware
from cocon.web.i18n import LanguageMiddleware
from cocon.web.pagecache import PageCache
from cocon.web.pages import route_handlers
from cocon.web.render import STATIC, make_environment

logger = logging.getLogger("cocon.web")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_COOKIE = "csrftoken"


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
    set no cookie. A token cookie that fails its signature (the secret changed, e.g. at a
    restart without COCON_SECRET_KEY) is ignored on those pages and replaced by a fresh one.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = scope["litestar_app"].request_class(scope=scope, receive=receive)
        if scope["method"] not in READ_METHODS:
            if cross_site(request.headers):
                raise PermissionDeniedException("cross-site write refused")
        else:
            handler = scope.get("route_handler")
            if handler is None or not handler.opt.get("csrf_form"):
                await self.app(scope, receive, send)
                return
            cookie = request.cookies.get(CSRF_COOKIE)
            if cookie and self._decode_csrf_token(cookie) is None:
                # Request caches the parsed cookies in the scope: drop the stale one there.
                fresh = {k: v for k, v in request.cookies.items() if k != CSRF_COOKIE}
                ScopeState.from_scope(scope).cookies = fresh
        await super().__call__(scope, receive, send)


def prepare_database(settings: Settings, policies: Policies):
    """Make the engine, migrate, and load the demo into a database without orgs."""
    engine = db.make_engine(settings.database_url)
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

    It commits when the handler returns and rolls back when it raises. The dependency is async
    on purpose: Litestar runs a sync generator's clean-up on a worker thread, and when every
    worker thread waits for a pooled connection, the connections waiting to be given back by
    that clean-up never are (a deadlock under load). Opening a Session does no I/O; the commit
    or rollback at the end is short.
    """
    engine = request.app.state.engine
    with db.session_scope(engine, write=request.method not in READ_METHODS) as session:
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

    def on_shutdown(app: Litestar) -> None:
        engine = app.state.get("engine")
        if engine is not None:
            engine.dispose()

    # Without COCON_SECRET_KEY every start signs tokens anew; stale cookies are then replaced.
    secret = settings.secret_key or secrets.token_hex(32)
    csrf = CSRFConfig(
        secret=secret, cookie_name=CSRF_COOKIE, cookie_samesite="lax", cookie_httponly=True
    )
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        name="static",
        cache_control=CacheControlHeader(max_age=3600, public=True),
    )
    return Litestar(
        route_handlers=[*route_handlers(), static],
        dependencies={
            "session": Provide(provide_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "policies": Provide(provide_policies, sync_to_thread=False),
        },
        middleware=[
            SecurityHeadersMiddleware(),
            LanguageMiddleware(),
            DefineMiddleware(CheckedCSRFMiddleware, config=csrf),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
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
        openapi_config=None,
        debug=False,
    )
