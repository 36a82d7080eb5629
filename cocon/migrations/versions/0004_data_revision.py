"""data revision counter for kept pages; allocations indexed by year and org

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:10:00.000000

data_revision holds one row whose counter every writing transaction advances (cocon.db): the
web app keeps rendered read pages while it stays the same. ix_allocation_year_org replaces the
index on year alone, so a subtree's allocations of a year are read by key.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'data_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('revision', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO data_revision (id, revision) VALUES (1, 0)")
    op.drop_index('ix_allocation_year', table_name='allocation')
    op.create_index('ix_allocation_year_org', 'allocation', ['year', 'org_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_allocation_year_org', table_name='allocation')
    op.create_index('ix_allocation_year', 'allocation', ['year'], unique=False)
    op.drop_table('data_revision')
