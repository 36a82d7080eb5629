"""org figures also as one generated text per row, read by the whole-tree rollup

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 23:10:00.000000

org_figures.figures_text holds the row's org id and figures as comma-separated decimal text,
generated and stored by the database on every write: the rollup reads one text per row and
parses all of them in one go, instead of having the database turn 17 numbers per row into text
on every read (that conversion was most of the full-tree rollup's time).

SQLite cannot add a stored generated column to a table: the table is built again, and the
project triggers of migration 0003 that write into it are dropped first and created again.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FIGURES = (
    'projects', 'draft', 'submitted', 'approved', 'in_progress', 'completed', 'cancelled',
    'budget_fen', 'drawn_l1_fen', 'drawn_l2_fen', 'drawn_l3_fen', 'drawn_l4_fen',
    'drawn_l5_fen', 'partners_fen', 'paid_fen', 'failing_checks',
)
TEXT_COLUMNS = ('org_id', *FIGURES)
# The same text on both: SQLite's printf costs a third of the CASTs joined by || on each write.
SQLITE_TEXT = f"printf('{','.join(['%d'] * len(TEXT_COLUMNS))}', {', '.join(TEXT_COLUMNS)})"
PG_TEXT = " || ',' || ".join(f'CAST({name} AS TEXT)' for name in TEXT_COLUMNS)
PROJECT_TRIGGERS = ('insert', 'delete', 'update', 'move')


def _rebuild_sqlite(with_text: bool) -> None:
    """Build org_figures again with or without the text, keeping its rows and the triggers."""
    for name in PROJECT_TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS project_figures_{name}')
    text = [sa.Column('figures_text', sa.Text(), sa.Computed(SQLITE_TEXT, persisted=True))]
    op.create_table(
        'org_figures_new',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in FIGURES],
        *(text if with_text else []),
        sa.PrimaryKeyConstraint('org_id', 'year'),
        sqlite_with_rowid=False,
    )
    names = ', '.join(('org_id', 'year', *FIGURES))
    op.execute(f'INSERT INTO org_figures_new ({names}) SELECT {names} FROM org_figures')
    op.drop_table('org_figures')
    op.rename_table('org_figures_new', 'org_figures')
    for statement in context.script.get_revision('0003').module.SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite(with_text=True)
        return
    op.add_column(
        'org_figures',
        sa.Column('figures_text', sa.Text(), sa.Computed(PG_TEXT, persisted=True)),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite(with_text=False)
        return
    op.drop_column('org_figures', 'figures_text')
