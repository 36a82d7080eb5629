"""org figures kept by triggers, org tree move counter, covering index for the org tree

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:15:00.000000

org_figures holds each org's own project figures per year. Triggers on project keep it exact on
every write path (ORM, bulk imports, raw SQL): SQLite by row triggers, PostgreSQL by statement
triggers that add up each statement's changes per (year, owner) and upsert them in key order,
so concurrent writers take the figure rows' locks in one order. Triggers on org advance a
counter whenever an org moves or is deleted (see SQLITE_TREE_TRIGGERS): the rollup keeps the
tree's shape in memory while the counter, the org count and the highest id stay the same.

A later migration that rebuilds the project table through batch_alter_table on SQLite (copy and
move) drops these triggers with the old table: it must create them again.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUSES = ('draft', 'submitted', 'approved', 'in_progress', 'completed', 'cancelled')
# Project columns summed as they are; org_figures uses the same names.
SUMMED = (
    'budget_fen', 'drawn_l1_fen', 'drawn_l2_fen', 'drawn_l3_fen', 'drawn_l4_fen',
    'drawn_l5_fen', 'partners_fen', 'paid_fen', 'failing_checks',
)
FIGURES = ('projects', *STATUSES, *SUMMED)
INSERT = f"INSERT INTO org_figures (year, org_id, {', '.join(FIGURES)})"
UPSERT = " ON CONFLICT (org_id, year) DO UPDATE SET " + ", ".join(
    f"{name} = org_figures.{name} + excluded.{name}" for name in FIGURES
)
# Every project's own figures, grouped: the migration's first fill (cocon.derived rebuilds alike).
FILL = (
    f"{INSERT} SELECT year, owner_id, COUNT(*), "
    + ", ".join(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in STATUSES)
    + ", "
    + ", ".join(f"SUM({name})" for name in SUMMED)
    + " FROM project GROUP BY year, owner_id"
)


def _sqlite_values(row: str, sign: str) -> str:
    """Return the VALUES of one project row's figures, signed."""
    parts = [f'{row}.year', f'{row}.owner_id', f'{sign}1']
    parts += [f"{sign}({row}.status = '{s}')" for s in STATUSES]
    parts += [f'{sign}{row}.{name}' for name in SUMMED]
    return ', '.join(parts)


def _sqlite_delta() -> str:
    """Return the VALUES of an updated row's change, for a row that kept its year and owner."""
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
    """Return a SELECT of each row's figures in a transition table, signed."""
    parts = ['year', 'owner_id', f'{sign}1 AS projects']
    parts += [f"{sign}(status = '{s}')::int AS {s}" for s in STATUSES]
    parts += [f'{sign}{name} AS {name}' for name in SUMMED]
    return f"SELECT {', '.join(parts)} FROM {table}"


def _pg_apply(rows: str) -> str:
    """Return the upsert of rows' figures summed per (year, owner), skipping all-zero sums."""
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
PG_REFERENCING = {
    'insert': 'NEW TABLE AS new_projects',
    'update': 'OLD TABLE AS old_projects NEW TABLE AS new_projects',
    'delete': 'OLD TABLE AS old_projects',
}


# A move or a delete advances a counter; inserts show in count(*) and max(id). The counter lives
# outside every table a snapshot of the data would hold, so moving an org back restores the data
# exactly: PostgreSQL has a sequence (nextval is never rolled back), SQLite the sqlite_sequence
# entry of an AUTOINCREMENT table that stays empty.
_TREE_MOVED = 'OLD.parent_id IS NOT NEW.parent_id OR OLD.level IS NOT NEW.level'
_BUMP_SQLITE = 'INSERT INTO org_tree_moves (id) VALUES (NULL); DELETE FROM org_tree_moves;'
SQLITE_TREE_TRIGGERS = (
    'CREATE TABLE org_tree_moves (id INTEGER PRIMARY KEY AUTOINCREMENT)',
    f"""CREATE TRIGGER org_tree_move AFTER UPDATE OF parent_id, level ON org
WHEN {_TREE_MOVED} BEGIN
    {_BUMP_SQLITE}
END""",
    f"""CREATE TRIGGER org_tree_delete AFTER DELETE ON org BEGIN
    {_BUMP_SQLITE}
END""",
)
PG_TREE = (
    'CREATE SEQUENCE org_tree_version',
    "CREATE FUNCTION org_tree_bump() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "    PERFORM nextval('org_tree_version');\n    RETURN NULL;\nEND\n$$",
    'CREATE TRIGGER org_tree_move AFTER UPDATE OF parent_id, level ON org FOR EACH ROW'
    f" WHEN ({_TREE_MOVED.replace('IS NOT', 'IS DISTINCT FROM')}) EXECUTE FUNCTION org_tree_bump()",
    'CREATE TRIGGER org_tree_delete AFTER DELETE ON org FOR EACH STATEMENT'
    ' EXECUTE FUNCTION org_tree_bump()',
)


def create_triggers(dialect: str) -> None:
    """Create the triggers that keep org_figures in step with project."""
    if dialect == 'postgresql':
        for event, body in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION project_figures_{event}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f"\nBEGIN\n    {body}\n    RETURN NULL;\nEND\n$$"
            )
            op.execute(
                f'CREATE TRIGGER project_figures_{event} AFTER {event.upper()} ON project'
                f' REFERENCING {PG_REFERENCING[event]} FOR EACH STATEMENT'
                f' EXECUTE FUNCTION project_figures_{event}()'
            )
        for statement in PG_TREE:
            op.execute(statement)
        return
    for statement in (*SQLITE_TRIGGERS, *SQLITE_TREE_TRIGGERS):
        op.execute(statement)


def drop_triggers(dialect: str) -> None:
    """Drop the triggers on project that keep org_figures."""
    if dialect == 'postgresql':
        for event in PG_FUNCTIONS:
            op.execute(f'DROP TRIGGER IF EXISTS project_figures_{event} ON project')
            op.execute(f'DROP FUNCTION IF EXISTS project_figures_{event}()')
        for name in ('move', 'delete'):
            op.execute(f'DROP TRIGGER IF EXISTS org_tree_{name} ON org')
        op.execute('DROP FUNCTION IF EXISTS org_tree_bump()')
        op.execute('DROP SEQUENCE IF EXISTS org_tree_version')
        return
    for name in ('insert', 'delete', 'update', 'move'):
        op.execute(f'DROP TRIGGER IF EXISTS project_figures_{name}')
    for name in ('move', 'delete'):
        op.execute(f'DROP TRIGGER IF EXISTS org_tree_{name}')
    op.execute('DROP TABLE IF EXISTS org_tree_moves')


def upgrade() -> None:
    op.create_table('org_figures',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    *[sa.Column(name, sa.BigInteger(), nullable=False) for name in FIGURES],
    sa.PrimaryKeyConstraint('org_id', 'year'),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('org', schema=None) as batch_op:
        batch_op.create_index('ix_org_tree', ['id', 'parent_id', 'level'], unique=False)
    dialect = op.get_bind().dialect.name
    create_triggers(dialect)
    op.execute(FILL)


def downgrade() -> None:
    drop_triggers(op.get_bind().dialect.name)
    with op.batch_alter_table('org', schema=None) as batch_op:
        batch_op.drop_index('ix_org_tree')
    op.drop_table('org_figures')
