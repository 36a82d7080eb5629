"""reversal and confirmation times with their time zone on PostgreSQL

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 12:00:00.000000

Migrations 0009 and 0011 added payment.confirmed_at and the reversed_at of payments and funding
lines as TIMESTAMP WITHOUT TIME ZONE, where the models (like every other time of cocon) hold
aware UTC times: on a server whose TimeZone is not UTC, such a time read back was off by the
zone's offset. The values were written in the server's time zone, which the type change reads
them in. SQLite keeps every time as text either way: nothing to do there.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = (("funding_line", "reversed_at"), ("payment", "reversed_at"), ("payment", "confirmed_at"))


def _retype(aware: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.DateTime(timezone=aware),
            existing_type=sa.DateTime(timezone=not aware),
            existing_nullable=True,
        )


def upgrade() -> None:
    _retype(True)


def downgrade() -> None:
    _retype(False)
