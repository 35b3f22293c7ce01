"""Schema migrations: registered functions, applied in order, each in one transaction.

The schema version lives in ``PRAGMA user_version``; a migration and the version bump commit together,
so a crash leaves the database at the previous version, never half-migrated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from edge.localstore.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: dict[int, Migration] = {}


def migration(version: int) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        if version in MIGRATIONS:
            raise RuntimeError(f"migration {version} registered twice")
        MIGRATIONS[version] = fn
        return fn

    return register


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def latest_version() -> int:
    return max(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply pending migrations; return the versions applied. ``conn`` must be in autocommit mode."""
    applied = []
    have = current_version(conn)
    if have > latest_version():
        raise StoreError(f"database schema {have} is newer than this software ({latest_version()}); "
                         "install the newer software again, or move this database aside")
    for version in sorted(v for v in MIGRATIONS if v > have):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


@migration(1)
def _initial(conn: sqlite3.Connection) -> None:
    for sql in (
        """CREATE TABLE permits (
            permit_id TEXT PRIMARY KEY,
            plate TEXT NOT NULL,
            skeleton TEXT NOT NULL,
            trip_id TEXT NOT NULL,
            flow TEXT NOT NULL,
            direction TEXT NOT NULL,
            valid_from REAL NOT NULL,
            valid_until REAL NOT NULL,
            max_passes INTEGER NOT NULL DEFAULT 1,
            company TEXT,
            info TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX permits_plate ON permits(plate)",
        "CREATE INDEX permits_skeleton ON permits(skeleton)",
        "CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE watchlist (
            plate TEXT PRIMARY KEY,
            skeleton TEXT NOT NULL,
            reason TEXT NOT NULL,
            added_at TEXT NOT NULL
        )""",
        "CREATE INDEX watchlist_skeleton ON watchlist(skeleton)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            ts TEXT NOT NULL,
            type TEXT NOT NULL,
            plate TEXT,
            reason TEXT,
            payload TEXT NOT NULL DEFAULT '{}',
            snapshot TEXT,
            sent_at TEXT
        )""",
        "CREATE INDEX events_unsent ON events(seq) WHERE sent_at IS NULL",
        "CREATE INDEX events_plate ON events(plate, seq)",
        "CREATE INDEX events_type ON events(type, seq)",
        """CREATE TABLE passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            plate TEXT NOT NULL,
            permit_id TEXT,
            at REAL NOT NULL
        )""",
        "CREATE INDEX passages_plate ON passages(plate, at)",
        "CREATE INDEX passages_permit ON passages(permit_id)",
        """CREATE TABLE snapshots (
            sha256 TEXT PRIMARY KEY,
            relpath TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL,
            synced_at REAL
        )""",
        "CREATE INDEX snapshots_synced ON snapshots(synced_at, created_at)",
        """CREATE TABLE yards (
            yard_id TEXT PRIMARY KEY,
            capacity INTEGER NOT NULL,
            occupancy INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE queue_numbers (
            day TEXT NOT NULL,
            number INTEGER NOT NULL,
            plate TEXT NOT NULL,
            trip_id TEXT,
            issued_at TEXT NOT NULL,
            PRIMARY KEY (day, number)
        )""",
        """CREATE TABLE overrides (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            plate TEXT NOT NULL,
            operator TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            used_at REAL
        )""",
        "CREATE INDEX overrides_plate ON overrides(plate, expires_at)",
    ):
        conn.execute(sql)


@migration(2)
def _barrier_commands(conn: sqlite3.Connection) -> None:
    """Technician commands (gatectl barrier open/close/test) for the running daemon, with their results."""
    conn.execute(
        """CREATE TABLE barrier_commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            action TEXT NOT NULL CHECK (action IN ('open', 'close', 'test')),
            operator TEXT NOT NULL,
            reason TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
            result TEXT,
            done_at TEXT
        )"""
    )
    conn.execute("CREATE INDEX barrier_commands_open ON barrier_commands(id) WHERE status IN ('pending', 'running')")


@migration(3)
def _sync(conn: sqlite3.Connection) -> None:
    """For edge/sync. Where a watchlist entry comes from: 'local' (gatectl watchlist add) or 'central'
    (pulled from the central service and replaced wholesale on every pull; local entries are left alone).
    Events the central service refused (HTTP 422 for that one event): they stay unsent, are skipped by
    the ordinary push so they cannot block the outbox, and are offered again now and then."""
    conn.execute("ALTER TABLE watchlist ADD COLUMN source TEXT NOT NULL DEFAULT 'local'"
                 " CHECK (source IN ('local', 'central'))")
    conn.execute(
        """CREATE TABLE sync_rejected (
            event_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            status INTEGER NOT NULL,
            error TEXT NOT NULL,
            first_at REAL NOT NULL,
            last_at REAL NOT NULL,
            tries INTEGER NOT NULL DEFAULT 1
        )"""
    )


@migration(4)
def _one_permit_index(conn: sqlite3.Connection) -> None:
    """Exact lookups go through the skeleton index; the plate index only cost write time on deltas."""
    conn.execute("DROP INDEX IF EXISTS permits_plate")


@migration(5)
def _queue_calls(conn: sqlite3.Connection) -> None:
    """For edge/sync: the border guard's queue calls received from the central service, one row per call
    ((day, number) is the call's identity), so that a call pulled twice (overlapping pulls, a restart, a
    second process) is shown once. ``shown_at`` is set, with the call's outbox event, when the gate has
    shown it (``outcome`` 'shown') or set it aside as too old to show ('stale'). The pull cursor (the
    service's ``called_at`` of the newest call received) is ``sync_state.queue_calls_cursor``."""
    conn.execute(
        """CREATE TABLE queue_calls (
            day TEXT NOT NULL,
            number INTEGER NOT NULL,
            plate TEXT NOT NULL,
            trip_id TEXT,
            barrier TEXT NOT NULL DEFAULT '1',
            called_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            shown_at TEXT,
            outcome TEXT CHECK (outcome IN ('shown', 'stale')),
            PRIMARY KEY (day, number)
        )"""
    )
    conn.execute("CREATE INDEX queue_calls_pending ON queue_calls(called_at) WHERE shown_at IS NULL")
