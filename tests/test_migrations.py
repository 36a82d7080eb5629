"""The migrations build the schema the models declare: autogenerate finds nothing to add."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cocon import audit_model, models, user_models  # noqa: F401 - the tables register themselves

# Kept by the migrations' triggers for the rollup's tree key, with no model (migrations 0003, 0006).
TABLES_WITHOUT_MODEL = {"sqlite": {"org_tree_moves"}, "postgresql": {"org_tree_state"}}


def test_migrations_build_the_schema_the_models_declare(cli, engine):
    cli.ok("init")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, models.SQLModel.metadata)
    unmodelled = TABLES_WITHOUT_MODEL[engine.dialect.name]
    left = [
        difference
        for difference in differences
        if not (difference[0] == "remove_table" and difference[1].name in unmodelled)
    ]
    assert left == []
