"""reversals of payments and funding lines

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00.000000

A wrong payment or funding line is reversed by who, when and why instead of being deleted: it
stays listed and counts zero in every figure. The columns are added in place (not by rebuilding
the tables, which would drop their triggers).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ("funding_line", "payment")
COLUMNS = ("reversed_at", "reversed_by", "reversed_by_id", "reversal_reason")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("reversed_at", sa.DateTime(), nullable=True))
        op.add_column(table, sa.Column("reversed_by", sa.String(length=120), nullable=True))
        op.add_column(table, sa.Column("reversed_by_id", sa.Integer(), nullable=True))
        op.add_column(table, sa.Column("reversal_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        for column in COLUMNS:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # in place, keeping triggers
