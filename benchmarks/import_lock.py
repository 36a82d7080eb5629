"""Measure how long a web import holds SQLite's write lock: the preview, then the confirmation.

The app runs as its own process (`cocon serve`) on a copy of the demo database; a 100,000-row
projects workbook (benchmarks/excel.py's) is uploaded, previewed and confirmed through the
pages, as an office would. Meanwhile a probe thread tries `BEGIN IMMEDIATE` (what every save
does first) with a 50 ms timeout every 20 ms on its own connection: the time it could not is
the time other saves had to wait. Each --code names a checkout of cocon to serve (default this
one), so the code before a change can be measured beside the code after it:

    .venv/bin/python benchmarks/import_lock.py [--rows 100000] [--code /path/to/old/checkout]
        [--code .] [--out benchmarks/results/import_lock.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.excel import HEADERS, gongshu_communities, make_rows  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "import_lock.md"
USER, PASSWORD = "gongshu-admin", "cocon-demo-2023"  # the demo's (cocon.demo.DEMO_PASSWORD)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROBE_EVERY, PROBE_WAIT = 0.02, 0.05


@dataclass
class Probe:
    """Try to take the write lock again and again; keep when it could and when not."""

    path: Path
    samples: list[tuple[float, bool]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=PROBE_WAIT, isolation_level=None)
        while not self.stop.is_set():
            started = perf_counter()
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                free = True
            except sqlite3.OperationalError:
                free = False
            self.samples.append((started, free))
            time.sleep(PROBE_EVERY)
        connection.close()

    def held(self) -> tuple[float, float]:
        """Return the seconds the lock was held in all, and the longest stretch of them."""
        total = longest = stretch = 0.0
        for (start, free), (after, _next) in zip(self.samples, self.samples[1:], strict=False):
            if free:
                stretch = 0.0
                continue
            total += after - start
            stretch += after - start
            longest = max(longest, stretch)
        return total, longest


def probed(path: Path, action) -> tuple[object, float, float, float]:
    """Run action while a probe watches the lock; return its result, seconds, lock held, longest."""
    probe = Probe(path)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    time.sleep(0.2)
    start = perf_counter()
    result = action()
    seconds = perf_counter() - start
    time.sleep(0.2)
    probe.stop.set()
    thread.join()
    held, longest = probe.held()
    return result, seconds, held, longest


def write_input(path: Path, rows: int) -> None:
    """Write benchmarks/excel.py's projects workbook, every project a draft (an office user's
    import may not approve projects)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("共建项目")
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADERS)
    status = HEADERS.index("状态")
    for index, row in enumerate(make_rows(rows, gongshu_communities()), start=1):
        row[status] = "草稿"
        for column, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(index, column, value)
            elif hasattr(value, "year"):
                sheet.write_datetime(index, column, datetime(value.year, value.month, value.day), dates)
            else:
                sheet.write_number(index, column, value)
    workbook.close()


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cocon(code: Path, env: dict[str, str], *args: str, **popen) -> subprocess.Popen:
    """Start the cocon command line of the checkout at code."""
    command = [sys.executable, "-c", "from cocon.cli import main; main()", *args]
    environ = {**os.environ, **env, "PYTHONPATH": str(code)}
    return subprocess.Popen(command, cwd=code, env=environ, **popen)


def token_of(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html)[1]


def measure(code: Path, work: Path, workbook: Path) -> dict:
    """Serve the checkout at code on a fresh demo database; time and probe preview and confirm."""
    import httpx

    database = work / f"lock-{len(list(work.glob('lock-*')))}.db"
    env = {"COCON_DATABASE_URL": f"sqlite:///{database}", "COCON_LANG": "en"}
    if cocon(code, env, "demo", stdout=subprocess.DEVNULL).wait() != 0:
        raise SystemExit(f"error: `cocon demo` failed in {code}")
    port = free_port()
    log = (work / "server.log").open("ab")
    server = cocon(code, env, "serve", "--port", str(port), stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=600, follow_redirects=True
        ) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    page = client.get("/login")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("error: the server did not start") from None
                    time.sleep(0.2)
            signed = client.post(
                "/login",
                data={"username": USER, "password": PASSWORD, "_csrf_token": token_of(page.text)},
            )
            token = token_of(client.get("/import").text)
            content = workbook.read_bytes()

            def preview():
                return client.post(
                    "/import",
                    data={"_csrf_token": token},
                    files={"workbook": ("big.xlsx", content, XLSX)},
                )

            shown, preview_s, preview_held, preview_longest = probed(database, preview)
            if signed.status_code != 200:
                raise SystemExit(f"error: signing in answered {signed.status_code}")
            if shown.status_code != 200:
                raise SystemExit(f"error: the preview answered {shown.status_code}")
            confirm = re.search(r'<form class="confirm" method="post" action="([^"]+)"', shown.text)
            if confirm is None:
                (work.parent / "import_lock-preview.html").write_text(shown.text, encoding="utf-8")
                raise SystemExit("error: the preview offers no confirmation (problems?)")
            url = confirm[1].replace("&amp;", "&")
            done, confirm_s, confirm_held, confirm_longest = probed(
                database, lambda: client.post(url, data={"_csrf_token": token})
            )
            if done.status_code != 200:
                raise SystemExit(f"error: the confirmation answered {done.status_code}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return {
        "code": describe(code),
        "preview": (preview_s, preview_held, preview_longest),
        "confirm": (confirm_s, confirm_held, confirm_longest),
    }


def describe(code: Path) -> str:
    """Name a checkout by its commit (and whether it has changes not committed)."""
    try:
        described = subprocess.run(
            ["git", "-C", str(code), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        described = "?"
    return f"{code} ({described})"


def report(results: list[dict], rows: int, command: str, loads: tuple) -> str:
    """Return the Markdown report of the runs."""
    lines = [
        "# Write lock held by a web import (SQLite)",
        "",
        f"- Date (end of run): {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average (1, 5, 15 min)"
        f" at the start: {loads[0]}; at the end: {loads[1]}",
        f"- Command: `{command}`",
        f"- Input: {rows:,} new project rows on one sheet (benchmarks/excel.py's workbook), "
        "uploaded to `/import` as the Gongshu admin, previewed, then confirmed; one `cocon serve`"
        " process on a fresh demo database per checkout.",
        f"- Probe: `BEGIN IMMEDIATE` with a {PROBE_WAIT * 1000:.0f} ms timeout every "
        f"{PROBE_EVERY * 1000:.0f} ms on its own connection; \"held\" sums the intervals it "
        "could not take the lock, \"longest\" is the longest such stretch (what one save would "
        "have waited at most).",
        "",
        "| Code | Step | Seconds | Write lock held (s) | Longest stretch (s) |",
        "|---|---|--:|--:|--:|",
    ]
    for result in results:
        for step in ("preview", "confirm"):
            seconds, held, longest = result[step]
            lines.append(
                f"| {result['code']} | {step} | {seconds:.2f} | {held:.2f} | {longest:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--code", type=Path, action="append", help="a checkout of cocon to serve")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    codes = [code.resolve() for code in (args.code or [REPO])]
    start_load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="cocon-lock-") as folder:
        work = Path(folder)
        workbook = work / "input.xlsx"
        write_input(workbook, args.rows)
        results = [measure(code, work, workbook) for code in codes]
    end_load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python benchmarks/import_lock.py " + " ".join(sys.argv[1:])
    text = report(results, args.rows, command.strip(), (start_load, end_load))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
