"""The web app: server-rendered pages over the same core as the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cocon.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    """Import the app on first use, so importing one page module does not build all of them."""
    if name == "create_app":
        from cocon.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
