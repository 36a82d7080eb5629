"""Every page route of the web app, one module per area."""

from __future__ import annotations

from cocon.web.dashboard import dashboard
from cocon.web.orgs import org_page, org_search

ROUTES = [dashboard, org_search, org_page]
