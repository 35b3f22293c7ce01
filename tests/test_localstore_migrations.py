"""Local store: schema migrations and connection settings, on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.localstore import LocalStore, StoreError
from edge.localstore.db import Database
from edge.localstore.migrations import MIGRATIONS, current_version, latest_version, migrate, migration

EXPECTED_TABLES = {"permits", "sync_state", "watchlist", "events", "passages", "snapshots", "yards",
                   "queue_numbers", "overrides"}


def _raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.fixture
def temp_migration():
    """Register migrations for one test and remove them from MIGRATIONS afterwards."""
    added: list[int] = []

    def register(version: int):
        def deco(fn):
            migration(version)(fn)
            added.append(version)
            return fn
        return deco

    yield register
    for v in added:
        MIGRATIONS.pop(v, None)


def test_registry_is_contiguous_from_one():
    assert sorted(MIGRATIONS) == list(range(1, latest_version() + 1))


def test_registering_a_version_twice_is_refused():
    with pytest.raises(RuntimeError, match="twice"):
        migration(1)(lambda conn: None)
    assert sorted(MIGRATIONS) == list(range(1, latest_version() + 1))


def test_fresh_database_reaches_latest_version(tmp_path):
    db = Database(tmp_path / "box.db")
    try:
        assert current_version(db.conn) == latest_version()
        assert EXPECTED_TABLES <= _tables(db.conn)
    finally:
        db.close()
    conn = _raw(tmp_path / "box.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()
    conn.close()


def test_reopen_is_idempotent_and_keeps_data(tmp_path):
    path = tmp_path / "box.db"
    store = LocalStore(path, tmp_path / "snaps")
    ev = store.outbox.append("boot", payload={"n": 1})
    schema_before = sorted(r[0] for r in store.db.query("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    store.close()

    for _ in range(3):
        store = LocalStore(path, tmp_path / "snaps")
        assert migrate(store.db.conn) == []  # nothing left to apply
        assert current_version(store.db.conn) == latest_version()
        schema = sorted(r[0] for r in store.db.query("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        assert schema == schema_before
        assert [e.event_id for e in store.outbox.tail(10)] == [ev.event_id]
        store.close()


def test_migrate_applies_only_pending_versions(tmp_path):
    conn = _raw(tmp_path / "raw.db")
    assert migrate(conn) == list(range(1, latest_version() + 1))
    assert migrate(conn) == []
    conn.close()


def test_new_migration_applies_on_reopen(tmp_path, temp_migration):
    path = tmp_path / "box.db"
    Database(path).close()
    nxt = latest_version() + 1

    @temp_migration(nxt)
    def _add(conn):
        conn.execute("CREATE TABLE extra (x INTEGER)")
        conn.execute("INSERT INTO extra VALUES (42)")

    db = Database(path)
    try:
        assert current_version(db.conn) == nxt
        assert db.query("SELECT x FROM extra")[0][0] == 42
    finally:
        db.close()


def test_failing_migration_rolls_back_and_keeps_version(tmp_path, temp_migration):
    path = tmp_path / "box.db"
    store = LocalStore(path, tmp_path / "snaps")
    store.outbox.append("boot")
    store.close()
    before = latest_version()
    nxt = before + 1

    @temp_migration(nxt)
    def _broken(conn):
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        conn.execute("INSERT INTO half_done VALUES (1)")
        conn.execute("ALTER TABLE events ADD COLUMN extra TEXT")
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError, match="migration bug"):
        Database(path)

    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == before
        assert "half_done" not in _tables(conn)
        cols = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
        assert "extra" not in cols
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        conn.close()

    # once the broken migration is gone the database opens normally at the old version
    MIGRATIONS.pop(nxt)
    store = LocalStore(path, tmp_path / "snaps")
    try:
        assert current_version(store.db.conn) == before
        assert [e.type for e in store.outbox.tail()] == ["boot"]
    finally:
        store.close()


def test_failing_sql_in_migration_rolls_back(tmp_path, temp_migration):
    path = tmp_path / "box.db"
    Database(path).close()
    before = latest_version()

    @temp_migration(before + 1)
    def _ok(conn):
        conn.execute("CREATE TABLE good (x)")

    @temp_migration(before + 2)
    def _bad(conn):
        conn.execute("CREATE TABLE bad (x)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(StoreError, match="no_such_table"):
        Database(path)
    conn = _raw(path)
    try:
        # the good migration committed on its own; the bad one left nothing behind
        assert conn.execute("PRAGMA user_version").fetchone()[0] == before + 1
        assert "good" in _tables(conn) and "bad" not in _tables(conn)
    finally:
        conn.close()


def test_database_newer_than_software_is_refused(tmp_path):
    path = tmp_path / "box.db"
    Database(path).close()
    newer = latest_version() + 5
    conn = _raw(path)
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.close()

    with pytest.raises(StoreError, match="newer"):
        LocalStore(path, tmp_path / "snaps")
    # refused without touching it: still there, same version, not quarantined
    assert path.exists()
    assert not list(tmp_path.glob("box.db.corrupt-*"))
    conn = _raw(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == newer
    conn.close()


def test_wal_and_synchronous_full(tmp_path):
    db = Database(tmp_path / "box.db")
    try:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        db.close()
    # WAL is persistent in the file header: a plain connection sees it too
    conn = _raw(tmp_path / "box.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    conn.close()


def test_wal_file_exists_while_open(tmp_path):
    store = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    try:
        store.outbox.append("boot")
        assert (tmp_path / "box.db-wal").exists()
    finally:
        store.close()


def test_create_false_refuses_missing_database(tmp_path):
    with pytest.raises(StoreError, match="no such database"):
        LocalStore(tmp_path / "missing.db", tmp_path / "snaps", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_create_false_opens_existing(tmp_path):
    path = tmp_path / "box.db"
    LocalStore(path, tmp_path / "snaps").close()
    store = LocalStore(path, tmp_path / "snaps", create=False)
    try:
        assert current_version(store.db.conn) == latest_version()
    finally:
        store.close()


def test_missing_parent_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "box.db"
    store = LocalStore(path, tmp_path / "snaps")
    try:
        assert path.exists()
        assert store.outbox.append("boot").seq == 1
    finally:
        store.close()


def test_transaction_rolls_back_on_exception(tmp_path):
    store = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    try:
        with pytest.raises(KeyError):
            with store.transaction() as conn:
                store.record(conn, "decision", plate="29C12345")
                raise KeyError("boom")
        assert store.outbox.tail() == []
        with store.transaction() as conn:
            ev = store.record(conn, "decision", plate="29C12345")
        assert [e.event_id for e in store.outbox.tail()] == [ev.event_id]
    finally:
        store.close()
