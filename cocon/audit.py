"""The audit trail (操作日志): every change recorded in the transaction that makes it, chained.

`watch(session)` makes a session record every create, update and delete of the things people
enter (projects, allocations, partners, funding lines, payments, contributions, community
profiles, users, orgs) as it flushes, with who (cocon.actors), when, the entity and its code,
the org it belongs to, and every changed field before → after (money as yuan strings, enums as
their values, references as codes). Surfaces add what no table shows (`record`: sign-in, import,
export, denied access). When the transaction commits, its entries are sealed: numbered in the
chain and hashed over their content and the hash of the entry before (cocon.audit_model).
Reading and checking the trail: cocon.audit_read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, inspect, select, text
from sqlmodel import Session

from cocon.actors import actor_of
from cocon.audit_model import GENESIS, AuditEntry, entry_hash
from cocon.models import (
    Allocation,
    CommunityProfile,
    Contribution,
    FundingLine,
    Org,
    Partner,
    Payment,
    Project,
)
from cocon.money import format_decimal
from cocon.user_models import User

# PostgreSQL: one sealing at a time, so two transactions never take the same place in the chain.
SEAL_LOCK = 7_264_011
REFERENCES = {
    "owner_id": (Org, "owner", "code"),
    "site_id": (Org, "site", "code"),
    "org_id": (Org, "org", "code"),
    "parent_id": (None, "parent", "code"),  # an org's or an allocation's parent: same table
    "project_id": (Project, "project", "code"),
    "allocation_id": (Allocation, "allocation", "code"),
    "partner_id": (Partner, "partner", "credit_code"),
    "funding_line_id": (FundingLine, "funding_line", "id"),
}


PROJECT_FIELDS = (
    "code", "name", "owner_id", "site_id", "category", "year", "status", "start_date",
    "end_date", "budget_fen", "area_m2", "households_served", "description",
)  # fmt: skip


@dataclass(frozen=True)
class Tracked:
    """How one table's rows show in the trail: name, code, org and the fields people enter."""

    entity: str
    fields: tuple[str, ...]
    code: Callable[[Session, Any], str | None]
    org_id: Callable[[Session, Any], int | None]


def _owner_of_project(session: Session, project_id: int | None) -> int | None:
    project = session.get(Project, project_id) if project_id else None
    return project.owner_id if project else None


def _line(session: Session, line_id: int | None) -> FundingLine | None:
    return session.get(FundingLine, line_id) if line_id else None


def _line_code(session: Session, line: FundingLine | None) -> str | None:
    if line is None:
        return None
    project, allocation = session.get(Project, line.project_id), session.get(
        Allocation, line.allocation_id
    )
    return f"{project.code if project else '?'} ← {allocation.code if allocation else '?'}"


# Who reversed a payment or funding line, when and why (reversed_by_id shows as reversed_by).
REVERSAL_FIELDS = ("reversed_at", "reversed_by", "reversal_reason")
TRACKED: dict[type, Tracked] = {
    Project: Tracked(
        "project",
        PROJECT_FIELDS,
        lambda s, o: o.code,
        lambda s, o: o.owner_id,
    ),
    Allocation: Tracked(
        "allocation",
        ("code", "org_id", "year", "amount_fen", "parent_id", "source_note"),
        lambda s, o: o.code,
        lambda s, o: o.org_id,
    ),
    Partner: Tracked(
        "partner",
        ("credit_code", "name", "kind", "contact", "phone"),
        lambda s, o: o.credit_code,
        lambda s, o: None,  # shared by the whole tree
    ),
    FundingLine: Tracked(
        "funding_line",
        ("project_id", "allocation_id", "amount_fen", *REVERSAL_FIELDS),
        lambda s, o: _line_code(s, o),
        lambda s, o: _owner_of_project(s, o.project_id),
    ),
    Payment: Tracked(
        "payment",
        ("funding_line_id", "paid_on", "amount_fen", "voucher_no", "note", *REVERSAL_FIELDS),
        lambda s, o: o.voucher_no,
        lambda s, o: _owner_of_project(s, getattr(_line(s, o.funding_line_id), "project_id", None)),
    ),
    Contribution: Tracked(
        "contribution",
        ("project_id", "partner_id", "kind", "amount_fen", "note"),
        lambda s, o: f"{getattr(s.get(Project, o.project_id), 'code', '?')}",
        lambda s, o: _owner_of_project(s, o.project_id),
    ),
    CommunityProfile: Tracked(
        "community_profile",
        ("households", "permanent_residents", "floating_residents", "unit_type"),
        lambda s, o: getattr(s.get(Org, o.org_id), "code", None),
        lambda s, o: o.org_id,
    ),
    User: Tracked(
        "user",
        ("username", "display_name", "role", "org_id", "active", "password_hash"),
        lambda s, o: o.username,
        lambda s, o: o.org_id,
    ),
    Org: Tracked(
        "org",
        ("code", "name", "parent_id"),
        lambda s, o: o.code,
        lambda s, o: o.id,
    ),
}


def shown(session: Session, model: type, field: str, value: object) -> object:
    """Return a field's value as the trail keeps it: yuan strings, enum values, codes."""
    if value is None:
        return None
    if field == "password_hash":
        return "…"  # that it changed, never what it is
    if field.endswith("_fen") and isinstance(value, int):
        return format_decimal(value)
    if field in REFERENCES:
        table, _name, key = REFERENCES[field]
        referred = session.get(table or model, value)
        if field == "funding_line_id":
            return _line_code(session, referred)
        return getattr(referred, key, value) if referred is not None else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _label(field: str) -> str:
    return REFERENCES[field][1] if field in REFERENCES else field.removesuffix("_hash")


def _changes(session: Session, obj: object, tracked: Tracked, kind: str) -> dict[str, list]:
    model = type(obj)
    state = inspect(obj)
    changes: dict[str, list] = {}
    for field in tracked.fields:
        if kind == "create":
            before, after = None, getattr(obj, field)
        elif kind == "delete":
            before, after = getattr(obj, field), None
        else:
            history = state.attrs[field].history
            if not history.has_changes():
                continue
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
        if before == after:
            continue
        old, new = shown(session, model, field, before), shown(session, model, field, after)
        if old != new or field == "password_hash":
            changes[_label(field)] = [old, new]
    return changes


def _action(entity: str, kind: str, changes: dict[str, list]) -> str:
    if entity == "project" and kind == "update" and set(changes) == {"status"}:
        return "status"
    if entity == "payment" and kind == "create":
        return "payment"
    if kind == "update" and (changes.get("reversed_at") or [None, None])[1] is not None:
        return "reversal"
    return kind


def _org_path(session: Session, org_id: int | None) -> str | None:
    org = session.get(Org, org_id) if org_id else None
    return org.path if org is not None else None


def _entry(session: Session, **values: Any) -> AuditEntry:
    actor = actor_of(session)
    org_id = values.pop("org_id", None)
    return AuditEntry(
        at=datetime.now(UTC),
        actor=actor.name,
        user_id=actor.user_id,
        org_id=org_id,
        org_path=values.pop("org_path", None) or _org_path(session, org_id),
        changes=json.dumps(values.pop("changes", {}) or {}, ensure_ascii=False, sort_keys=True),
        details=json.dumps(values.pop("details", {}) or {}, ensure_ascii=False, sort_keys=True),
        **values,
    )


def _on_flush(session: Session, _context, _instances) -> None:
    entries = []
    with session.no_autoflush:
        for kind, objects in (
            ("create", session.new),
            ("update", session.dirty),
            ("delete", session.deleted),
        ):
            for obj in list(objects):
                tracked = TRACKED.get(type(obj))
                if tracked is None:
                    continue
                changes = _changes(session, obj, tracked, kind)
                if kind == "update" and not changes:
                    continue
                entries.append(
                    _entry(
                        session,
                        action=_action(tracked.entity, kind, changes),
                        entity=tracked.entity,
                        entity_code=tracked.code(session, obj),
                        org_id=tracked.org_id(session, obj),
                        changes=changes,
                    )
                )
    session.add_all(entries)


def record(
    session: Session,
    action: str,
    entity: str,
    *,
    code: str | None = None,
    org_id: int | None = None,
    changes: dict[str, list] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an event that no table row shows (sign-in, import, export, denied access)."""
    session.add(
        _entry(
            session,
            action=action,
            entity=entity,
            entity_code=code,
            org_id=org_id,
            changes=changes,
            details=details,
        )
    )


def _seal(session: Session) -> None:
    from cocon.db import update_rows

    if session.in_nested_transaction():
        # A savepoint's commit: the transaction's own commit seals (on PostgreSQL the seal's lock
        # would otherwise be held, blocking every other writer's seal, until that commit).
        return
    session.flush()
    table = AuditEntry.__table__
    unsealed = session.execute(
        select(*(table.c[name] for name in SEALED_COLUMNS))
        .where(table.c.hash.is_(None))
        .order_by(table.c.id)
    ).all()
    if not unsealed:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK})
    last = session.execute(
        select(table.c.seq, table.c.hash)
        .where(table.c.seq.is_not(None))
        .order_by(table.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    sealed = []
    for row in unsealed:
        seq += 1
        entry = SimpleNamespace(**{**row._mapping, "seq": seq})
        digest = entry_hash(entry, prev)
        sealed.append({"id": row.id, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    # One statement per chunk, not one per entry: an import seals an entry per row it wrote.
    connection = session.connection()
    for start in range(0, len(sealed), 5000):
        update_rows(connection, table, sealed[start : start + 5000])
    for obj in session.identity_map.values():
        if isinstance(obj, AuditEntry):
            session.expire(obj)


SEALED_COLUMNS = (
    "id", "seq", "at", "actor", "user_id", "action", "entity", "entity_code", "org_id",
    "org_path", "changes", "details",
)  # fmt: skip


def watch(session: Session) -> Session:
    """Make session record what it changes and seal the records when it commits."""
    event.listen(session, "before_flush", _on_flush)
    event.listen(session, "before_commit", _seal)
    return session


def record_rows(
    session: Session, entity: str, rows: list[tuple[str, str, dict[str, list]]], owners: list
) -> None:
    """Record many rows written by bulk statements (no flush sees them): (action, code, changes).

    owners gives each row's org id; references in changes are ids, shown as codes here.
    """
    from cocon.db import bulk_insert, in_list

    if not rows:
        return
    org_ids = {owner for owner in owners if owner is not None}
    for _action, _code, changes in rows:
        for field in ("owner_id", "site_id"):
            org_ids.update(value for value in changes.get(field, ()) if value is not None)
    found = session.execute(
        select(Org.id, Org.code, Org.path).where(in_list(session, Org.id, sorted(org_ids)))
    ).all()
    codes = {org_id: code for org_id, code, _path in found}
    paths = {org_id: path for org_id, _code, path in found}
    actor, now = actor_of(session), datetime.now(UTC)
    columns = ("at", "actor", "user_id", "action", "entity", "entity_code", "org_id",
               "org_path", "changes", "details")  # fmt: skip
    written = []
    for (action, code, changes), owner in zip(rows, owners, strict=True):
        shown_changes = {}
        for field, (before, after) in changes.items():
            if field in ("owner_id", "site_id"):
                before, after = codes.get(before), codes.get(after)
            else:
                before = shown(session, Project, field, before)
                after = shown(session, Project, field, after)
            if before != after:
                shown_changes[_label(field)] = [before, after]
        text_changes = json.dumps(shown_changes, ensure_ascii=False, sort_keys=True)
        written.append(
            (now, actor.name, actor.user_id, action, entity, code, owner, paths.get(owner),
             text_changes, "{}")
        )  # fmt: skip
    bulk_insert(session.connection(), "audit_entry", columns, written)
