"""Errors become the site's own pages with the right status, and never show internals."""

from __future__ import annotations

import logging

import pytest

from cocon.errors import ImportFailed, Invalid, NotFound, Refused
from cocon.web import dashboard
from cocon.web.errors import status_of


def test_status_of_maps_core_errors():
    assert status_of(NotFound("x")) == 404
    assert status_of(Invalid("x", field="year")) == 400
    assert status_of(Refused("x")) == 409
    assert status_of(ImportFailed("x", [])) == 400


def test_server_error_is_500_without_stack_trace(client, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM org")

    monkeypatch.setattr(dashboard, "rollup_org", explode)
    with caplog.at_level(logging.ERROR, logger="cocon.web"):
        response = client.get("/")
    assert response.status_code == 500
    html = response.text
    assert 'class="error"' in html and "/static/cocon.css" in html
    for leak in ("Traceback", "RuntimeError", "SELECT", "secret"):
        assert leak not in html
    assert "RuntimeError" in caplog.text  # logged for the administrator


def test_refused_is_409(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise Refused("Not now")

    monkeypatch.setattr(dashboard, "rollup_org", refuse)
    response = client.get("/")
    assert response.status_code == 409
    assert "Not now" in response.text


def test_unknown_route_is_404_in_language(client):
    response = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert '<html lang="en">' in response.text and "Page not found" in response.text


@pytest.mark.parametrize("path", ["/", "/orgs", "/orgs/330105"])
def test_post_to_a_page_is_405_page(client, path):
    response = client.post(path)
    assert response.status_code == 405
    assert 'class="error"' in response.text
