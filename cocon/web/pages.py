"""Every page route of the web app, one module per area."""

from __future__ import annotations

from litestar.handlers import BaseRouteHandler
from litestar.router import Router

from cocon.web import audit, login, money, partners, projects, review, transfer, users
from cocon.web.dashboard import dashboard
from cocon.web.orgs import org_page, org_search

ROUTES = [dashboard, org_search, org_page]


def route_handlers() -> list[BaseRouteHandler | Router]:
    """Return the page routes and the routers of each area, for create_app."""
    return [
        *ROUTES,
        *login.ROUTES,
        projects.router(),
        review.router(),
        partners.router(),
        money.router(),
        transfer.router(),
        users.router(),
        audit.router(),
    ]
