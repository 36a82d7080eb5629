"""Kept pages: a read page is built once and served again until any write changes the data."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from cocon import db
from cocon.models import Project
from cocon.settings import Settings
from cocon.web import dashboard, pagecache
from cocon.web.pagecache import PageCache
from tests.web.conftest import signed_client


def rename_project(url: str, code: str, name: str) -> None:
    """Change a project's name the way another process (the CLI, an import) would."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            project = session.execute(select(Project).where(Project.code == code)).scalar_one()
            project.name = name
    finally:
        engine.dispose()


def explode(*args, **kwargs):
    raise RuntimeError("the page was built again")


def test_page_cache_serves_a_kept_page_without_building_it(fresh_client, monkeypatch):
    first = fresh_client.get("/?lang=en")
    monkeypatch.setattr(dashboard, "rollup_org", explode)
    again = fresh_client.get("/?lang=en")
    assert again.status_code == 200
    assert again.text == first.text


def test_page_cache_builds_the_page_again_after_a_write_elsewhere(fresh_client, fresh_url):
    assert "Renamed by the CLI" not in fresh_client.get("/projects?lang=en").text
    rename_project(fresh_url, "GS-2023-001", "Renamed by the CLI")
    assert "Renamed by the CLI" in fresh_client.get("/projects?lang=en").text


def test_page_cache_keeps_pages_apart_by_query_and_language(fresh_client):
    english = fresh_client.get("/?lang=en").text
    chinese = fresh_client.get("/?lang=zh_CN").text
    other_year = fresh_client.get("/?lang=en&year=2022").text
    assert english != chinese
    assert "Dashboard for 2022" in other_year
    assert "Dashboard for 2022" not in english


def test_page_cache_off_builds_every_page(fresh_url, backend, monkeypatch):
    with signed_client(fresh_url, backend, page_cache=False) as client:
        assert client.get("/").status_code == 200
        monkeypatch.setattr(dashboard, "rollup_org", explode)
        assert client.get("/").status_code == 500


def test_page_cache_drops_the_least_recently_used_page():
    cache = PageCache(capacity=2)
    cache.put(("/a", 1, (), "en", 1), 7, "a")
    cache.put(("/b", 1, (), "en", 1), 7, "b")
    assert cache.get(("/a", 1, (), "en", 1), 7) == "a"
    cache.put(("/c", 1, (), "en", 1), 7, "c")
    assert cache.get(("/b", 1, (), "en", 1), 7) is None
    assert cache.get(("/a", 1, (), "en", 1), 7) == "a"
    assert cache.get(("/a", 1, (), "en", 1), 8) is None  # built from an older revision


@pytest.mark.parametrize(("raw", "expected"), [("0", False), ("off", False), ("1", True)])
def test_page_cache_setting_reads_the_environment(raw, expected):
    assert Settings.from_env({"COCON_PAGE_CACHE": raw}).page_cache is expected


def test_page_cache_setting_refuses_other_values():
    with pytest.raises(ValueError, match="COCON_PAGE_CACHE"):
        Settings.from_env({"COCON_PAGE_CACHE": "maybe"})


def test_page_cache_builds_a_page_many_miss_at_once_only_once(fresh_client, monkeypatch):
    builds = []
    render = pagecache.render_page

    def slow_render(request, name, context):
        builds.append(name)
        time.sleep(0.3)  # the others ask meanwhile
        return render(request, name, context)

    monkeypatch.setattr(pagecache, "render_page", slow_render)
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(lambda _: fresh_client.get("/?lang=en"), range(8)))
    assert [page.status_code for page in pages] == [200] * 8
    assert len({page.text for page in pages}) == 1
    assert "Dashboard for" in pages[0].text
    assert builds == ["dashboard.html"]


def test_page_cache_lets_the_waiting_build_when_the_first_build_fails():
    cache, key = PageCache(), ("/a", 1, (), "en", 1)
    waiting, builds = threading.Event(), []

    def failing_build():
        builds.append("failed")
        waiting.wait(timeout=5)  # until the second request has asked
        raise RuntimeError("the database was busy")

    def good_build():
        builds.append("built")
        return "page"

    def first():
        with pytest.raises(RuntimeError, match="busy"):
            cache.get_or_build(key, 7, failing_build)

    leader = threading.Thread(target=first)
    leader.start()
    while not builds:  # the first request is building
        time.sleep(0.01)
    follower = ThreadPoolExecutor(max_workers=1).submit(cache.get_or_build, key, 7, good_build)
    time.sleep(0.1)  # the second request joins the build under way
    waiting.set()
    leader.join()
    assert follower.result(timeout=5) == "page"
    assert builds == ["failed", "built"]
    assert cache.get(key, 7) == "page"


def test_page_cache_builds_again_after_a_failed_build():
    cache, key = PageCache(), ("/a", 1, (), "en", 1)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_build(key, 7, lambda: str(1 / 0))
    assert cache.get_or_build(key, 7, lambda: "page") == "page"
    assert cache.get_or_build(key, 8, lambda: "newer") == "newer"
