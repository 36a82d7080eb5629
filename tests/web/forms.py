"""Helpers for tests that fill in the site's forms."""

from __future__ import annotations

import re
from html import unescape

from litestar.testing import TestClient


def csrf_token(client: TestClient, path: str) -> str:
    """GET a page with a form and return its CSRF token (the client keeps the cookie)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return re.search(r'name="_csrf_token" value="([^"]+)"', response.text)[1]


def field_error(html: str, field: str) -> str:
    """Return the error shown beside a form field as text ('' when none)."""
    found = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', html)
    return unescape(found[1]) if found else ""
