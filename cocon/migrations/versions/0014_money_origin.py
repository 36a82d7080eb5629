"""money by origin: who put it up, beside who holds it

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 12:00:00.000000

Finance asks which level put money up, not which level holds it: Gongshu's ¥1,350,000 passed
down to its streets is district money wherever the streets draw it. allocation.origin_id names
the root of each allocation's sub-allocation chain (itself for a root). project.drawn_l{n}_fen
now sums what a project draws on money that level put up (by the origin's org level);
project.holder_l{n}_fen keeps what it draws on allocations that level holds (the old meaning,
使用/安排单位). org_figures gains the holder columns, at the end of its generated text.


The project triggers of migration 0003 sum the new columns too: they are created again here, from
the same generators with the longer column list. A later migration that rebuilds project or
org_figures on SQLite must create them again from this module's SQLITE_TRIGGERS.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import context, op


revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LEVELS = (1, 2, 3, 4, 5)
STATUSES = ('draft', 'submitted', 'approved', 'in_progress', 'completed', 'cancelled')
HOLDER = tuple(f'holder_l{level}_fen' for level in LEVELS)
OLD_SUMMED = (
    'budget_fen', 'drawn_l1_fen', 'drawn_l2_fen', 'drawn_l3_fen', 'drawn_l4_fen',
    'drawn_l5_fen', 'partners_fen', 'paid_fen', 'failing_checks',
)
SUMMED = (*OLD_SUMMED, *HOLDER)
FIGURES = ('projects', *STATUSES, *SUMMED)
TEXT_COLUMNS = ('org_id', *FIGURES)
SQLITE_TEXT = f"printf('{','.join(['%d'] * len(TEXT_COLUMNS))}', {', '.join(TEXT_COLUMNS)})"
PG_TEXT = " || ',' || ".join(f'CAST({name} AS TEXT)' for name in TEXT_COLUMNS)
PROJECT_TRIGGERS = ('insert', 'delete', 'update', 'move')
ROLLUP_INDEX = ('year', 'owner_id', 'status', *OLD_SUMMED)

INSERT = f"INSERT INTO org_figures (year, org_id, {', '.join(FIGURES)})"
UPSERT = " ON CONFLICT (org_id, year) DO UPDATE SET " + ", ".join(
    f"{name} = org_figures.{name} + excluded.{name}" for name in FIGURES
)
FILL = (
    f"{INSERT} SELECT year, owner_id, COUNT(*), "
    + ", ".join(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in STATUSES)
    + ", "
    + ", ".join(f"SUM({name})" for name in SUMMED)
    + " FROM project GROUP BY year, owner_id"
)

# Origins: roots name themselves, then each pass reaches one level further down (five levels,
# and a sub-allocation always goes to a lower org, so four passes reach every chain's end).
ORIGIN_ROOTS = 'UPDATE allocation SET origin_id = id WHERE parent_id IS NULL'
ORIGIN_STEP = (
    'UPDATE allocation SET origin_id = (SELECT p.origin_id FROM allocation AS p'
    ' WHERE p.id = allocation.parent_id) WHERE parent_id IS NOT NULL AND origin_id IS NULL'
)


def _by_level(org: str, prefix: str) -> str:
    """Return the per-level sums of the lines' amounts, by the level of the org aliased org."""
    return ', '.join(
        f"SUM(CASE WHEN {org}.level = {level} THEN fl.amount_fen ELSE 0 END) AS {prefix}{level}"
        for level in LEVELS
    )


# Every project with funding lines: drawn by origin level, and by holder level.
PROJECT_FILL = (
    'UPDATE project SET '
    + ', '.join(f'drawn_l{level}_fen = s.o{level}' for level in LEVELS)
    + ', '
    + ', '.join(f'holder_l{level}_fen = s.h{level}' for level in LEVELS)
    + ' FROM (SELECT fl.project_id, '
    + _by_level('origin_org', 'o')
    + ', '
    + _by_level('holder_org', 'h')
    + ' FROM funding_line AS fl JOIN allocation AS a ON a.id = fl.allocation_id'
    ' JOIN allocation AS root ON root.id = a.origin_id'
    ' JOIN org AS origin_org ON origin_org.id = root.org_id'
    ' JOIN org AS holder_org ON holder_org.id = a.org_id'
    ' WHERE fl.reversed_at IS NULL GROUP BY fl.project_id) AS s WHERE project.id = s.project_id'
)
PROJECT_BACK = 'UPDATE project SET ' + ', '.join(
    f'drawn_l{level}_fen = holder_l{level}_fen' for level in LEVELS
)


def _sqlite_values(row: str, sign: str) -> str:
    parts = [f'{row}.year', f'{row}.owner_id', f'{sign}1']
    parts += [f"{sign}({row}.status = '{s}')" for s in STATUSES]
    parts += [f'{sign}{row}.{name}' for name in SUMMED]
    return ', '.join(parts)


def _sqlite_delta() -> str:
    parts = ['NEW.year', 'NEW.owner_id', '0']
    parts += [f"(NEW.status = '{s}') - (OLD.status = '{s}')" for s in STATUSES]
    parts += [f'NEW.{name} - OLD.{name}' for name in SUMMED]
    return ', '.join(parts)


_DROP_EMPTY_SQLITE = (
    'DELETE FROM org_figures WHERE year = OLD.year AND org_id = OLD.owner_id AND projects = 0;'
)
_CHANGED = ' OR '.join(
    ['OLD.status IS NOT NEW.status'] + [f'OLD.{name} != NEW.{name}' for name in SUMMED]
)
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER project_figures_insert AFTER INSERT ON project BEGIN
    {INSERT} VALUES ({_sqlite_values('NEW', '')}){UPSERT};
END""",
    f"""CREATE TRIGGER project_figures_delete AFTER DELETE ON project BEGIN
    {INSERT} VALUES ({_sqlite_values('OLD', '-')}){UPSERT};
    {_DROP_EMPTY_SQLITE}
END""",
    f"""CREATE TRIGGER project_figures_update AFTER UPDATE OF year, owner_id, status, {', '.join(SUMMED)}
ON project WHEN OLD.year = NEW.year AND OLD.owner_id = NEW.owner_id AND ({_CHANGED}) BEGIN
    {INSERT} VALUES ({_sqlite_delta()}){UPSERT};
END""",
    f"""CREATE TRIGGER project_figures_move AFTER UPDATE OF year, owner_id ON project
WHEN OLD.year != NEW.year OR OLD.owner_id != NEW.owner_id BEGIN
    {INSERT} VALUES ({_sqlite_values('OLD', '-')}){UPSERT};
    {_DROP_EMPTY_SQLITE}
    {INSERT} VALUES ({_sqlite_values('NEW', '')}){UPSERT};
END""",
)


def _pg_signed(table: str, sign: str) -> str:
    parts = ['year', 'owner_id', f'{sign}1 AS projects']
    parts += [f"{sign}(status = '{s}')::int AS {s}" for s in STATUSES]
    parts += [f'{sign}{name} AS {name}' for name in SUMMED]
    return f"SELECT {', '.join(parts)} FROM {table}"


def _pg_apply(rows: str) -> str:
    sums = ', '.join(f'SUM({name})' for name in FIGURES)
    nonzero = ' OR '.join(f'SUM({name}) <> 0' for name in FIGURES)
    return (
        f"{INSERT} SELECT year, owner_id, {sums} FROM ({rows}) AS changes"
        f" GROUP BY year, owner_id HAVING {nonzero} ORDER BY year, owner_id{UPSERT};"
    )


_DROP_EMPTY_PG = (
    'DELETE FROM org_figures f USING (SELECT DISTINCT year, owner_id FROM old_projects) o'
    ' WHERE f.year = o.year AND f.org_id = o.owner_id AND f.projects = 0;'
)
PG_FUNCTIONS = {
    'insert': _pg_apply(_pg_signed('new_projects', '')),
    'update': _pg_apply(
        f"{_pg_signed('new_projects', '')} UNION ALL {_pg_signed('old_projects', '-')}"
    )
    + '\n    '
    + _DROP_EMPTY_PG,
    'delete': _pg_apply(_pg_signed('old_projects', '-')) + '\n    ' + _DROP_EMPTY_PG,
}


def _replace_pg_functions(functions: dict[str, str]) -> None:
    # The triggers stay; only the bodies they run change (statement triggers of 0003).
    for event, body in functions.items():
        op.execute(
            f"CREATE OR REPLACE FUNCTION project_figures_{event}() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$\nBEGIN\n    {body}\n    RETURN NULL;\nEND\n$$"
        )


def _drop_sqlite_triggers() -> None:
    for name in PROJECT_TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS project_figures_{name}')


def _rebuild_sqlite_figures() -> None:
    """Build org_figures again with the holder columns and the longer text (SQLite)."""
    op.create_table(
        'org_figures_new',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in FIGURES],
        sa.Column('figures_text', sa.Text(), sa.Computed(SQLITE_TEXT, persisted=True)),
        sa.PrimaryKeyConstraint('org_id', 'year'),
        sqlite_with_rowid=False,
    )
    op.drop_table('org_figures')
    op.rename_table('org_figures_new', 'org_figures')


def _rollup_index(columns: Sequence[str]) -> None:
    op.drop_index('ix_project_rollup', table_name='project')
    op.create_index('ix_project_rollup', 'project', list(columns), unique=False)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column('allocation', sa.Column('origin_id', sa.Integer(), nullable=True))
    op.create_index('ix_allocation_origin_id', 'allocation', ['origin_id'], unique=False)
    op.execute(ORIGIN_ROOTS)
    for _ in LEVELS[1:]:
        op.execute(ORIGIN_STEP)
    for name in HOLDER:  # in place: rebuilding project would drop its triggers
        op.add_column(
            'project', sa.Column(name, sa.BigInteger(), nullable=False, server_default='0')
        )
    if dialect == 'sqlite':
        _drop_sqlite_triggers()
        _rebuild_sqlite_figures()
    else:
        op.drop_column('org_figures', 'figures_text')
        for name in HOLDER:
            op.add_column('org_figures', sa.Column(name, sa.BigInteger(), nullable=False,
                                                   server_default='0'))
            op.alter_column('org_figures', name, server_default=None)
        op.add_column(
            'org_figures',
            sa.Column('figures_text', sa.Text(), sa.Computed(PG_TEXT, persisted=True)),
        )
        _replace_pg_functions(PG_FUNCTIONS)
        # The triggers would refill org_figures row by row; it is refilled whole below.
        op.execute('ALTER TABLE project DISABLE TRIGGER USER')
    op.execute(PROJECT_FILL)
    op.execute('DELETE FROM org_figures')
    op.execute(FILL)
    if dialect == 'sqlite':
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute('ALTER TABLE project ENABLE TRIGGER USER')
    _rollup_index((*ROLLUP_INDEX, *HOLDER))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _rollup_index(ROLLUP_INDEX)
    earlier = context.script.get_revision('0003').module
    if dialect == 'sqlite':
        _drop_sqlite_triggers()
    else:
        op.execute('ALTER TABLE project DISABLE TRIGGER USER')
    op.execute(PROJECT_BACK)
    if dialect == 'sqlite':
        # 0005 builds org_figures with its columns and text and creates 0003's triggers.
        context.script.get_revision('0005').module._rebuild_sqlite(with_text=True)
    else:
        op.drop_column('org_figures', 'figures_text')
        for name in HOLDER:
            op.drop_column('org_figures', name)
        op.add_column(
            'org_figures',
            sa.Column(
                'figures_text',
                sa.Text(),
                sa.Computed(context.script.get_revision('0005').module.PG_TEXT, persisted=True),
            ),
        )
        _replace_pg_functions(earlier.PG_FUNCTIONS)
        op.execute('ALTER TABLE project ENABLE TRIGGER USER')
    op.execute('DELETE FROM org_figures')
    op.execute(earlier.FILL)
    for name in HOLDER:
        op.execute(f'ALTER TABLE project DROP COLUMN {name}')  # in place, keeping triggers
    op.drop_index('ix_allocation_origin_id', table_name='allocation')
    op.execute('ALTER TABLE allocation DROP COLUMN origin_id')
