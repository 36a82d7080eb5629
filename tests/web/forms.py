"""Helpers for tests that fill in the site's forms."""

from __future__ import annotations

import re
from html import unescape

from litestar.testing import TestClient

# A new project as an office of Wenhui Street would enter it (the code left to the form).
NEW_PROJECT = {
    "name": "胜利社区四点半课堂",
    "code": "",
    "owner": "330105017",
    "site": "330105017003",
    "category": "child_care",
    "year": "2024",
    "start_date": "2024-03-01",
    "end_date": "2024-06-30",
    "budget": "12万",
    "area_m2": "180",
    "households_served": "600",
    "description": "放学后托管",
}


def csrf_token(client: TestClient, path: str) -> str:
    """GET a page with a form and return its CSRF token (the client keeps the cookie)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return re.search(r'name="_csrf_token" value="([^"]+)"', response.text)[1]


def field_error(html: str, field: str) -> str:
    """Return the error shown beside a form field as text ('' when none)."""
    found = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]*)</p>', html)
    return unescape(found[1]) if found else ""
