"""Read the audit trail: walk its chain, and list the entries a subtree may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from cocon.audit_model import GENESIS, AuditEntry, entry_hash
from cocon.models import Org


@dataclass(frozen=True)
class Broken:
    """The first entry where the chain does not hold, and why."""

    seq: int | None
    entry_id: int | None
    reason: str


def verify(session: Session, batch: int = 5000) -> tuple[int, Broken | None]:
    """Walk the chain in order; return how many entries hold and the first that does not."""
    prev, expected, checked = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = session.execute(
            select(AuditEntry)
            .where(AuditEntry.seq.is_not(None), AuditEntry.seq > last_seq)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).scalars()
        page = list(rows)
        if not page:
            break
        for entry in page:
            if entry.seq != expected:
                return checked, Broken(expected, None, "missing")
            if entry.prev_hash != prev:
                return checked, Broken(entry.seq, entry.id, "chain")
            if entry_hash(entry, prev) != entry.hash:
                return checked, Broken(entry.seq, entry.id, "content")
            prev, expected, checked, last_seq = entry.hash, expected + 1, checked + 1, entry.seq
        session.expunge_all()
    return checked, None


@dataclass(frozen=True)
class Filters:
    """Which entries to read: a subtree, a user, an action, a kind of thing, a time range."""

    within: Org | None = None
    user: str | None = None
    action: str | None = None
    entity: str | None = None
    code: str | None = None
    codes: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def _filtered(statement, filters: Filters):
    statement = statement.where(AuditEntry.seq.is_not(None))
    if filters.within is not None:
        from cocon.orgs import subtree_condition

        # Partners are shared by the whole tree, and so is their history; other entries
        # without an org (a sign-in failure for a name nobody has) only the whole tree sees.
        statement = statement.where(
            subtree_condition(filters.within.path, AuditEntry.org_path)
            | (AuditEntry.org_path.is_(None) & (AuditEntry.entity == "partner"))
        )
    if filters.user:
        statement = statement.where(AuditEntry.actor.contains(filters.user, autoescape=True))
    for column, value in (
        (AuditEntry.action, filters.action),
        (AuditEntry.entity, filters.entity),
        (AuditEntry.entity_code, filters.code),
    ):
        if value:
            statement = statement.where(column == value)
    if filters.codes:
        statement = statement.where(AuditEntry.entity_code.in_(filters.codes))
    if filters.since is not None:
        statement = statement.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        statement = statement.where(AuditEntry.at < filters.until)
    return statement


def entries(
    session: Session, filters: Filters = Filters(), *, limit: int | None = 50, offset: int = 0
) -> list[AuditEntry]:
    """Return the entries that match, newest first (shared things' entries in every subtree)."""
    statement = _filtered(select(AuditEntry), filters).order_by(AuditEntry.seq.desc())
    statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.execute(statement).scalars())


def count_entries(session: Session, filters: Filters = Filters()) -> int:
    """Count the entries that match."""
    statement = _filtered(select(func.count(AuditEntry.id)), filters)
    return int(session.execute(statement).scalar() or 0)
