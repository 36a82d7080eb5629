"""The audit trail's table (操作日志): one row per recorded change, chained by hashes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from cocon.models import PathString

# The hash the first entry of the chain follows.
GENESIS = "0" * 64


class AuditEntry(SQLModel, table=True):
    """Who did what to which thing of which org, when, and every field before → after.

    Rows are written unsealed (no seq, no hash) inside the transaction they record and sealed
    when it commits: seq is the row's place in the chain, hash covers its content and the hash
    of the row before. A sealed row can be neither changed nor removed (database triggers).
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_entity", "entity", "entity_code"),
        Index("ix_audit_entry_org_path", "org_path"),
    )

    id: int | None = Field(default=None, primary_key=True)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    at: datetime = Field(index=True)
    actor: str = Field(max_length=120)
    user_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    action: str = Field(max_length=30)
    entity: str = Field(max_length=30)
    entity_code: str | None = Field(default=None, max_length=200)
    org_id: int | None = Field(default=None, sa_column=Column(Integer))
    org_path: str | None = Field(default=None, sa_column=Column(PathString))
    changes: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    hash: str | None = Field(default=None, sa_column=Column(String(64)))


def entry_hash(entry: AuditEntry | Any, prev_hash: str) -> str:
    """Return the hash of an entry's content chained to the hash of the entry before it."""
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
    content = [
        prev_hash,
        entry.seq,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        entry.actor,
        entry.user_id,
        entry.action,
        entry.entity,
        entry.entity_code,
        entry.org_id,
        entry.org_path,
        entry.changes,
        entry.details,
    ]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()
