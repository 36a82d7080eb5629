"""An import never blocks the office: a preview only reads the database, and a write that still
finds it busy past the wait allowed answers 503 with what the user typed kept, never 500.

The app is served with a one-second wait for the database (database_busy_seconds=1), so a
preview that held the write lock for its seconds of checking would turn the saves made
meanwhile into busy answers.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path

import httpx
from sqlalchemy import func, select

from cocon import db
from cocon.models import Project
from cocon.user_models import WaitingUpload
from tests.conftest import another_writer
from tests.liveserver import LiveServer
from tests.web.conftest import SIGNED_IN, signed_client
from tests.web.forms import NEW_PROJECT, csrf_token
from tests.workbooks import many_projects

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WENHUI = "330105017"
# Enough rows that checking them takes seconds (a 100,000-row sheet takes about 17 s).
PREVIEW_ROWS = 30_000
SAVES = 10


def project_codes(url: str, prefix: str) -> list[str]:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            statement = select(Project.code).where(Project.code.startswith(prefix))
            return sorted(session.execute(statement).scalars())
    finally:
        engine.dispose()


def project_count(url: str) -> int:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return session.execute(select(func.count()).select_from(Project)).scalar_one()
    finally:
        engine.dispose()


def test_saves_during_a_large_preview_are_all_saved(fresh_url, backend, tmp_path: Path):
    workbook = many_projects(tmp_path / "big.xlsx", PREVIEW_ROWS).read_bytes()
    server = LiveServer(fresh_url, database_busy_seconds=1)
    server.start()
    cookies = SIGNED_IN[backend]["gongshu-admin"]
    try:
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=120) as client:
            token = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/import").text)[1]
        preview: dict[str, httpx.Response] = {}

        def send_preview() -> None:
            with httpx.Client(base_url=server.url, cookies=cookies, timeout=300) as client:
                preview["response"] = client.post(
                    "/import?lang=en",
                    data={"_csrf_token": token},
                    files={"workbook": ("big.xlsx", workbook, XLSX)},
                )

        def save(number: int) -> int:
            code = f"BUSY-{number:02d}"
            with httpx.Client(base_url=server.url, cookies=cookies, timeout=60) as client:
                response = client.post(
                    "/projects/new?lang=en",
                    data={**NEW_PROJECT, "code": code, "_csrf_token": token},
                )
            return response.status_code

        previewing = threading.Thread(target=send_preview)
        previewing.start()
        time.sleep(1)  # the preview is under way: its rows take seconds to check
        with ThreadPoolExecutor(SAVES) as pool:
            statuses = list(pool.map(save, range(1, SAVES + 1)))
        overlapped = previewing.is_alive()
        previewing.join()
    finally:
        server.stop()
    assert overlapped, "the saves ended before the preview: make PREVIEW_ROWS larger"
    assert statuses == [303] * SAVES
    assert project_codes(fresh_url, "BUSY-") == [f"BUSY-{n:02d}" for n in range(1, SAVES + 1)]
    response = preview["response"]
    assert response.status_code == 200, response.text[:2000]
    assert f"{PREVIEW_ROWS:,}" in response.text  # the preview counted every row to create
    assert project_codes(fresh_url, "BULK-") == []  # and wrote none of them


def test_parallel_uploads_are_all_previewed(fresh_url, backend, tmp_path: Path):
    # Each preview checks its rows for a while; held in the write lock one after another, the
    # later ones would wait past the three seconds allowed.
    uploads = 30
    workbook = many_projects(tmp_path / "some.xlsx", 1000).read_bytes()
    server = LiveServer(fresh_url, database_busy_seconds=3)
    server.start()
    cookies = SIGNED_IN[backend]["gongshu-admin"]
    try:
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=120) as client:
            token = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/import").text)[1]

        def send(_number: int) -> int:
            with httpx.Client(base_url=server.url, cookies=cookies, timeout=300) as client:
                return client.post(
                    "/import",
                    data={"_csrf_token": token},
                    files={"workbook": ("some.xlsx", workbook, XLSX)},
                ).status_code

        with ThreadPoolExecutor(uploads) as pool:
            statuses = list(pool.map(send, range(uploads)))
    finally:
        server.stop()
    assert statuses == [200] * uploads
    engine = db.make_engine(fresh_url)
    try:
        with db.session_scope(engine) as session:
            waiting = session.execute(select(func.count()).select_from(WaitingUpload)).scalar()
    finally:
        engine.dispose()
    assert waiting == uploads


def test_a_save_that_meets_a_busy_database_answers_503_with_the_input_kept(fresh_url, backend):
    before = project_count(fresh_url)
    with signed_client(fresh_url, backend, database_busy_seconds=1) as client:
        token = csrf_token(client, "/projects/new")
        typed = {**NEW_PROJECT, "code": "BUSY-01", "_csrf_token": token}
        with another_writer(fresh_url):
            response = client.post("/projects/new?lang=en", data=typed)
        assert response.status_code == 503, response.text[:2000]
        assert response.headers["retry-after"] == "5"
        html = response.text
        assert "The database is busy; try again" in html
        assert project_count(fresh_url) == before
        # Every field comes back, to be sent again with one click once the database is free.
        form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.S)
        assert unescape(form[1]) == "/projects/new?lang=en"
        kept = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form[2]))
        assert {name: unescape(value) for name, value in kept.items()} == typed
        again = client.post(unescape(form[1]), data=kept, follow_redirects=False)
    assert again.status_code == 303, again.text[:2000]
    assert project_codes(fresh_url, "BUSY-") == ["BUSY-01"]


def test_the_busy_page_is_chinese_by_default(fresh_url, backend):
    with signed_client(fresh_url, backend, database_busy_seconds=1) as client:
        token = csrf_token(client, "/projects/new")
        with another_writer(fresh_url):
            response = client.post(
                "/projects/new", data={**NEW_PROJECT, "code": "BUSY-01", "_csrf_token": token}
            )
    assert response.status_code == 503
    assert "数据库正忙，请稍后再试" in response.text


def test_an_upload_that_meets_a_busy_database_answers_503_and_asks_for_the_file(
    fresh_url, backend, tmp_path: Path
):
    workbook = many_projects(tmp_path / "small.xlsx", 3).read_bytes()
    with signed_client(fresh_url, backend, database_busy_seconds=1) as client:
        token = csrf_token(client, "/import")
        with another_writer(fresh_url):
            response = client.post(
                "/import?lang=en",
                data={"_csrf_token": token},
                files={"workbook": ("small.xlsx", workbook, XLSX)},
            )
    assert response.status_code == 503, response.text[:2000]
    assert "Go back and send the file again in a moment." in response.text
    assert project_codes(fresh_url, "BULK-") == []


def test_a_confirmation_that_meets_a_busy_database_can_be_sent_again(
    fresh_url, backend, tmp_path: Path
):
    workbook = many_projects(tmp_path / "small.xlsx", 3).read_bytes()
    with signed_client(fresh_url, backend, database_busy_seconds=1) as client:
        token = csrf_token(client, "/import")
        preview = client.post(
            "/import?lang=en",
            data={"_csrf_token": token},
            files={"workbook": ("small.xlsx", workbook, XLSX)},
        )
        assert preview.status_code == 200, preview.text[:2000]
        confirm = re.search(r'<form class="confirm" method="post" action="([^"]+)"', preview.text)
        url = unescape(confirm[1])
        with another_writer(fresh_url):
            busy = client.post(url, data={"_csrf_token": token})
        assert busy.status_code == 503, busy.text[:2000]
        assert project_codes(fresh_url, "BULK-") == []
        form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', busy.text, re.S)
        assert unescape(form[1]) == url
        kept = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form[2]))
        again = client.post(unescape(form[1]), data=kept, follow_redirects=False)
    assert again.status_code == 303, again.text[:2000]
    assert project_codes(fresh_url, "BULK-") == ["BULK-000001", "BULK-000002", "BULK-000003"]
