"""Engine, sessions and schema migrations."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

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
from sqlalchemy.engine import ExceptionContext
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

from cocon.errors import Busy

BUSY_SECONDS = 30
# SQLite's primary result codes for a database another connection holds (SQLITE_BUSY, _LOCKED).
_SQLITE_BUSY_CODES = frozenset({5, 6})
# PostgreSQL: lock_timeout reached, serialization failure, deadlock: each says "try again".
_POSTGRES_BUSY_STATES = frozenset({"55P03", "40001", "40P01"})


def is_busy(error: BaseException) -> bool:
    """Tell whether a driver's error means another writer held the database (try again later)."""
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_BUSY_CODES
        return "database is locked" in str(error) or "database is busy" in str(error)
    return getattr(error, "sqlstate", None) in _POSTGRES_BUSY_STATES


def busy() -> Busy:
    """Return the error of a write that found the database busy past its wait."""
    from cocon.i18n import _

    return Busy(_("The database is busy; try again in a moment"))


def _raise_busy(context: ExceptionContext) -> None:
    # The one place a busy database becomes the domain's Busy, whatever surface wrote
    # (statements a driver's cursor runs directly go through busy_from_driver).
    if is_busy(context.original_exception):
        raise busy() from (context.sqlalchemy_exception or context.original_exception)


@contextmanager
def busy_from_driver() -> Iterator[None]:
    """Raise Busy for a busy database met by a driver's own cursor (which SQLAlchemy skips)."""
    try:
        yield
    except Exception as error:
        if is_busy(error):
            raise busy() from error
        raise


def make_engine(url: str, *, busy_seconds: int = BUSY_SECONDS) -> Engine:
    """Create an engine; a write waits at most busy_seconds for another, then raises Busy.

    SQLite gets WAL, foreign keys and that busy timeout on every connection; PostgreSQL gets it
    as lock_timeout (a write waiting on a row another transaction holds).
    """
    if not url.startswith("sqlite"):
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"options": f"-c lock_timeout={busy_seconds * 1000}"},
        )
        event.listen(engine, "handle_error", _raise_busy)
        return engine
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": busy_seconds}
    )
    event.listen(engine, "handle_error", _raise_busy)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE can be issued on writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_seconds * 1000}")
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


def is_sqlite_file(engine: Engine) -> bool:
    """Tell whether engine talks to a SQLite file (which private_copy can copy)."""
    return is_sqlite(engine) and engine.url.database not in (None, "", ":memory:")


@contextmanager
def private_copy(engine: Engine) -> Iterator[Engine]:
    """Yield an engine on a private copy of a SQLite database, removed afterwards.

    Work that writes only to learn what would happen (an import's dry run) writes there: SQLite
    has one write lock per database, which that work would hold from its first write to its
    rollback. The copy is taken with SQLite's backup API in one step, under a read transaction,
    which in WAL mode holds up no writer.
    """
    with tempfile.TemporaryDirectory(prefix="cocon-copy-") as folder:
        path = Path(folder) / "copy.db"
        target = sqlite3.connect(path)
        source = engine.raw_connection()
        try:
            with busy_from_driver():
                source.driver_connection.backup(target)
        finally:
            source.close()
            target.close()
        copy = make_engine(f"sqlite:///{path}")
        try:
            yield copy
        finally:
            copy.dispose()


def _writes(session: Session) -> bool:
    return bool(session.get_bind().get_execution_options().get("cocon_write", False))


def begin_writing(session: Session) -> None:
    """End a session's reads; its next transaction writes (on SQLite: takes the write lock first).

    For work that reads and checks at length before a short write: the write lock is held only
    for the write.
    """
    session.commit()
    bind = session.get_bind()
    session.bind = bind.execution_options(cocon_write=True)


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
            if data and _writes(session) and session.in_transaction():
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
    from alembic.config import Config  # Alembic only where the schema is migrated

    config = Config()
    config.set_main_option("script_location", str(resources.files("cocon") / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Create the schema or bring it up to the newest migration."""
    if stored_revision(engine) == newest_revision():
        return  # already current: a short command need not load Alembic and every migration
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def newest_revision() -> str:
    """Return the revision of the newest migration (each file is named after its revision)."""
    versions = resources.files("cocon") / "migrations" / "versions"
    names = [item.name for item in versions.iterdir() if item.name.endswith(".py")]
    return max(name.split("_", 1)[0] for name in names)


def stored_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (None: no schema yet, or more than one head)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return found[0] if len(found) == 1 else None


def bulk_insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple]
) -> None:
    """Insert many rows at driver speed: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with busy_from_driver(), cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
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
