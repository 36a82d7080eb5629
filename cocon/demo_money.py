"""The money side of the Gongshu demo: partners, allocations, projects, funding and payments."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from cocon.allocations import (
    draw,
    find_allocation,
    get_allocation,
    get_funding_line,
    record_payment,
    save_allocation,
)
from cocon.checks import Policies
from cocon.creditcode import normalize_credit_code
from cocon.errors import CoconError, ImportFailed, Invalid, NotFound, SourceProblem
from cocon.i18n import _
from cocon.labels import parse_choice
from cocon.models import Allocation, Contribution, ContributionKind, Payment, Project, Status
from cocon.orgs import resolve_org
from cocon.partners import find_partner, get_partner, save_partner
from cocon.projects import (
    FieldErrors,
    ProjectInput,
    change_status,
    find_project,
    get_project,
    save_project,
    set_contribution,
)

Row = dict[str, str | None]
Change = tuple[dict | None, SQLModel]
Step = Callable[[Session, Policies, Row], Change]

# The way from draft to each status; a project walks on from wherever it stands on it.
_FORWARD = (Status.DRAFT, Status.SUBMITTED, Status.APPROVED, Status.IN_PROGRESS, Status.COMPLETED)
PATHS: dict[Status, tuple[Status, ...]] = {
    **{status: _FORWARD[: i + 1] for i, status in enumerate(_FORWARD)},
    Status.CANCELLED: (Status.DRAFT, Status.SUBMITTED, Status.CANCELLED),
}
_PROJECT_FIELDS = (
    "code", "name", "category", "year", "start_date", "end_date",
    "budget", "area_m2", "households_served", "description",
)  # fmt: skip


@dataclass
class Counts:
    """What loading one file did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _snapshot(row: SQLModel | None) -> dict | None:
    return None if row is None else row.model_dump()


def _field(column: str, call: Callable, *args, **kwargs):
    """Call a domain function; a lookup that fails or an error without a field names column."""
    try:
        return call(*args, **kwargs)
    except FieldErrors:
        raise
    except CoconError as error:
        raise Invalid(error.message, field=getattr(error, "field", None) or column) from None


def _key(row: Row, column: str) -> str:
    """Return the natural key of a row; without it a second load could not find the row."""
    if not row[column]:
        raise Invalid(_("This field is required"), field=column)
    return row[column]


def _org(session: Session, row: Row, column: str):
    return _field(column, resolve_org, session, row[column] or "")


def _partner(session: Session, policies: Policies, row: Row) -> Change:
    existing = find_partner(session, normalize_credit_code(_key(row, "credit_code")))
    before = _snapshot(existing)
    return before, save_partner(
        session,
        credit_code=row["credit_code"] or "",
        name=row["name"] or "",
        kind=row["kind"] or "",
        contact=row["contact"],
        phone=row["phone"],
        partner=existing,
    )


def _allocation(session: Session, policies: Policies, row: Row) -> Change:
    existing = find_allocation(session, _key(row, "code"))
    before = _snapshot(existing)
    parent = _field("parent", get_allocation, session, row["parent"]) if row["parent"] else None
    saved = _field(
        "amount",
        save_allocation,
        session,
        policies,
        org=_org(session, row, "org"),
        year=row["year"],
        amount=row["amount"],
        code=row["code"],
        parent=parent,
        source_note=row["source_note"],
        allocation=existing,
    )
    return before, saved.row


def _project(session: Session, policies: Policies, row: Row) -> Change:
    existing = find_project(session, _key(row, "code"))
    before = _snapshot(existing)
    target = Status(parse_choice(Status, row["status"] or Status.DRAFT, "status"))
    data = ProjectInput(
        owner=_org(session, row, "owner"),
        site=_org(session, row, "site"),
        **{key: row[key] for key in _PROJECT_FIELDS},
    )
    project = save_project(session, data, existing)
    path, current = PATHS[target], Status(project.status)
    steps = path[path.index(current) + 1 :] if current in path else (target,)
    for step in steps:
        _field("status", change_status, session, project, step)
    return before, project


def _contribution(session: Session, policies: Policies, row: Row) -> Change:
    project = _field("project", get_project, session, row["project"] or "")
    partner = _field("partner", get_partner, session, row["partner"] or "")
    kind = parse_choice(ContributionKind, row["kind"] or ContributionKind.CASH, "kind")
    statement = select(Contribution).where(
        Contribution.project_id == project.id,
        Contribution.partner_id == partner.id,
        Contribution.kind == kind,
    )
    before = _snapshot(session.exec(statement).scalars().first())
    return before, _field(
        "amount", set_contribution, session, project, partner, row["amount"], kind, row["note"]
    )


def _line_ends(session: Session, row: Row) -> tuple[Project, Allocation]:
    project = _field("project", get_project, session, row["project"] or "")
    return project, _field("allocation", get_allocation, session, row["allocation"] or "")


def _funding(session: Session, policies: Policies, row: Row) -> Change:
    project, allocation = _line_ends(session, row)
    try:
        before = _snapshot(get_funding_line(session, project, allocation))
    except NotFound:
        before = None
    return before, _field("amount", draw, session, policies, project, allocation, row["amount"]).row


def _payment(session: Session, policies: Policies, row: Row) -> Change:
    project, allocation = _line_ends(session, row)
    line = _field("allocation", get_funding_line, session, project, allocation)
    statement = select(Payment).where(Payment.voucher_no == _key(row, "voucher_no"))
    before = _snapshot(session.exec(statement).scalars().first())
    saved = _field(
        "amount",
        record_payment,
        session,
        policies,
        line,
        paid_on=row["paid_on"],
        amount=row["amount"],
        voucher_no=row["voucher_no"],
        note=row["note"],
    )
    return before, saved.row


FILES: tuple[tuple[str, tuple[str, ...], Step], ...] = (
    ("partners.csv", ("credit_code", "name", "kind", "contact", "phone"), _partner),
    ("allocations.csv", ("code", "org", "year", "amount", "parent", "source_note"), _allocation),
    ("projects.csv", ("owner", "site", "status", *_PROJECT_FIELDS), _project),
    ("contributions.csv", ("project", "partner", "kind", "amount", "note"), _contribution),
    ("funding.csv", ("project", "allocation", "amount"), _funding),
    (
        "payments.csv",
        ("project", "allocation", "paid_on", "amount", "voucher_no", "note"),
        _payment,
    ),
)


def load_demo_money(session: Session, folder: Path, policies: Policies) -> dict[str, Counts]:
    """Load the demo money files in dependency order; loading them again changes nothing."""
    return {
        name: _load_file(session, policies, folder / name, columns, step)
        for name, columns, step in FILES
    }


def _load_file(
    session: Session, policies: Policies, path: Path, columns: tuple[str, ...], step: Step
) -> Counts:
    """Apply step to every row of one CSV file; raise ImportFailed listing every bad row."""
    source, counts = path.name, Counts()
    problems: list[SourceProblem] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                message = _("missing columns: {columns}").format(columns=", ".join(missing))
                problems.append(SourceProblem(source, 1, None, message))
                reader = iter(())
            for line, record in enumerate(reader, start=2):
                row = {key: (record.get(key) or "").strip() or None for key in columns}
                if not any(row.values()):
                    continue
                try:
                    before, after = step(session, policies, row)
                except FieldErrors as error:
                    problems += [
                        SourceProblem(source, line, e.field, e.message) for e in error.errors
                    ]
                except CoconError as error:
                    field = getattr(error, "field", None)
                    problems.append(SourceProblem(source, line, field, error.message))
                else:
                    if before is None:
                        counts.created += 1
                    elif before == after.model_dump():
                        counts.unchanged += 1
                    else:
                        counts.updated += 1
    except FileNotFoundError:
        problems.append(SourceProblem(source, None, None, _("the file is missing")))
    except UnicodeDecodeError:
        problems.append(SourceProblem(source, None, None, _("the file is not UTF-8 text")))
    if problems:
        raise ImportFailed(
            _("{count} problems in {file}; nothing was written").format(
                count=len(problems), file=source
            ),
            problems,
        )
    return counts
