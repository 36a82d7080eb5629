"""Rendered read pages kept while the data stays the same: the pages people open most.

A page is kept under its address, scope, language and user together with the data revision it was
built from (cocon.db bumps the revision in every writing transaction, from the web, the CLI or
an import). Each request reads the current revision, one small query, and builds the page again
only when it changed, so a page never shows data older than the last write. Only pages without
forms are kept: a form carries the visitor's own CSRF token.

A page many requests miss at once (right after a write, every reader of the dashboard) is built
once: the first request builds it, the others with the same key and revision wait for that page
instead of building the same one beside it. This holds within one process; each server process
keeps (and builds) its own pages.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from threading import Lock

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response import Template
from sqlmodel import Session

from cocon import db
from cocon.i18n import current_language
from cocon.models import Org
from cocon.web.auth import current_account

PageKey = tuple[str, int, tuple[tuple[str, str], ...], str, int]


class PageCache:
    """The most recently used pages, each with the revision it was built from."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._pages: OrderedDict[PageKey, tuple[int, str]] = OrderedDict()
        self._building: dict[tuple[PageKey, int], Future[str | None]] = {}
        self._lock = Lock()

    def get(self, key: PageKey, revision: int) -> str | None:
        """Return the page kept under key if it was built from revision."""
        with self._lock:
            kept = self._pages.get(key)
            if kept is None or kept[0] != revision:
                return None
            self._pages.move_to_end(key)
            return kept[1]

    def get_or_build(self, key: PageKey, revision: int, build: Callable[[], str]) -> str:
        """Return the page kept under key for revision, building it once however many ask at once.

        The request that misses first builds; those that miss the same page meanwhile wait for
        its result. If that build fails, the waiting requests try again (one of them builds),
        so one request's failure (a busy database, say) is never handed to the others.
        """
        while True:
            with self._lock:
                kept = self._pages.get(key)
                if kept is not None and kept[0] == revision:
                    self._pages.move_to_end(key)
                    return kept[1]
                flight = self._building.get((key, revision))
                if flight is None:
                    flight = self._building[(key, revision)] = Future()
                    break
            built = flight.result()  # None: that build failed
            if built is not None:
                return built
        html = None
        try:
            html = build()
            self.put(key, revision, html)
            return html
        finally:
            with self._lock:
                del self._building[(key, revision)]
            flight.set_result(html)

    def put(self, key: PageKey, revision: int, html: str) -> None:
        """Keep a page, dropping the least recently used beyond capacity."""
        with self._lock:
            self._pages[key] = (revision, html)
            self._pages.move_to_end(key)
            while len(self._pages) > self.capacity:
                self._pages.popitem(last=False)


def page_key(request: Request, scope: Org) -> PageKey:
    """Name a page by its path, scope, query (less ?lang=), language and the user it was built for.

    The user is part of the key: what a page offers (and whose name its header shows) follows
    the user's role and org, and no page is ever handed to another user.
    """
    query = tuple(sorted((k, v) for k, v in request.query_params.multi_items() if k != "lang"))
    return (request.url.path, scope.id or 0, query, current_language(), current_account(request).id)


def render_page(request: Request, name: str, context: dict) -> str:
    """Render a template as Litestar would for this request."""
    full = Template(name, context=context).create_template_context(request)
    return request.app.template_engine.get_template(name).render(**full)


def cached_page(
    request: Request,
    session: Session,
    scope: Org,
    name: str,
    build_context: Callable[[], dict],
) -> Response:
    """Answer with the kept page if the data has not changed since; else build and keep it."""
    cache: PageCache | None = request.app.state.get("page_cache")
    if cache is None:
        return Response(render_page(request, name, build_context()), media_type=MediaType.HTML)
    revision = db.data_revision(session)
    html = cache.get_or_build(
        page_key(request, scope), revision, lambda: render_page(request, name, build_context())
    )
    return Response(html, media_type=MediaType.HTML)
