"""Time cocon's Excel export and import of 100,000 projects against pandas and hand-written code.

Export: cocon's finance workbook (all sheets; its Projects sheet holds the 100,000 rows) against
pandas DataFrame.to_excel of the same project rows (openpyxl and xlsxwriter engines) and the
fastest plain writes by hand (xlsxwriter constant_memory, openpyxl write-only).
Import: cocon import of a 100,000-row projects workbook (read, check every row, write to the
database) against pandas read_excel of the same file (openpyxl and calamine engines) and plain
reads by hand (openpyxl read-only, python-calamine). Every contender runs in its own process;
peak RSS is that process's own. With --memory-rows N the export contenders run again on a
database of N projects (the import ones on an N-row workbook), to show whether memory grows with the rows. Run from the repository
root (needs the `bench` extra):

    .venv/bin/python benchmarks/excel.py [--rows 100000] [--repeat 3] [--only export]
        [--memory-rows 50000] [--out benchmarks/results/excel.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from time import perf_counter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.load_divisions import peak_rss_mib  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "excel.md"
# An admin URL of a PostgreSQL server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres):
# with it, the import also runs into a database made there for the run.
POSTGRES_ENV = "COCON_BENCH_POSTGRES_URL"
HEADERS = ["项目编号", "项目名称", "牵头单位", "实施社区", "项目类别", "年度", "状态", "开始日期",
           "结束日期", "预算金额（元）", "面积（平方米）", "受益户数", "项目简介"]  # fmt: skip
CATEGORIES = [
    "场地改造",
    "养老服务",
    "儿童服务（托育）",
    "文体设施",
    "党群服务",
    "基层治理",
    "其他",
]
# Seconds before issue 13 (the hand-written reader, the export's private fast path), same machine.
IMPORT_BEFORE, EXPORT_BEFORE = 9.25, 3.78
STATUSES = ["草稿", "已申报", "已批准", "实施中", "已完成"]


def make_rows(rows: int, communities: list[tuple[str, str]]) -> list[list]:
    """Return project rows as an office would type them (fixed seed)."""
    rng = random.Random(2023)
    result = []
    for number in range(1, rows + 1):
        site, street = rng.choice(communities)
        owner = rng.choice((site, street, "330105"))
        result.append(
            [f"B-{number:06d}", f"共建项目{number}", owner, site, rng.choice(CATEGORIES), 2023,
             rng.choice(STATUSES), date(2023, 3, 1), date(2023, 11, 30), rng.randint(3, 60) * 10_000,
             rng.randint(50, 5000), rng.randint(10, 3000), ""]
        )  # fmt: skip
    return result


def gongshu_communities() -> list[tuple[str, str]]:
    """Return (community code, street code) of the demo slice."""
    import csv

    with (REPO / "imports" / "divisions" / "villages.csv").open(encoding="utf-8") as handle:
        return [(row["code"], row["streetCode"]) for row in csv.DictReader(handle)]


def write_input(path: Path, rows: int) -> None:
    """Write the 100,000-row import workbook (a projects sheet) with xlsxwriter."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("共建项目")
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADERS)
    for index, row in enumerate(make_rows(rows, gongshu_communities()), start=1):
        for column, value in enumerate(row):
            if isinstance(value, date):
                sheet.write_datetime(
                    index, column, datetime(value.year, value.month, value.day), dates
                )
            elif isinstance(value, str):
                sheet.write_string(index, column, value)
            else:
                sheet.write_number(index, column, value)
    workbook.close()


# --- contenders, each in its own process


def run_cocon_import(work: Path) -> dict:
    """Import the workbook into a fresh copy of the demo database."""
    from cocon.checks import DEFAULT
    from cocon.db import make_engine, session_scope
    from cocon.workbook.importer import import_source

    shutil.copy(work / "demo.db", work / "bench.db")
    engine = make_engine(f"sqlite:///{work / 'bench.db'}")
    start = perf_counter()
    with session_scope(engine, write=True) as session:
        report = import_source(session, work / "input.xlsx", DEFAULT)
    seconds = perf_counter() - start
    created = sum(s.created for s in report.sheets)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file copied next
    shutil.copy(work / "bench.db", work / "imported.db")
    return {"seconds": seconds, "peak_mib": peak_rss_mib(), "rows": created}


def run_cocon_import_postgres(work: Path) -> dict:
    """Import the workbook into a fresh PostgreSQL database holding the demo."""
    from sqlalchemy import create_engine, make_url, text

    from cocon.checks import DEFAULT
    from cocon.db import make_engine, migrate, session_scope
    from cocon.demo import load_demo
    from cocon.workbook.importer import import_source

    admin_url = os.environ[POSTGRES_ENV]
    name = f"cocon_excel_bench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(
        make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    )
    try:
        migrate(engine)
        with session_scope(engine, write=True) as session:
            load_demo(session)
        start = perf_counter()
        with session_scope(engine, write=True) as session:
            report = import_source(session, work / "input.xlsx", DEFAULT)
        seconds = perf_counter() - start
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    created = sum(s.created for s in report.sheets)
    return {"seconds": seconds, "peak_mib": peak_rss_mib(), "rows": created}


def run_pandas_read(work: Path, engine: str) -> dict:
    """Read the workbook into a DataFrame."""
    import pandas

    start = perf_counter()
    frame = pandas.read_excel(work / "input.xlsx", sheet_name="共建项目", engine=engine)
    return {"seconds": perf_counter() - start, "peak_mib": peak_rss_mib(), "rows": len(frame)}


def run_openpyxl_read(work: Path) -> dict:
    """Iterate every cell value with openpyxl in read-only mode."""
    from openpyxl import load_workbook

    start = perf_counter()
    workbook = load_workbook(work / "input.xlsx", read_only=True, data_only=True)
    rows = sum(1 for _ in workbook["共建项目"].iter_rows(values_only=True)) - 1
    workbook.close()
    return {"seconds": perf_counter() - start, "peak_mib": peak_rss_mib(), "rows": rows}


def run_calamine_read(work: Path) -> dict:
    """Read every cell value with python-calamine."""
    from python_calamine import CalamineWorkbook

    start = perf_counter()
    rows = (
        CalamineWorkbook.from_path(str(work / "input.xlsx"))
        .get_sheet_by_name("共建项目")
        .to_python()
    )
    return {"seconds": perf_counter() - start, "peak_mib": peak_rss_mib(), "rows": len(rows) - 1}


def project_rows(engine) -> list[tuple]:
    """Return the project rows as the export's Projects sheet shows them."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT p.code, p.name, o.code, s.code, p.category, p.year, p.status, p.start_date,"
                " p.end_date, p.budget_fen / 100.0, p.area_m2, p.households_served, p.description"
                " FROM project p JOIN org o ON o.id = p.owner_id JOIN org s ON s.id = p.site_id"
                " ORDER BY p.code"
            )
        ).all()


def bench_engine(work: Path):
    """Return an engine on the imported database, made before any timing starts."""
    from cocon.db import make_engine  # importing cocon.db takes a second or two: not timed

    return make_engine(f"sqlite:///{work / 'imported.db'}")


def run_cocon_export(work: Path) -> dict:
    """Export finance's workbook for the whole tree, 2023."""
    from cocon.db import make_engine, session_scope
    from cocon.workbook.exporter import export_workbook

    engine = make_engine(f"sqlite:///{work / 'imported.db'}")
    start = perf_counter()
    with session_scope(engine) as session:
        summary = export_workbook(session, work / "export.xlsx", root=None, year=2023)
    return {
        "seconds": perf_counter() - start,
        "peak_mib": peak_rss_mib(),
        "rows": summary.total_rows,
    }


def run_pandas_write(work: Path, engine: str) -> dict:
    """Write the project rows with DataFrame.to_excel (the query is included, as in cocon's)."""
    import pandas

    database = bench_engine(work)
    start = perf_counter()
    frame = pandas.DataFrame(project_rows(database), columns=HEADERS)
    frame.to_excel(
        work / f"pandas-{engine}.xlsx", sheet_name="共建项目", index=False, engine=engine
    )
    return {"seconds": perf_counter() - start, "peak_mib": peak_rss_mib(), "rows": len(frame)}


def run_xlsxwriter_write(work: Path) -> dict:
    """Write the project rows by hand with xlsxwriter in constant-memory mode."""
    import xlsxwriter

    engine = bench_engine(work)
    start = perf_counter()
    rows = project_rows(engine)
    workbook = xlsxwriter.Workbook(str(work / "hand-xlsxwriter.xlsx"), {"constant_memory": True})
    sheet = workbook.add_worksheet("共建项目")
    sheet.write_row(0, 0, HEADERS)
    for index, row in enumerate(rows, start=1):
        sheet.write_row(index, 0, [str(v) if isinstance(v, date) else v for v in row])
    workbook.close()
    return {"seconds": perf_counter() - start, "peak_mib": peak_rss_mib(), "rows": len(rows)}


def run_openpyxl_write(work: Path) -> dict:
    """Write the project rows by hand with openpyxl in write-only mode."""
    from openpyxl import Workbook

    engine = bench_engine(work)
    start = perf_counter()
    rows = project_rows(engine)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("共建项目")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(list(row))
    workbook.save(work / "hand-openpyxl.xlsx")
    return {"seconds": perf_counter() - start, "peak_mib": peak_rss_mib(), "rows": len(rows)}


CONTENDERS = {
    "cocon_import": (
        "import",
        "cocon import (read, check every row, write to SQLite)",
        run_cocon_import,
    ),
    "cocon_import_postgres": (
        "import",
        "cocon import, to PostgreSQL (with COCON_BENCH_POSTGRES_URL)",
        run_cocon_import_postgres,
    ),
    "pandas_read_openpyxl": (
        "import",
        "pandas read_excel (openpyxl)",
        lambda w: run_pandas_read(w, "openpyxl"),
    ),
    "pandas_read_calamine": (
        "import",
        "pandas read_excel (calamine)",
        lambda w: run_pandas_read(w, "calamine"),
    ),
    "openpyxl_read": ("import", "by hand: openpyxl read-only iteration", run_openpyxl_read),
    "calamine_read": ("import", "by hand: python-calamine to_python", run_calamine_read),
    "cocon_export": ("export", "cocon export (finance workbook, all sheets)", run_cocon_export),
    "pandas_write_openpyxl": (
        "export",
        "pandas to_excel (openpyxl)",
        lambda w: run_pandas_write(w, "openpyxl"),
    ),
    "pandas_write_xlsxwriter": (
        "export",
        "pandas to_excel (xlsxwriter)",
        lambda w: run_pandas_write(w, "xlsxwriter"),
    ),
    "xlsxwriter_write": ("export", "by hand: xlsxwriter constant_memory", run_xlsxwriter_write),
    "openpyxl_write": ("export", "by hand: openpyxl write-only", run_openpyxl_write),
}


# The contenders run again on --memory-rows rows, to show whether memory grows with the rows.
MEMORY_KINDS = {
    "import": ["cocon_import", "pandas_read_calamine", "calamine_read"],
    "export": ["cocon_export", "pandas_write_xlsxwriter", "xlsxwriter_write"],
}


def spawn(kind: str, work: Path) -> dict:
    """Run one contender in a fresh process and return what it measured."""
    command = [sys.executable, __file__, "--child", kind, "--work", str(work)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {kind} failed:\n{done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(work: Path, rows: int) -> None:
    """Make the demo database and the input workbook."""
    from cocon.db import make_engine, migrate, session_scope
    from cocon.demo import load_demo

    engine = make_engine(f"sqlite:///{work / 'demo.db'}")
    migrate(engine)
    with session_scope(engine, write=True) as session:
        load_demo(session)
    engine.dispose()
    write_input(work / "input.xlsx", rows)


def run_round(kinds: list[str], work: Path, repeat: int) -> dict[str, list[dict]]:
    """Run the contenders back to back, repeat rounds of them, so load hits them alike."""
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _round in range(repeat):
        for kind in kinds:
            runs[kind].append(spawn(kind, work))
    return runs


def median(runs: list[dict]) -> dict:
    """Return the median seconds and the highest peak of runs."""
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "rows": runs[0]["rows"],
        "each": [r["seconds"] for r in runs],
    }


def table(group: str, results: dict[str, dict]) -> list[str]:
    """Return the Markdown table of one group, with ratios to both pandas engines."""
    pandas = (
        ("pandas_read_openpyxl", "pandas_read_calamine")
        if group == "import"
        else ("pandas_write_xlsxwriter", "pandas_write_openpyxl")
    )
    engines = [kind.rsplit("_", 1)[1] for kind in pandas]
    lines = [
        f"| Contender | Seconds (median) | Each run | Peak RSS MiB | Rows | × pandas {engines[0]} "
        f"| × pandas {engines[1]} |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for kind, (kind_group, label, _run) in CONTENDERS.items():
        if kind_group != group or kind not in results:
            continue
        measure = results[kind]
        ratios = [measure["seconds"] / results[base]["seconds"] for base in pandas]
        each = ", ".join(f"{s:.2f}" for s in measure["each"])
        lines.append(
            f"| {label} | {measure['seconds']:.2f} | {each} | {measure['peak_mib']:.0f} "
            f"| {measure['rows']:,} | {ratios[0]:.2f} | {ratios[1]:.2f} |"
        )
    return [*lines, ""]


def main() -> None:
    """Run every contender and write the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every contender")
    parser.add_argument("--only", choices=("all", "import", "export"), default="all")
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=0,
        help="also run the fastest contenders of each group on this many rows",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", choices=sorted(CONTENDERS))
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CONTENDERS[args.child][2](args.work)))
        return
    groups = ("import", "export") if args.only == "all" else (args.only,)
    start_load = os.getloadavg()
    results: dict[str, dict] = {}
    memory: dict[str, dict[int, dict[str, dict]]] = {}
    with tempfile.TemporaryDirectory(prefix="cocon-excel-bench-") as folder:
        work = Path(folder)
        prepare(work, args.rows)
        size = (work / "input.xlsx").stat().st_size
        if "import" not in groups:
            spawn("cocon_import", work)  # the export reads the database the import writes
        for group in groups:
            kinds = [
                kind
                for kind, spec in CONTENDERS.items()
                if spec[0] == group
                and (kind != "cocon_import_postgres" or POSTGRES_ENV in os.environ)
            ]
            results |= {k: median(r) for k, r in run_round(kinds, work, args.repeat).items()}
        if args.memory_rows:
            small = work / "small"
            small.mkdir()
            prepare(small, args.memory_rows)
            for group, kinds in MEMORY_KINDS.items():
                if group not in groups:
                    continue
                if group == "export":
                    spawn("cocon_import", small)  # the database the export reads
                memory[group] = {
                    args.memory_rows: {
                        k: median(r) for k, r in run_round(kinds, small, args.repeat).items()
                    },
                    args.rows: {kind: results[kind] for kind in kinds},
                }
    end_load = os.getloadavg()
    lines = [
        "# Excel benchmark",
        "",
        f"- Date (end of run): {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average (1, 5, 15 min) at the start: "
        f"{', '.join(f'{x:.2f}' for x in start_load)}; at the end: "
        f"{', '.join(f'{x:.2f}' for x in end_load)}",
        f"- Command: `.venv/bin/python benchmarks/excel.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- Input: {args.rows:,} project rows on one sheet ({size / 2**20:.1f} MiB), Chinese headers, "
        "fixed seed; the export reads the database the import wrote (demo + those rows).",
        f"- Each contender runs {args.repeat} time(s), the contenders back to back in rounds; "
        "seconds are the median, peak RSS the highest.",
        "",
    ]
    for group in groups:
        lines += [f"## {group.capitalize()}", "", *table(group, results)]
    for group, by_rows in memory.items():
        sizes = sorted(by_rows)
        lines += [
            f"## {group.capitalize()} memory by rows",
            "",
            "| Contender | " + " | ".join(f"{n:,} rows: s / peak MiB" for n in sizes) + " |",
            "|---|" + "--:|" * len(sizes),
        ]
        for kind in by_rows[sizes[0]]:
            cells = [
                f"{by_rows[n][kind]['seconds']:.2f} / {by_rows[n][kind]['peak_mib']:.0f}"
                for n in sizes
            ]
            lines.append(f"| {CONTENDERS[kind][1]} | " + " | ".join(cells) + " |")
        lines.append("")
    verdicts = []
    if "import" in groups:
        imported = results["cocon_import"]["seconds"]
        fastest = min(
            results[k]["seconds"] for k in ("pandas_read_openpyxl", "pandas_read_calamine")
        )
        verdicts.append(
            "import faster than pandas read_excel — "
            + ("met" if imported < fastest else "NOT met against every engine")
        )
        calamine = imported / results["calamine_read"]["seconds"]
        verdicts.append(
            f"import no slower than {IMPORT_BEFORE} s (issue 13) and within 3× of python-calamine "
            f"reading alone — {imported:.2f} s, {calamine:.2f}× — "
            + ("met" if imported <= IMPORT_BEFORE and calamine <= 3 else "NOT met")
        )
    if "export" in groups:
        exported = results["cocon_export"]["seconds"]
        fastest = min(
            results[k]["seconds"] for k in ("pandas_write_openpyxl", "pandas_write_xlsxwriter")
        )
        verdicts.append(
            "export faster than pandas to_excel — "
            + ("met" if exported < fastest else "NOT met against every engine")
        )
        plain = exported / results["xlsxwriter_write"]["seconds"]
        verdicts.append(
            f"export no slower than {EXPORT_BEFORE} s (issue 13) and within 1.2× of xlsxwriter "
            f"constant_memory by hand — {exported:.2f} s, {plain:.2f}× — "
            + ("met" if exported <= EXPORT_BEFORE and plain <= 1.2 else "NOT met")
        )
    lines.append(f"Targets: {'; '.join(verdicts)}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
