"""Engine, sessions and schema migrations."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    literal_column,
    select,
    text,
)
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be issued on writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # Writers take the write lock up front: a checked write can't race another writer.
        immediate = connection.get_execution_options().get("cocon_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """Tell whether engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine, *, write: bool = False, data: bool = True) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on any error.

    The session records what it changes in the audit trail (cocon.audit). A writing session
    with data=False writes only the trail, so pages kept from before stay valid.
    """
    from cocon.audit import watch

    bind = engine.execution_options(cocon_write=True) if write else engine
    with watch(Session(bind, expire_on_commit=False)) as session:
        try:
            yield session
            if write and data and session.in_transaction():
                advance_revision(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise


def advance_revision(session: Session) -> None:
    """Mark that the data changed, so pages kept from before are built again."""
    # An upsert: a database emptied table by table (as tests do) gets its row back.
    session.execute(
        text(
            "INSERT INTO data_revision (id, revision) VALUES (1, 1)"
            " ON CONFLICT (id) DO UPDATE SET revision = data_revision.revision + 1"
        )
    )


def data_revision(session: Session) -> int:
    """Return the counter of writing transactions (see advance_revision)."""
    value = session.execute(text("SELECT revision FROM data_revision WHERE id = 1")).scalar()
    return int(value or 0)


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config that runs cocon's migrations on engine."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("cocon") / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Create the schema or bring it up to the newest migration."""
    command.upgrade(alembic_config(engine), "head")


def schema_is_current(engine: Engine) -> bool:
    """Tell whether the database has cocon's tables."""
    return inspect(engine).has_table("alembic_version")


def bulk_insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple]
) -> None:
    """Insert many rows at driver speed: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def update_rows(
    connection: Connection, table: Table, rows: list[dict], *, guard: str | None = None
) -> int:
    """Set columns of many rows by id (each dict: "id" and the same columns) in few statements.

    With a guard column (the version), each dict also holds "read_<guard>", and a row is set
    only while its guard still holds that value: return how many rows were set.
    PostgreSQL gets one UPDATE per call, from arrays (one parameter per column): row by row,
    each statement would fire the statement-level triggers on project (migration 0003) once
    per row. SQLite, whose triggers fire per row anyway, gets executemany.
    """
    if not rows:
        return 0
    read = f"read_{guard}" if guard else None
    names = [name for name in rows[0] if name not in ("id", read)]
    keys = ["id", *names, *([read] if read else [])]
    if connection.dialect.name == "postgresql":
        dialect = connection.dialect
        types = [table.c[guard if key == read else key].type.compile(dialect) for key in keys]
        arrays = ", ".join(f"%s::{type_}[]" for type_ in types)
        assigned = ", ".join(f"{name} = u.{name}" for name in names)
        checked = f" AND {table.name}.{guard} = u.{read}" if read else ""
        sql = (
            f"UPDATE {table.name} SET {assigned} FROM unnest({arrays}) AS u({', '.join(keys)})"
            f" WHERE {table.name}.id = u.id{checked}"
        )
        columns = [[row[key] for row in rows] for key in keys]
        return connection.exec_driver_sql(sql, tuple(columns)).rowcount
    assigned = ", ".join(f"{name} = ?" for name in names)
    checked = f" AND {guard} = ?" if read else ""
    sql = f"UPDATE {table.name} SET {assigned} WHERE id = ?{checked}"
    where = ["id", read] if read else ["id"]
    values = [tuple(row[key] for key in (*names, *where)) for row in rows]
    return connection.exec_driver_sql(sql, values).rowcount


def in_list(
    session: Session | Connection, column: ColumnElement, values: list
) -> ColumnElement[bool]:
    """Return column IN values with every value in one parameter, so the statement is the same
    (compiled and cached once) whatever their number: = ANY(array) on PostgreSQL, json_each on
    SQLite."""
    bind = session if isinstance(session, Connection) else session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    listed = func.json_each(bindparam(None, json.dumps(list(values)), type_=String))
    return column.in_(select(literal_column("value")).select_from(listed))
