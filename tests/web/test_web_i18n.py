"""Choosing a request's language, and the templates' messages in the catalogs."""

from __future__ import annotations

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
