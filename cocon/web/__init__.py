"""The web app: server-rendered pages over the same core as the CLI."""

from __future__ import annotations

from cocon.web.app import create_app

__all__ = ["create_app"]
