"""audit trail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:57:51.056262

The audit trail: rows are inserted unsealed inside the transaction they record and sealed as
it commits (seq and hash set once). Triggers refuse to change a sealed row and to remove any.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


SEALED = "audit entries are append-only: a sealed entry cannot be changed"
REMOVED = "audit entries are append-only: no entry can be removed"


def _triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            f"    IF TG_OP = 'DELETE' THEN RAISE EXCEPTION '{REMOVED}'; END IF;\n"
            f"    IF OLD.hash IS NOT NULL THEN RAISE EXCEPTION '{SEALED}'; END IF;\n"
            "    RETURN NEW;\n"
            "END\n$$"
        )
        op.execute(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_entry"
            " FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_sealed BEFORE UPDATE ON audit_entry WHEN OLD.hash IS NOT NULL"
        f" BEGIN SELECT RAISE(ABORT, '{SEALED}'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_removed BEFORE DELETE ON audit_entry"
        f" BEGIN SELECT RAISE(ABORT, '{REMOVED}'); END"
    )


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('entity_code', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('org_path', sa.String(length=120).with_variant(sa.String(length=120, collation='C'), 'postgresql'), nullable=True),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_entry_entity', ['entity', 'entity_code'], unique=False)
        batch_op.create_index('ix_audit_entry_org_path', ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_user_id'), ['user_id'], unique=False)

    _triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_append_only ON audit_entry")
        op.execute("DROP FUNCTION audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_sealed")
        op.execute("DROP TRIGGER audit_removed")
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_user_id'))
        batch_op.drop_index('ix_audit_entry_org_path')
        batch_op.drop_index('ix_audit_entry_entity')
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))

    op.drop_table('audit_entry')
