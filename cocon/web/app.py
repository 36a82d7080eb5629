"""create_app(): the Litestar application over one database, built on demand."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from litestar import Litestar, Request
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
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
from cocon.web.pages import ROUTES
from cocon.web.render import STATIC, make_environment

logger = logging.getLogger("cocon.web")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def provide_session(request: Request) -> Iterator[Session]:
    """Give the handler a session: reading for GET/HEAD, writing for the rest.

    It commits when the handler returns and rolls back when it raises.
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

    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        name="static",
        cache_control=CacheControlHeader(max_age=3600, public=True),
    )
    return Litestar(
        route_handlers=[*ROUTES, static],
        dependencies={
            "session": Provide(provide_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "policies": Provide(provide_policies, sync_to_thread=False),
        },
        middleware=[SecurityHeadersMiddleware(), LanguageMiddleware()],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(make_environment())
        ),
        state=State({"settings": settings, "policies": policies}),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=None,
        debug=False,
    )
