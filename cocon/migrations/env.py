"""Alembic environment: runs cocon's migrations on the engine handed over in the config."""

from alembic import context
from sqlalchemy import create_engine

from cocon import audit_model, models, user_models  # noqa: F401 - the tables register themselves

target_metadata = models.SQLModel.metadata
config = context.config


def run_migrations_online() -> None:
    """Run migrations on the configured engine."""
    engine = config.attributes.get("engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
