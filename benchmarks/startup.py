"""Time how fast the CLI starts: `cocon --help` and `cocon check` on the demo, beside bare Python.

Every contender is a fresh process, run in rounds (one run of each per round, so a busy machine
slows them alike); the report gives the median and the spread. With --baseline REV the cocon
package of that commit (`git archive`, the same virtual environment) runs in the same rounds.
Run from the repository root:

    .venv/bin/python benchmarks/startup.py [--rounds 20] [--baseline REV] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from time import perf_counter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.load_divisions import cpu_model  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "startup.md"
PYTHON = REPO / ".venv" / "bin" / "python"
COCON = REPO / ".venv" / "bin" / "cocon"
TARGETS = {"cocon --help": 0.3, "cocon check": 1.0}  # seconds, from issue 13


@dataclass
class Contender:
    """One command line, timed again and again."""

    name: str
    argv: list[str]
    source: Path | None = None  # where its cocon package comes from (None: this checkout)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Return the median wall time in seconds."""
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        """Return the median CPU time (user + system) in seconds."""
        return statistics.median(self.cpu_seconds)


def baseline_source(revision: str, into: Path) -> Path:
    """Unpack the cocon package of a commit into a folder and return it."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "cocon"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def children_cpu() -> float:
    """Return the CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(contender: Contender, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run the contender once; return its wall and CPU seconds. Fail when the command fails."""
    environ = dict(env)
    if contender.source is not None:
        # A folder on PYTHONPATH comes before the editable install of this checkout.
        environ["PYTHONPATH"] = str(contender.source)
    cpu, start = children_cpu(), perf_counter()
    done = subprocess.run(
        contender.argv, cwd=cwd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seconds, cpu = perf_counter() - start, children_cpu() - cpu
    # `cocon check` exits 1 when a blocking check fails; the demo has none.
    if done.returncode != 0:
        raise SystemExit(f"{contender.name} failed ({done.returncode}): {done.stderr.decode()}")
    return seconds, cpu


def prepare_demo(directory: Path) -> dict[str, str]:
    """Make a demo database (cocon init + cocon demo) and return the environment using it."""
    env = {**os.environ, "COCON_DATABASE_URL": f"sqlite:///{directory / 'demo.db'}"}
    env.pop("PYTHONPATH", None)
    for command in (["init"], ["demo"]):
        subprocess.run([str(COCON), *command], env=env, cwd=directory, check=True,
                       capture_output=True)  # fmt: skip
    return env


def contenders(baseline: Path | None) -> list[Contender]:
    """Return what is timed: bare Python, the ORM every database command loads, and cocon."""
    found = [
        Contender("python -c pass", [str(PYTHON), "-c", "pass"]),
        Contender("python -c 'import cocon.models'", [str(PYTHON), "-c", "import cocon.models"]),
        Contender("cocon --help", [str(COCON), "--help"]),
        Contender("cocon check", [str(COCON), "check"]),
    ]
    if baseline is not None:
        found += [
            Contender("cocon --help (baseline)", [str(COCON), "--help"], baseline),
            Contender("cocon check (baseline)", [str(COCON), "check"], baseline),
        ]
    return found


def load() -> str:
    """Return the load averages over 1, 5 and 15 minutes."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def render(rows: list[Contender], context: dict[str, str]) -> str:
    """Return the Markdown report."""
    floor = next(row for row in rows if row.name == "python -c pass").median
    by_name = {row.name: row for row in rows}
    lines = [
        "# Start-up benchmark",
        "",
        f"- Date: {context['date']}",
        f"- Machine: {context['machine']}",
        f"- Command: `{context['command']}`",
        f"- Load average (1/5/15 min) at start: {context['load_start']}; at end: "
        f"{context['load_end']}",
        f"- Method: {context['rounds']} rounds after one warm-up round; each round runs every "
        "contender once, as a fresh process, in the order below; wall time from start to exit. "
        "CPU time is the process's user + system time: on a machine busy with other work it "
        "grows far less than the wall time. "
        "`cocon check` runs on a fresh SQLite demo database (`cocon init` + `cocon demo`)."
        + (f" Baseline: the cocon package of `{context['baseline']}` on PYTHONPATH, in the "
           "same virtual environment and rounds." if context.get("baseline") else ""),
        "",
        "## Targets",
        "",
    ]
    for name, limit in TARGETS.items():
        median = by_name[name].median
        verdict = "met" if median <= limit else "missed"
        lines.append(
            f"- `{name}` in at most {limit:g} s: {verdict} ({median:.3f} s median wall time; "
            f"{by_name[name].cpu_median:.3f} s CPU)."
        )
    lines += [
        "",
        "| Command | Median s | Min s | Max s | CPU median s | × python -c pass |"
        + (" Baseline median s | Baseline CPU s | Speed-up |" if context.get("baseline") else ""),
        "|---|--:|--:|--:|--:|--:|" + ("--:|--:|--:|" if context.get("baseline") else ""),
    ]
    for row in rows:
        cells = [
            f"`{row.name}`",
            f"{row.median:.3f}",
            f"{min(row.seconds):.3f}",
            f"{max(row.seconds):.3f}",
            f"{row.cpu_median:.3f}",
            f"{row.median / floor:.1f}",
        ]
        if context.get("baseline"):
            before = by_name.get(f"{row.name} (baseline)")
            if before is None:
                cells += ["", "", ""]
            else:
                speedup = before.median / row.median
                cells += [f"{before.median:.3f}", f"{before.cpu_median:.3f}", f"{speedup:.1f}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed runs of each command")
    parser.add_argument("--baseline", help="a commit whose cocon package runs alongside")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the report goes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Time every contender and write the report."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    load_start = load()
    with tempfile.TemporaryDirectory(prefix="cocon-startup-") as scratch:
        scratch_dir = Path(scratch)
        env = prepare_demo(scratch_dir)
        baseline = None
        if args.baseline:
            baseline = baseline_source(args.baseline, scratch_dir / "baseline")
        rows = contenders(baseline)
        for round_number in range(args.rounds + 1):
            for row in rows:
                seconds, cpu = run_once(row, env, scratch_dir)
                if round_number:  # the first round only warms the disk cache
                    row.seconds.append(seconds)
                    row.cpu_seconds.append(cpu)
    versions = subprocess.run(
        [str(PYTHON), "-c", "import sqlalchemy, sqlmodel, click; print(sqlalchemy.__version__,"
         " sqlmodel.__version__, click.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    context = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, SQLAlchemy {versions[0]}, "
        f"SQLModel {versions[1]}, click {versions[2]}",
        "command": shlex.join([".venv/bin/python", "benchmarks/startup.py", *(argv or sys.argv[1:])]),
        "load_start": load_start,
        "load_end": load(),
        "rounds": str(args.rounds),
        "baseline": args.baseline or "",
    }
    report = render(rows, context)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
