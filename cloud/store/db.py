"""Engine, migrations and counters over SQLite or PostgreSQL.

Migrations are registered functions applied in order, each in one transaction together with its row in
``schema_version``; several instances starting at once serialise on a lock (an advisory lock on
PostgreSQL, the write lock on SQLite), so each migration runs exactly once.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Engine, Index, Table, create_engine, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from cloud.store import schema

log = logging.getLogger(__name__)

Migration = Callable[[Connection], None]
MIGRATIONS: dict[int, Migration] = {}
DEFAULT_URL = "sqlite:///var/cloud/cloud.db"


def migration(version: int) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        if version in MIGRATIONS:
            raise RuntimeError(f"migration {version} registered twice")
        MIGRATIONS[version] = fn
        return fn

    return register


@migration(1)
def _initial(conn: Connection) -> None:
    """The first schema. Later changes to schema.py must come as new migrations, never edits here."""
    schema.metadata.create_all(conn, tables=[t for t in schema.metadata.sorted_tables if t.name != "schema_version"])


@migration(2)
def _statistics_indexes(conn: Connection) -> None:
    """Indexes for the statistics page (confirmations of a window by time; completed trips of a window),
    which scanned both tables without them. A database made by migration 1 after they were added to
    schema.py has them already, hence ``checkfirst``."""
    for index in (_index(schema.confirmations, "confirmations_at"), _index(schema.trips, "trips_status_updated")):
        index.create(conn, checkfirst=True)


@migration(3)
def _queue_call_index(conn: Connection) -> None:
    """Every gate asks for its queue calls after a time in each sync round (cloud/queuecalls.calls_since):
    without this index each ask reads the whole queue history."""
    _index(schema.queue_numbers, "queue_numbers_calls").create(conn, checkfirst=True)


@migration(4)
def _gate_presence(conn: Connection) -> None:
    """The gates' online flags from their MQTT status topic (cloud/presence.py): the monitor called an idle
    but healthy gate offline when it only looked at when the gate last sent events."""
    schema.gate_presence.create(conn, checkfirst=True)


@migration(5)
def _event_tallies(conn: Connection) -> None:
    """Hourly counts of passages and refusals, kept by ingest (cloud/tallies.py): the statistics page spent
    most of its time grouping a week of gate_events. Filled here from the events already stored. Every
    instance must run code with this migration: an older one would store events without counting them."""
    from cloud import tallies

    schema.event_tallies.create(conn, checkfirst=True)
    tallies.rebuild(conn)


@migration(6)
def _session_last_used(conn: Connection) -> None:
    """When each session was last used, for the idle timeout: a console left signed in on an office PC
    stayed usable for 12 hours. A database made by migration 1 after the column joined schema.py has it."""
    from sqlalchemy import inspect

    if "last_used_at" not in {c["name"] for c in inspect(conn).get_columns("tokens")}:
        kind = schema.tokens.c.last_used_at.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE tokens ADD COLUMN last_used_at {kind}")


def _index(table: Table, name: str) -> Index:
    return next(i for i in table.indexes if i.name == name)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _wal(cur) -> None:  # type: ignore[no-untyped-def]
    """Switch to WAL once. Several instances opening a fresh file at once race for the switch, which
    SQLite answers with "database is locked" rather than waiting: wait here instead."""
    for attempt in range(200):
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.05)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _wal(cur)
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _immediate(conn) -> None:  # type: ignore[no-untyped-def]
            # Take the write lock at BEGIN: no deadlock-prone lock upgrades between instances.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # Let SQLAlchemy's own BEGIN be a no-op so the IMMEDIATE one above is the transaction.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    def __init__(self, url: str = DEFAULT_URL):
        self.url = url
        self.engine = make_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def migrate(self) -> list[int]:
        applied = []
        with self.begin() as conn:
            if self.is_postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
            schema.schema_version.create(conn, checkfirst=True)
            have = set(conn.execute(select(schema.schema_version.c.version)).scalars())
            for version in sorted(MIGRATIONS):
                if version in have:
                    continue
                with conn.begin_nested():
                    MIGRATIONS[version](conn)
                    conn.execute(insert(schema.schema_version).values(version=version, applied_at=utcnow()))
                applied.append(version)
        if applied:
            log.info("cloud_migrated", extra={"versions": applied, "url": self.safe_url})
        return applied

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def next_value(conn: Connection, name: str) -> int:
    """Atomically take the next value of a named counter (safe across instances on one database)."""
    c = schema.counters
    for _ in range(3):
        row = conn.execute(update(c).where(c.c.name == name).values(value=c.c.value + 1).returning(c.c.value)).first()
        if row is not None:
            return int(row[0])
        try:
            with conn.begin_nested():
                conn.execute(insert(c).values(name=name, value=0))
        except IntegrityError:
            pass  # another instance created it first
    raise RuntimeError(f"counter {name!r} could not be allocated")
