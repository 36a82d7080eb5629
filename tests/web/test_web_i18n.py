"""Choosing a request's language, and the templates' messages in the catalogs."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_dir

from cocon.web.i18n import from_accept_language, negotiate
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh-TW", "zh_CN"),
        ("fr-FR, en;q=0.5", "en"),
        ("en;q=0.4, zh;q=0.8", "zh_CN"),
        ("en;q=0, zh;q=0", None),
        ("fr, de", None),
        ("", None),
        ("en;q=abc", None),
    ],
)
def test_accept_language_picks_supported_language(header, expected):
    assert from_accept_language(header) == expected


def test_negotiate_order_is_query_cookie_header_default():
    assert negotiate("en", "zh_CN", "zh") == "en"
    assert negotiate(None, "en", "zh") == "en"
    assert negotiate("xx", "bad", "en") == "en"
    assert negotiate(None, None, None) == "zh_CN"


def test_templates_extract_with_babel():
    messages = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            REPO / "templates", [("**.html", "jinja2")]
        )
    }
    assert "Failing checks" in messages
    assert "Find an org" in messages
    assert ("%(num)s org found", "%(num)s orgs found") in messages


ENGLISH_PAGES = (
    "/", "/projects", "/allocations", "/partners", "/projects/GS-2023-001",
    "/orgs/330105017", "/orgs/330105017003", "/allocations/GS-2023",
    "/projects/GS-2023-001/funding", "/partners/91330105MA2GL3K724", "/import", "/audit", "/users",
)  # fmt: skip


def _texts(html: str, pattern: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", text).strip() for text in re.findall(pattern, html, re.S)]


def test_english_headers_are_in_sentence_case(client):
    for path in ENGLISH_PAGES:
        response = client.get(f"{path}?lang=en")
        assert response.status_code == 200, path
        html = response.text
        headers = _texts(html, r"<th[^>]*>(.*?)</th>") + _texts(html, r"<dt>(.*?)</dt>")
        lower = [text for text in headers if text[:1].islower()]
        assert not lower, (path, lower)


def test_english_pages_name_unit_types_in_words(client):
    html = client.get("/orgs/330105017003?lang=en").text
    assert "traditional integration" in html
    for path in ("/", "/orgs/330105017003"):
        html = client.get(f"{path}?lang=en").text
        assert not re.search(r"\b[a-z]+(-[a-z]+){1,}-?(flow|integration|reform)\b", html), path
