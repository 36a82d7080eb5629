"""org tree version kept in a table on PostgreSQL, so only committed moves show

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:45:00.000000

The rollup keeps the whole tree's shape while its key stays the same; the key holds a counter
that moves and deletes advance (migration 0003). On PostgreSQL that counter was a sequence, and
nextval shows at once to every session, before the move commits: a session reading the tree in
between kept the old shape under the new key. A row in org_tree_state changes only on commit.
(SQLite's counter, an AUTOINCREMENT entry, is part of the writing transaction already.)
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _bump(body: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION org_tree_bump() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n    {body}\n    RETURN NULL;\nEND\n$$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE TABLE org_tree_state (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)')
    op.execute(
        'INSERT INTO org_tree_state (id, version) SELECT 1, '
        'CASE WHEN is_called THEN last_value ELSE 0 END FROM org_tree_version'
    )
    op.execute(
        _bump(
            'INSERT INTO org_tree_state (id, version) VALUES (1, 1)'
            ' ON CONFLICT (id) DO UPDATE SET version = org_tree_state.version + 1;'
        )
    )
    op.execute('DROP SEQUENCE org_tree_version')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('CREATE SEQUENCE org_tree_version')
    op.execute(
        "SELECT setval('org_tree_version', version) FROM org_tree_state WHERE id = 1 AND version > 0"
    )
    op.execute(_bump("PERFORM nextval('org_tree_version');"))
    op.execute('DROP TABLE org_tree_state')
