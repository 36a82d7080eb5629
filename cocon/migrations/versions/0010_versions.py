"""version counters on the records people edit

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 23:20:00.000000

Each editable record (project, partner, allocation, funding line, community profile, user)
carries a version that SQLAlchemy advances on every save and checks in the UPDATE itself, and
that forms and imports carry back: saving over a newer version is refused as a conflict. The
columns are added in place (not by rebuilding the tables, which would drop their triggers).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ("project", "partner", "allocation", "funding_line", "community_profile", "user_account")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN version")  # in place, keeping the triggers
