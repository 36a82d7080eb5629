"""The app under concurrent load, served for real: every request answered, none stuck."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.liveserver import LiveServer
from tests.web.conftest import SIGNED_IN

# More requests at once than the connection pool (5 + 10) and Litestar's worker threads (40).
CLIENTS = 50


@pytest.fixture
def live(demo_database_url: str) -> Iterator[LiveServer]:
    """Serve the demo database with uvicorn on a free port."""
    server = LiveServer(demo_database_url)
    server.start()
    yield server
    server.stop()


def test_concurrent_page_requests_all_answer(live, backend):
    cookies = SIGNED_IN[backend]["gongshu-admin"]
    start = threading.Barrier(CLIENTS)

    def fetch(index: int) -> int:
        path = ("/", "/projects", "/orgs/330105001", "/allocations")[index % 4]
        with httpx.Client(base_url=live.url, timeout=25, cookies=cookies) as client:
            start.wait()
            return client.get(path).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(fetch, range(CLIENTS)))
    assert statuses == [200] * CLIENTS
