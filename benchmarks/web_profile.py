"""Profile one page server-side: time per handler step, per SQL statement, and a cProfile.

The app runs in this process under litestar.testing.TestClient against the database given, signed
in as the benchmark's admin of the district (benchmarks/web.py adds it); one client asks for the
page --requests times after a warm-up. The page cache is on or off as --page-cache says (by
default as COCON_PAGE_CACHE says, on when unset): with it off every request builds the page, which
is what a first call after a write costs. Reported, per request on average:
  - each function the handler's module calls and the render (inclusive time; a step called
    inside another is shown under it as "outer › inner");
  - each distinct SQL statement (count, time, the step that issued it) with its query plan;
  - the cProfile of handler + render over a second round of as many requests (top functions by
    own and by cumulative time), so the profiler's overhead stays out of the timings above.
Run from the repository root:

    .venv/bin/python benchmarks/web_profile.py --db FILE --path '/?org=330105&year=2023' \
        [--page-cache on|off]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import inspect
import io
import logging
import os
import pstats
import re
import sqlite3
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DB = Path("/tmp/web-national.db")


@dataclass
class Tally:
    """Calls and seconds of one step or statement."""

    calls: int = 0
    seconds: float = 0.0
    steps: set[str] = field(default_factory=set)
    example: tuple[str, Any] | None = None


class Recorder:
    """Collects step and statement timings across the server's threads."""

    def __init__(self) -> None:
        self.timing = False  # time steps and statements
        self.profiling = False  # run handler and render under cProfile
        self.steps: dict[str, Tally] = defaultdict(Tally)
        self.statements: dict[str, Tally] = defaultdict(Tally)
        self.local = threading.local()
        self.profiler = cProfile.Profile()
        self.lock = threading.Lock()

    def step(self, name: str, function, *, outer: bool = False):
        """Wrap function so its calls are timed as step name, nested under the step calling it.

        An outer step (the whole handler) is timed but leaves the steps inside it their names.
        """

        @functools.wraps(function)
        def timed(*args, **kwargs):
            if not self.timing:
                return function(*args, **kwargs)
            stack = self.local.__dict__.setdefault("steps", [])
            if outer:
                start = perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.steps[name].calls += 1
                    self.steps[name].seconds += perf_counter() - start
            stack.append(name)
            qualified = " › ".join(stack)
            start = perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                tally = self.steps[qualified]
                tally.calls += 1
                tally.seconds += perf_counter() - start
                stack.pop()

        return timed

    def current_step(self) -> str:
        """Return the innermost step running in this thread (the one a statement belongs to)."""
        stack = self.local.__dict__.get("steps")
        return " › ".join(stack) if stack else "(outside the steps)"

    def profiled(self, function):
        """Wrap function so it runs under the cProfile profiler (in whatever thread calls it).

        Calls nest (the render runs inside the handler when the page is built): only the
        outermost one turns the profiler on, so the lock is never taken twice by one thread.
        """

        @functools.wraps(function)
        def run(*args, **kwargs):
            if not self.profiling or getattr(self.local, "profiled", False):
                return function(*args, **kwargs)
            with self.lock:
                self.local.profiled = True
                self.profiler.enable()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.profiler.disable()
                    self.local.profiled = False

        return run

    def before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        """Note when a statement starts."""
        conn.info.setdefault("bench_start", []).append(perf_counter())

    def after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        """Add a finished statement's time to its tally."""
        elapsed = perf_counter() - conn.info["bench_start"].pop()
        if not self.timing:
            return
        key = re.sub(r"\s+", " ", statement).strip()
        tally = self.statements[key]
        tally.calls += 1
        tally.seconds += elapsed
        tally.steps.add(self.current_step())
        if tally.example is None:
            tally.example = (statement, parameters)


def query_plan(db: Path, statement: str, parameters: Any) -> str:
    """Return SQLite's query plan for a statement, one line per step."""
    try:
        with sqlite3.connect(db) as connection:
            rows = connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
    except sqlite3.Error as error:
        return f"(no plan: {error})"
    return "; ".join(row[-1] for row in rows)


def handler_for(app, path: str):
    """Return the route handler that answers GET path."""
    route_path = path.split("?", 1)[0]
    matches = []
    for route in app.routes:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", route.path)
        for handler in getattr(route, "route_handlers", []):
            if "GET" in (handler.http_methods or ()) and re.fullmatch(pattern, route_path):
                matches.append((route.path.count("{"), handler))
    if matches:
        return min(matches, key=lambda match: match[0])[1]
    raise SystemExit(f"error: no GET handler for {route_path}")


def sign_in(client) -> None:
    """Sign in through the login form as the benchmark's admin of the district."""
    from benchmarks.web import BENCH_PASSWORD, BENCH_USER

    page = client.get("/login").text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)[1]
    form = {"username": BENCH_USER, "password": BENCH_PASSWORD, "_csrf_token": token}
    response = client.post("/login", data=form, follow_redirects=False)
    if response.status_code != 303:
        raise SystemExit(
            f"error: signing in as {BENCH_USER} answered {response.status_code};"
            " add the user with benchmarks/web.py (it adds it to the databases it prepares)"
        )


def profile(
    db: Path, paths: list[str], requests: int, warmup: int, top: int, *, page_cache: bool
) -> str:
    """Profile each path and return a Markdown report."""
    import jinja2
    from litestar.testing import TestClient
    from litestar.utils.sync import AsyncCallable
    from sqlalchemy import event

    from cocon.settings import Settings
    from cocon.web import create_app

    recorder = Recorder()
    os.environ.pop("COCON_DATABASE_URL", None)
    settings = Settings(
        database_url=f"sqlite:///{db}",
        language="zh_CN",
        page_cache=page_cache,
        allowed_hosts=("testserver.local",),
        session_idle_minutes=24 * 60,
    )
    app = create_app(settings)
    handlers = {path: handler_for(app, path) for path in paths}
    # Wrap each handler's function (runs in a worker thread), the cocon functions its module
    # calls, and Jinja's render (runs in the event loop thread).
    for handler in {id(h): h for h in handlers.values()}.values():
        if not isinstance(handler.fn, AsyncCallable):
            raise SystemExit(f"error: {handler.name} is not a sync_to_thread handler")
        original = handler.fn.func
        module = sys.modules[original.__module__]
        for name, value in list(vars(module).items()):
            if (
                inspect.isfunction(value)
                and value.__module__.startswith("cocon.")
                and value is not original
                and not name.startswith("_")
            ):
                setattr(module, name, recorder.step(name, value))
        whole = recorder.step(f"handler {original.__name__}() in all", original, outer=True)
        handler.fn.func = recorder.profiled(whole)
    original_render = jinja2.Template.render
    jinja2.Template.render = recorder.profiled(recorder.step("render template", original_render))
    cache = "on (kept pages served)" if page_cache else "off (every page built anew)"
    out = [
        f"Database: `{db}`; {requests} sequential requests per page after {warmup} warm-up;"
        f" page cache {cache}.",
        "",
    ]
    with TestClient(app, base_url="http://testserver.local") as client:
        for noisy in ("httpx", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        sign_in(client)
        engine = app.state.engine
        event.listen(engine, "before_cursor_execute", recorder.before)
        event.listen(engine, "after_cursor_execute", recorder.after)
        for path in paths:
            for _ in range(warmup):
                check(client.get(path, follow_redirects=False), path)
            recorder.steps.clear()
            recorder.statements.clear()
            recorder.profiler = cProfile.Profile()
            # First the timings without the profiler's overhead, then the same under cProfile.
            recorder.timing = True
            start = perf_counter()
            for _ in range(requests):
                check(client.get(path, follow_redirects=False), path)
            total = (perf_counter() - start) / requests
            recorder.timing, recorder.profiling = False, True
            for _ in range(requests):
                check(client.get(path, follow_redirects=False), path)
            recorder.profiling = False
            out += report(db, path, total, recorder, requests, top)
    jinja2.Template.render = original_render
    return "\n".join(out)


def check(response, path: str) -> None:
    """Stop unless the page answered 200 (a redirect to the login page would profile that)."""
    if response.status_code != 200:
        raise SystemExit(f"error: {path} answered {response.status_code}")


def report(db: Path, path: str, total: float, recorder: Recorder, n: int, top: int) -> list[str]:
    """Return the Markdown section for one profiled path."""
    ms = 1000 / n
    sql_total = sum(t.seconds for t in recorder.statements.values())
    lines = [
        f"### `{path}`",
        "",
        f"Whole request (TestClient, in process): {total * 1000:.1f} ms; SQL: {sql_total * ms:.1f} ms"
        f" in {sum(t.calls for t in recorder.statements.values()) / n:.0f} statements.",
        "",
        "| Step | Calls / request | ms / request | Share of request |",
        "|---|--:|--:|--:|",
    ]
    for name, tally in sorted(recorder.steps.items(), key=lambda item: -item[1].seconds):
        lines.append(
            f"| {name} | {tally.calls / n:.1f} | {tally.seconds * ms:.1f} |"
            f" {100 * tally.seconds / n / total:.0f} % |"
        )
    lines += [
        "",
        "| SQL statement (start) | Step | Calls / request | ms / request | Share of request | Plan |",
        "|---|---|--:|--:|--:|---|",
    ]
    for statement, tally in sorted(recorder.statements.items(), key=lambda item: -item[1].seconds)[
        :10
    ]:
        plan = query_plan(db, *tally.example) if tally.example else ""
        lines.append(
            f"| `{statement[:160].replace('|', '¦')}{'…' if len(statement) > 160 else ''}` |"
            f" {', '.join(sorted(tally.steps))} | {tally.calls / n:.1f} | {tally.seconds * ms:.1f} |"
            f" {100 * tally.seconds / n / total:.0f} % | {plan.replace('|', '¦')[:300]} |"
        )
    for order in ("tottime", "cumulative"):
        buffer = io.StringIO()
        stats = pstats.Stats(recorder.profiler, stream=buffer)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        body = buffer.getvalue()
        body = body[body.find("   ncalls") :] if "   ncalls" in body else body
        lines += ["", f"cProfile of handler + render, top {top} by {order} ({n} requests):", ""]
        lines += ["```", body.rstrip(), "```"]
    lines.append("")
    return lines


def main() -> None:
    """Profile the pages given and print (or write) the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--path", action="append", help="page to profile (repeatable)")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--page-cache",
        choices=["on", "off"],
        default=None,
        help="serve kept pages (on) or build every page (off); default: as COCON_PAGE_CACHE says",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.page_cache is None:
        from cocon.settings import Settings

        page_cache = Settings.from_env().page_cache
    else:
        page_cache = args.page_cache == "on"
    if not args.db.exists():
        raise SystemExit(f"error: no database at {args.db}")
    text = profile(
        args.db,
        args.path or ["/?org=330105&year=2023"],
        args.requests,
        args.warmup,
        args.top,
        page_cache=page_cache,
    )
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
