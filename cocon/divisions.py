"""Read the national division files and load them into the org tree in one transaction."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from cocon.db import bulk_insert
from cocon.errors import ImportFailed, SourceProblem
from cocon.i18n import _
from cocon.models import CODE_LENGTHS, Level, Org
from cocon.orgs import clean_code, code_candidates, level_name, move_org, subtree_condition

# The files of the national set, top down, with the column that names each row's parent.
DIVISION_FILES: list[tuple[Level, str, str | None]] = [
    (Level.PROVINCE, "provinces.csv", None),
    (Level.CITY, "cities.csv", "provinceCode"),
    (Level.DISTRICT, "areas.csv", "cityCode"),
    (Level.STREET, "streets.csv", "areaCode"),
    (Level.COMMUNITY, "villages.csv", "streetCode"),
]
MAX_PROBLEMS = 200
BATCH = 20_000
ORG_COLUMNS = ("code", "name", "level", "parent_id", "parent_level", "path")
Progress = Callable[[str, int, int], None]


# One org as the files describe it: (code, name, parent code, line). Plain tuples: the national
# set has 665,000 of them, and building objects would cost more than reading the files.
DivisionRow = tuple[str, str, str | None, int]


@dataclass
class LevelCounts:
    """What an import did at one level."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class DivisionSummary:
    """What an import did, level by level."""

    levels: dict[Level, LevelCounts] = field(
        default_factory=lambda: {lv: LevelCounts() for lv in Level}
    )

    @property
    def changed(self) -> int:
        """Count the orgs created or updated."""
        return sum(c.created + c.updated for c in self.levels.values())


class _Problems:
    def __init__(self) -> None:
        self.items: list[SourceProblem] = []
        self.total = 0

    def add(self, source: str, line: int | None, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(SourceProblem(source, line, column, message))

    def raise_if_any(self) -> None:
        if self.total:
            message = _("{count} problems in the division files; nothing was written").format(
                count=self.total
            )
            raise ImportFailed(message, self.items)


def read_division_files(directory: Path) -> dict[Level, list[DivisionRow]]:
    """Read and check all five files; raise ImportFailed listing every problem found."""
    problems = _Problems()
    rows: dict[Level, list[DivisionRow]] = {}
    known_codes: set[str] = set()
    for level, filename, parent_column in DIVISION_FILES:
        path = Path(directory) / filename
        rows[level] = _read_file(path, level, parent_column, known_codes, problems)
        known_codes = {row[0] for row in rows[level]}
    problems.raise_if_any()
    return rows


def _read_file(
    path: Path,
    level: Level,
    parent_column: str | None,
    parent_codes: set[str],
    problems: _Problems,
) -> list[DivisionRow]:
    source = path.name
    if not path.is_file():
        problems.add(source, None, None, _("the file is missing"))
        return []
    result: list[DivisionRow] = []
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.add(
            source,
            data.count(b"\n", 0, error.start) + 1,
            None,
            _("the file is not UTF-8 text (bad byte at position {position})").format(
                position=error.start
            ),
        )
        return []
    try:
        with io.StringIO(text, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            needed = ["code", "name"] + ([parent_column] if parent_column else [])
            if header is None:
                problems.add(source, 1, None, _("the file is empty: expected a header row"))
                return []
            header = [h.strip() for h in header]
            missing = [c for c in needed if c not in header]
            if missing:
                problems.add(
                    source,
                    1,
                    None,
                    _("the header lacks the columns {columns} (expected {expected})").format(
                        columns=", ".join(missing), expected=",".join(needed)
                    ),
                )
                return []
            i_code, i_name = header.index("code"), header.index("name")
            i_parent = header.index(parent_column) if parent_column else None
            width = max(i_code, i_name, i_parent or 0) + 1
            expected_length = CODE_LENGTHS[level]
            records = list(reader)
            seen: dict[str, int] = {}
            fast = _clean_rows(
                records,
                i_code,
                i_name,
                i_parent,
                width,
                expected_length,
                parent_codes,
            )
            if fast is not None:
                return fast
            for line, record in enumerate(records, start=2):
                # Cheap tests first: only a row starting with a blank cell can be all blank.
                if not any(record) or (
                    not record[0].strip() and all(not c.strip() for c in record)
                ):
                    continue
                if len(record) < width:
                    problems.add(
                        source,
                        line,
                        None,
                        _("the row has {found} columns, expected {expected}").format(
                            found=len(record), expected=len(header)
                        ),
                    )
                    continue
                code, name = record[i_code].strip(), record[i_name].strip()
                parent_code = record[i_parent].strip() if i_parent is not None else None
                if not (code.isascii() and code.isdigit()) or len(code) != expected_length:
                    problems.add(
                        source,
                        line,
                        "code",
                        _("'{code}' is not a {level} code: expected {length} digits").format(
                            code=code, level=level_name(level), length=expected_length
                        ),
                    )
                    continue
                if not name:
                    problems.add(source, line, "name", _("the name is empty"))
                    continue
                if len(name) > 100:
                    problems.add(source, line, "name", _("the name is longer than 100 characters"))
                    continue
                first = seen.get(code)
                if first is not None:
                    problems.add(
                        source,
                        line,
                        "code",
                        _("the code {code} appears twice (first at {first})").format(
                            code=code, first=f"{source}:{first}"
                        ),
                    )
                    continue
                seen[code] = line
                if parent_column and parent_code not in parent_codes:
                    problems.add(
                        source,
                        line,
                        parent_column,
                        _("the parent code '{parent}' is not in the {level} file").format(
                            parent=parent_code, level=level_name(level - 1)
                        ),
                    )
                    continue
                result.append((code, name, parent_code, line))
    except csv.Error as error:
        problems.add(
            source, None, None, _("the file is not valid CSV: {error}").format(error=error)
        )
        return []
    return result


def _clean_rows(
    records: list[list[str]],
    i_code: int,
    i_name: int,
    i_parent: int | None,
    width: int,
    expected_length: int,
    parent_codes: set[str],
) -> list[DivisionRow] | None:
    """Check a file the fast way, in bulk; None when any row needs the row-by-row check."""
    # The national files are clean: a few passes in C decide it, and only a file with a
    # problem pays for the loop that finds and names each one.
    if not records or min(map(len, records)) < width:
        return None
    codes = list(map(itemgetter(i_code), records))
    names = list(map(itemgetter(i_name), records))
    if (
        not all(map(str.isdigit, codes))
        or not all(map(str.isascii, codes))
        or set(map(len, codes)) != {expected_length}
    ):
        return None
    if (
        min(map(len, names)) == 0
        or max(map(len, names)) > 100
        or names != list(map(str.strip, names))
    ):
        return None
    unique = set(codes)
    # Codes of different levels differ in length, so duplicates can only be within a file.
    if len(unique) != len(codes):
        return None
    if i_parent is None:
        parents = [None] * len(codes)
    else:
        parents = list(map(itemgetter(i_parent), records))
        if not set(parents) <= parent_codes:
            return None
    lines = range(2, len(codes) + 2)
    return list(zip(codes, names, parents, lines, strict=True))


def select_subtree(
    rows: dict[Level, list[DivisionRow]], root_code: str
) -> dict[Level, list[DivisionRow]]:
    """Keep the rows of root_code's subtree and its ancestors."""
    parent_of = {row[0]: row[2] for level_rows in rows.values() for row in level_rows}
    root_code = next(
        (c for c in code_candidates(clean_code(root_code)) if c in parent_of), root_code
    )
    if root_code not in parent_of:
        raise ImportFailed(
            _("The code {code} is not in the division files").format(code=root_code),
            [SourceProblem("--root", None, None, _("unknown code {code}").format(code=root_code))],
        )
    keep = set()
    code: str | None = root_code
    while code is not None:
        keep.add(code)
        code = parent_of[code]
    inside = {root_code}
    for level in Level:
        for code, _name, parent_code, _line in rows[level]:
            if parent_code in inside:
                inside.add(code)
    keep |= inside
    return {
        level: [row for row in level_rows if row[0] in keep] for level, level_rows in rows.items()
    }


def load_divisions(
    session: Session,
    rows: dict[Level, list[DivisionRow]],
    progress: Progress | None = None,
) -> DivisionSummary:
    """Create, rename or move orgs to match rows, inside the caller's one transaction."""
    summary = DivisionSummary()
    connection = session.connection()
    existing = {
        code: (org_id, name, parent_id, path)
        for org_id, code, name, parent_id, path in connection.execute(
            select(Org.id, Org.code, Org.name, Org.parent_id, Org.path)
        )
    }
    ids = {code: values[0] for code, values in existing.items()}
    paths = {code: values[3] for code, values in existing.items()}
    total = sum(len(level_rows) for level_rows in rows.values())
    done = 0
    for level in Level:
        counts = summary.levels[level]
        new_rows: list[tuple] = []
        renamed, moved = [], []
        parent_level = int(level) - 1 if level != Level.PROVINCE else None
        for code, name, parent_code, _line in rows[level]:
            current = existing.get(code)
            if current is None:
                path = (paths[parent_code] if parent_code else "/") + code + "/"
                paths[code] = path
                parent_id = ids[parent_code] if parent_code else None
                new_rows.append((code, name, int(level), parent_id, parent_level, path))
                continue
            org_id, old_name, parent_id, _path = current
            changed = False
            if old_name != name:
                renamed.append({"org_id": org_id, "new_name": name})
                changed = True
            if parent_code and parent_id != ids[parent_code]:
                moved.append((code, parent_code))
                changed = True
            if changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
        for start in range(0, len(new_rows), BATCH):
            batch = new_rows[start : start + BATCH]
            bulk_insert(connection, "org", ORG_COLUMNS, batch)
            done += len(batch)
            if progress:
                progress(level_name(level), done, total)
        counts.created = len(new_rows)
        if renamed:
            connection.execute(
                update(Org).where(Org.id == bindparam("org_id")).values(name=bindparam("new_name")),
                renamed,
            )
        for code, parent_code in moved:
            org = session.get(Org, ids[code])
            parent = session.get(Org, ids[parent_code])
            moved_org = move_org(session, org, parent)
            # The whole subtree moved: later levels must build new paths from the new ones.
            paths.update(
                connection.execute(
                    select(Org.code, Org.path).where(subtree_condition(moved_org.path))
                ).all()
            )
        if new_rows and level != Level.COMMUNITY:
            new_codes = {r[0] for r in new_rows}
            for org_id, code in connection.execute(
                select(Org.id, Org.code).where(Org.level == int(level))
            ):
                if code in new_codes:
                    ids[code] = org_id
        done += len(rows[level]) - len(new_rows)
        if progress:
            progress(level_name(level), done, total)
    return summary


def import_divisions(
    session: Session,
    directory: Path,
    root_code: str | None = None,
    progress: Progress | None = None,
) -> DivisionSummary:
    """Read the five division files in directory and load root_code's subtree (or all)."""
    rows = read_division_files(directory)
    if root_code is not None:
        rows = select_subtree(rows, root_code)
    return load_divisions(session, rows, progress)
