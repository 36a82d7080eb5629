"""review flow

Revision ID: 0009
Revises: 0008

Who changed a project's status, whether a reviewer returned it, who last saved it; who recorded
a payment and whether it still awaits a second finance user's confirmation.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME = sqlmodel.sql.sqltypes.AutoString(length=120)


def upgrade() -> None:
    op.add_column('status_change', sa.Column('changed_by', NAME, nullable=True))
    op.add_column('status_change', sa.Column('changed_by_id', sa.Integer(), nullable=True))
    op.add_column(
        'status_change',
        sa.Column('returned', sa.Boolean(), nullable=False, server_default='0'),
    )
    op.add_column('project', sa.Column('last_edited_by_id', sa.Integer(), nullable=True))
    op.add_column('payment', sa.Column('recorded_by', NAME, nullable=True))
    op.add_column('payment', sa.Column('recorded_by_id', sa.Integer(), nullable=True))
    op.add_column(
        'payment',
        sa.Column('awaiting_confirmation', sa.Boolean(), nullable=False, server_default='0'),
    )
    op.add_column('payment', sa.Column('confirmed_by', NAME, nullable=True))
    op.add_column('payment', sa.Column('confirmed_by_id', sa.Integer(), nullable=True))
    op.add_column('payment', sa.Column('confirmed_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of project would lose its triggers.
    for table, names in (
        ('payment', ('confirmed_at', 'confirmed_by_id', 'confirmed_by', 'awaiting_confirmation',
                     'recorded_by_id', 'recorded_by')),
        ('project', ('last_edited_by_id',)),
        ('status_change', ('returned', 'changed_by_id', 'changed_by')),
    ):
        for name in names:
            op.drop_column(table, name)
