"""Money pages: allocations and sub-allocations, drawing funding and recording payments.

A blocking check shows its message in the form and nothing is saved; a warning lets the save
through and shows on the page the form leads to, found again from what is stored.
"""

from __future__ import annotations

from litestar import Router

from cocon.web import money_allocations, money_funding, money_reversals

ROUTES = [*money_allocations.ROUTES, *money_funding.ROUTES, *money_reversals.ROUTES]


def router() -> Router:
    """Group the money routes in one router (see cocon.web.projects.router for why)."""
    return Router(path="/", route_handlers=ROUTES)
