"""Import the projects sheet set-based: every row checked by the rules save_project uses, then
written a batch at a time in a few statements, so a 100,000-row sheet takes seconds, not minutes.

Codes are looked up with all of a batch's codes in one parameter (see cocon.db.in_list),
so the statements are compiled once, not once per batch."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from itertools import islice, pairwise

import numpy as np
from sqlalchemy import bindparam, insert, select
from sqlmodel import Session

from cocon.actors import actor_of
from cocon.audit import record_rows
from cocon.db import bulk_insert, in_list, update_rows
from cocon.derived import note_checked_projects, project_failures, refresh_projects
from cocon.errors import CoconError, Invalid, SourceProblem
from cocon.i18n import _
from cocon.labels import parse_choice
from cocon.models import Org, Project, Status, StatusChange
from cocon.orgs import resolve_org
from cocon.projects import FieldErrors, ProjectInput, clean_project, status_path
from cocon.rights import may_submit
from cocon.versions import SavedMeanwhile, check_row_version
from cocon.workbook.steps import in_scope, outside_scope

CHUNK = 10_000  # codes looked up per statement (all in one parameter)
BATCH = 5_000  # rows checked, then written, at a time
STORED = (
    "code", "name", "category", "year", "start_date", "end_date", "budget_fen", "area_m2",
    "households_served", "description", "owner_id", "site_id", "site_level",
)  # fmt: skip
_FIELDS = (
    "code", "name", "category", "year", "start_date", "end_date", "budget", "area_m2",
    "households_served", "description",
)  # fmt: skip
INSERTED = (*STORED, "status", "failing_checks")  # the columns a new project is written with
RowValues = Callable[[object], tuple[dict, list[Invalid]]]
Locate = Callable[[object, Invalid], SourceProblem]


class _Orgs:
    """Resolve each distinct org text once per import; refuse orgs outside the scope."""

    def __init__(self, session: Session, scope: Org | None = None) -> None:
        self.session = session
        self.scope = scope
        self.found: dict[str, Org | CoconError] = {}
        self.checked: dict[tuple[str, str], Org | Invalid] = {}

    def get(self, text: object, field: str) -> Org:
        key = "" if text is None else str(text).strip()
        if not key:
            raise Invalid(_("This field is required"), field=field)
        checked = self.checked.get((key, field))
        if checked is None:
            try:
                checked = self._get(key, field)
            except Invalid as error:
                checked = error
            self.checked[(key, field)] = checked
        if isinstance(checked, Invalid):
            raise Invalid(checked.message, field=field)
        return checked

    def _get(self, key: str, field: str) -> Org:
        if key not in self.found:
            try:
                self.found[key] = resolve_org(self.session, key)
            except CoconError as error:
                self.found[key] = error
        found = self.found[key]
        if isinstance(found, CoconError):
            raise Invalid(found.message, field=field)
        return in_scope(found, self.scope, field, key)


def _collect(errors: list[Invalid], parse: Callable, *args):
    try:
        return parse(*args)
    except Invalid as error:
        errors.append(error)
        return None


def _existing(session: Session, codes: list[str]) -> dict[str, dict]:
    """Return the stored projects with these codes by code, each with its owner's path."""
    columns = [Project.__table__.c[name] for name in ("id", "status", "version", *STORED)]
    found = {}
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK]
        statement = (
            select(*columns, Org.path.label("owner_path"))
            .join(Org, Org.id == Project.owner_id)
            .where(in_list(session, Project.code, chunk))
        )
        for row in session.connection().execute(statement):
            found[row.code] = dict(row._mapping)
    return found


def import_projects(
    session: Session,
    rows: Iterable,
    values_of: RowValues,
    locate: Locate,
    scope: Org | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, int], list[SourceProblem]]:
    """Check and write every project row; return the counts and the problems (nothing written if any).

    With a scope, a row may only name owners and sites in it and only change projects owned in it.
    The rows are taken a batch at a time, each written as soon as it is checked (inside a
    savepoint, rolled back if any row of the sheet fails), so memory does not grow with the rows;
    progress is told how many rows are done after each batch.
    """
    checker = _Checker(session, scope, locate)
    savepoint = session.begin_nested()
    rows, done = iter(rows), 0
    try:
        while batch := list(islice(rows, BATCH)):
            parsed = [(row, *values_of(row)) for row in batch]
            done += len(batch)
            del batch
            inserts, updates, history = checker.check(parsed)
            del parsed
            # Written even after a problem (the savepoint goes back at the end): the codes of the
            # rows written are how a later batch tells a code that appears twice.
            checker.written(_write(session, inserts, updates, history))
            if progress:
                progress(done)
    except BaseException:
        savepoint.rollback()
        raise
    if checker.problems:
        savepoint.rollback()
    else:
        savepoint.commit()
    return checker.counts, checker.problems


class _Checker:
    """Check project rows batch by batch, knowing which codes earlier batches named.

    A code is remembered compactly: as the id of the project it names (8 bytes) once that row
    is written or found unchanged; only the codes of rows that failed are kept as text.
    """

    def __init__(self, session: Session, scope: Org | None, locate: Locate) -> None:
        self.session = session
        self.scope = scope
        self.locate = locate
        self.orgs = _Orgs(session, scope)
        self.named_ids = array("q")  # ids of the projects earlier rows named
        self.failed_codes: set[str] = set()  # codes of earlier rows that failed
        self.unchanged_ids: list[int] = []
        self.problems: list[SourceProblem] = []
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}

    def written(self, ids: Iterable[int]) -> None:
        """Remember the ids of the projects the batch just checked wrote or left unchanged."""
        self.named_ids.extend(ids)
        self.named_ids.extend(self.unchanged_ids)
        self.unchanged_ids.clear()

    def _named_before(self, existing: dict[str, dict]) -> set[str]:
        """Return the codes among existing that rows of earlier batches named."""
        if not existing or not self.named_ids:
            return set()
        codes = list(existing)
        ids = np.fromiter((existing[code]["id"] for code in codes), dtype=np.int64)
        named = np.isin(ids, np.frombuffer(self.named_ids, dtype=np.int64))
        return {code for code, hit in zip(codes, named.tolist(), strict=True) if hit}

    def check(self, parsed: list) -> tuple[list[dict], list[dict], list]:
        """Check one batch of (row, values, errors); return what to insert, update and log."""
        session, scope, locate, orgs = self.session, self.scope, self.locate, self.orgs
        problems, counts = self.problems, self.counts
        codes = {
            str(v.get("code")).strip() for _r, v, _e in parsed if v.get("code") not in (None, "")
        }
        existing = _existing(session, sorted(codes))
        seen = self._named_before(existing) | (self.failed_codes & codes)
        inserts, updates, history = [], [], []
        for row, values, errors in parsed:
            code = str(values.get("code") or "").strip()
            try:
                if not code and not errors:
                    raise Invalid(_("This field is required"), field="code")
                if code in seen:
                    raise Invalid(
                        _("The code {code} appears twice in the sheet").format(code=code),
                        field="code",
                    )
                seen.add(code)
                found: list[Invalid] = list(errors)
                failed = {e.field for e in errors}
                owner = (
                    _collect(found, orgs.get, values.get("owner"), "owner")
                    if "owner" not in failed
                    else None
                )
                site = (
                    _collect(found, orgs.get, values.get("site"), "site")
                    if "site" not in failed
                    else None
                )
                current = existing.get(code)
                if (
                    scope is not None
                    and current
                    and not current["owner_path"].startswith(scope.path)
                ):
                    raise outside_scope(_("This code cannot be used; choose another"), "code")
                if "version" not in failed:
                    read_at = current["version"] if current else None
                    _collect(found, check_row_version, read_at, values.get("version"))
                # A blank status keeps an existing project where it is; a new one starts as a draft.
                blank_status = current["status"] if current else Status.DRAFT
                target = _collect(
                    found, parse_choice, Status, values.get("status") or blank_status, "status"
                )
                data = ProjectInput(
                    owner=owner, site=site, **{key: values.get(key) for key in _FIELDS}
                )
                try:
                    clean = clean_project(data, code_holder=None, project_id=None)
                except FieldErrors as error:
                    reported = {e.field for e in found} | failed
                    found += [e for e in error.errors if e.field not in reported]
                if found:
                    raise FieldErrors(found)
                target = Status(target)
                start_status = Status(current["status"]) if current else Status.DRAFT
                try:
                    steps = status_path(start_status, target)
                except CoconError as error:
                    raise Invalid(error.message, field="status") from None
                _check_review(self.session, steps, owner)
            except FieldErrors as error:
                problems += [locate(row, e) for e in error.errors]
                self._failed(code)
                continue
            except Invalid as error:
                problems.append(locate(row, error))
                self._failed(code)
                continue
            if current is None:
                # A new project has no money yet: its derived figures are known now (the
                # refresh is only asked for projects that existed, and may have some).
                failing = project_failures(
                    target.value,
                    clean["budget_fen"],
                    clean["year"],
                    clean.get("start_date"),
                    clean.get("end_date"),
                    0,
                    0,
                )
                inserts.append({**clean, "status": target.value, "failing_checks": failing})
                history.append((code, [None, Status.DRAFT, *steps]))
                counts["created"] += 1
            elif all(current[key] == clean[key] for key in STORED if key in clean) and not steps:
                counts["unchanged"] += 1
                self.unchanged_ids.append(current["id"])
            else:
                updates.append(
                    {**clean, "pid": current["id"], "status": target.value, "before": current,
                     "version": current["version"] + 1}
                )  # fmt: skip
                history.append((code, [start_status, *steps]))
                counts["updated"] += 1
        return inserts, updates, history

    def _failed(self, code: str) -> None:
        if code:
            self.failed_codes.add(code)


def _write(
    session: Session, inserts: list[dict], updates: list[dict], history: list
) -> Iterable[int]:
    """Write a batch of checked projects; return the ids of the projects written."""
    connection = session.connection()
    session.flush()
    # One COPY (PostgreSQL) or executemany (SQLite), one UPDATE from arrays: row by row, each
    # statement would fire project's statement-level triggers on PostgreSQL once per row.
    bulk_insert(connection, "project", INSERTED, [tuple(map(row.get, INSERTED)) for row in inserts])
    if updates:
        names = [
            name for name in (*STORED, "status", "version") if name != "code" and name in updates[0]
        ]
        rows = [
            {"id": row["pid"], "read_version": row["before"]["version"],
             **{name: row[name] for name in names}}
            for row in updates
        ]  # fmt: skip
        # Checked against the version read above: a save that slipped in since is not lost.
        if update_rows(connection, Project.__table__, rows, guard="version") != len(rows):
            raise SavedMeanwhile()
    ids = _ids(session, [code for code, _steps in history])
    _audit(inserts, updates, session)
    # One INSERT … SELECT per step of the history (the nth step of every project that takes the
    # same one together), in step order, so each project's steps are logged in order.
    by_step: dict[tuple[int, str | None, str], list[int]] = {}
    for code, steps in history:
        for position, (before, after) in enumerate(pairwise(steps)):
            key = (position, before.value if before else None, after.value)
            by_step.setdefault(key, []).append(ids[code])
    changes = StatusChange.__table__
    now = bindparam(None, datetime.now(UTC), type_=changes.c.changed_at.type)
    actor = actor_of(session)  # who the history names, as cocon.review.log_change does
    by = bindparam(None, actor.name, type_=changes.c.changed_by.type)
    by_id = bindparam(None, actor.user_id, type_=changes.c.changed_by_id.type)
    for (_position, before, after), project_ids in sorted(by_step.items(), key=_step_order):
        for start in range(0, len(project_ids), CHUNK):
            chunk = project_ids[start : start + CHUNK]
            logged = select(
                Project.id,
                bindparam(None, before, type_=changes.c.from_status.type),
                bindparam(None, after, type_=changes.c.to_status.type),
                now,
                by,
                by_id,
            ).where(in_list(session, Project.id, chunk))
            columns = ["project_id", "from_status", "to_status", "changed_at", "changed_by",
                       "changed_by_id"]  # fmt: skip
            connection.execute(insert(changes).from_select(columns, logged))
    new = {row["code"] for row in inserts}
    refresh_projects(session, [ids[code] for code, _steps in history if code not in new])
    note_checked_projects(session, [ids[code] for code in new])
    return ids.values()


def _check_review(session: Session, steps: list[Status], owner: Org | None) -> None:
    """Refuse status steps an import may not take for its user (the operator takes any).

    Approval is a reviewer's act on the project page (four eyes, one level up); submitting is
    the owner office's, as on the page.
    """
    actor = actor_of(session)
    if actor.is_operator or not steps:
        return
    if Status.APPROVED in steps:
        raise Invalid(
            _("An import does not approve projects: a reviewer approves them on the project page"),
            field="status",
        )
    if Status.SUBMITTED in steps and owner is not None:
        refusal = may_submit(actor, owner)
        if refusal is not None:
            raise Invalid(refusal.message, field="status")


def _audit(inserts: list[dict], updates: list[dict], session: Session) -> None:
    """Record each project the batch created or changed, field by field, in the audit trail."""
    fields = (*(name for name in STORED if name != "site_level"), "status")
    rows, owners = [], []
    for row in inserts:
        changes = {name: [None, row.get(name)] for name in fields if row.get(name) is not None}
        rows.append(("create", row["code"], changes))
        owners.append(row.get("owner_id"))
    for row in updates:
        before = row["before"]
        changes = {
            name: [before.get(name), row[name]]
            for name in fields
            if name in row and before.get(name) != row[name]
        }
        action = "status" if set(changes) == {"status"} else "update"
        rows.append((action, row["code"], changes))
        owners.append(row.get("owner_id"))
    record_rows(session, "project", rows, owners)


def _step_order(item: tuple[tuple[int, str | None, str], list[int]]) -> int:
    return item[0][0]


def _ids(session: Session, codes: list[str]) -> dict[str, int]:
    ids = {}
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK]
        ids.update(
            (code, project_id)
            for project_id, code in session.connection().execute(
                select(Project.id, Project.code).where(in_list(session, Project.code, chunk))
            )
        )
    return ids
