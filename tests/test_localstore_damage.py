"""Local store under damage: corrupt files, read-only files and folders, full disk, error translation.

Everything here uses real SQLite files. Tests run as root in CI containers, where file modes do not stop
writes; read-only cases use ``chattr +i`` where the container allows it (skipped otherwise) and a
``mode=ro`` URI connection, which SQLite enforces for root too.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge.localstore import LocalStore, StoreCorrupt, StoreError, StoreFull, StoreReadOnly
from edge.localstore.db import Database
from edge.localstore.errors import translate

STAMP = re.compile(r"^box\.db\.corrupt-\d{8}T\d{6}Z(-\d+)?$")


def _open(tmp_path: Path, **kw) -> LocalStore:
    return LocalStore(tmp_path / "box.db", tmp_path / "snaps", **kw)


def _populated(tmp_path: Path, n: int = 3000) -> list[str]:
    """A real database with many rows (about 1 MB), closed cleanly; returns the event ids."""
    store = _open(tmp_path)
    ids = []
    with store.transaction() as conn:
        for i in range(n):
            ids.append(store.record(conn, "read", plate=f"29C{i:05d}", payload={"pad": "x" * 200, "i": i}).event_id)
    store.close()
    assert not (tmp_path / "box.db-wal").exists()  # checkpointed on close: everything is in the main file
    return ids


def _quick_check(path: Path) -> list[str] | str:
    conn = sqlite3.connect(str(path))
    try:
        return [r[0] for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        return f"raised: {exc}"
    finally:
        conn.close()


def _quarantined(tmp_path: Path) -> list[Path]:
    return sorted(p for p in tmp_path.iterdir() if STAMP.match(p.name))


def _assert_fresh_store_with_fault(store: LocalStore, moved: Path) -> None:
    [fault] = store.outbox.search(type="fault", reason="store_corrupt")
    assert fault.payload["quarantined_to"] == str(moved)
    assert fault.payload["damage"]
    assert fault.seq == 1  # the first event of the new database
    assert store.outbox.backlog() == 1  # and it will be reported to the central service
    assert store.permits.count() == 0
    assert [r[0] for r in store.db.query("PRAGMA quick_check")] == ["ok"]


# ---------------------------------------------------------------- damaged database files


def test_garbage_file_is_quarantined(tmp_path):
    path = tmp_path / "box.db"
    garbage = b"this is not sqlite at all " * 400
    path.write_bytes(garbage)

    store = _open(tmp_path, on_corrupt="quarantine")
    try:
        [moved] = _quarantined(tmp_path)
        assert moved.read_bytes() == garbage  # preserved for analysis
        assert store.db.quarantined[0] == moved
        assert path.exists() and path.read_bytes()[:16] == b"SQLite format 3\x00"
        _assert_fresh_store_with_fault(store, moved)
        # the new store works
        assert store.outbox.append("boot").seq == 2
    finally:
        store.close()


def test_garbage_file_refused(tmp_path):
    path = tmp_path / "box.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.raises(StoreCorrupt, match="left in place"):
        _open(tmp_path, on_corrupt="refuse")
    assert path.read_bytes() == garbage
    assert _quarantined(tmp_path) == []
    assert not (tmp_path / "box.db-wal").exists()


def _corrupt_middle(path: Path) -> bytes:
    size = path.stat().st_size
    page = 4096
    start = (size // page // 2) * page
    with open(path, "r+b") as fh:
        fh.seek(start)
        fh.write(b"\xff" * page * 4)
        fh.flush()
        os.fsync(fh.fileno())
    return path.read_bytes()


def test_corrupt_pages_in_a_real_database_are_quarantined(tmp_path):
    _populated(tmp_path)
    path = tmp_path / "box.db"
    damaged = _corrupt_middle(path)
    assert _quick_check(path) != ["ok"]

    store = _open(tmp_path, on_corrupt="quarantine")
    try:
        [moved] = _quarantined(tmp_path)
        assert moved.read_bytes() == damaged
        _assert_fresh_store_with_fault(store, moved)
        assert [e.type for e in store.outbox.tail(10)] == ["fault"]
    finally:
        store.close()


def test_corrupt_pages_in_a_real_database_refused(tmp_path):
    _populated(tmp_path)
    path = tmp_path / "box.db"
    damaged = _corrupt_middle(path)
    with pytest.raises(StoreCorrupt) as info:
        _open(tmp_path, on_corrupt="refuse")
    assert str(path) in str(info.value)
    assert path.read_bytes() == damaged
    assert _quarantined(tmp_path) == []


def test_quick_check_reporting_problems_counts_as_damage(tmp_path):
    """Damage quick_check reports as rows (rather than raising) is caught too."""
    _populated(tmp_path)
    path = tmp_path / "box.db"
    pristine = path.read_bytes()
    page = 4096
    found = None
    for pg in range(len(pristine) // page // 2, len(pristine) // page):
        data = bytearray(pristine)
        data[pg * page + 3: pg * page + 5] = b"\x7f\x7f"  # absurd cell count in a b-tree page header
        path.write_bytes(bytes(data))
        res = _quick_check(path)
        if isinstance(res, list) and res != ["ok"]:
            found = bytes(data)
            break
    if found is None:
        pytest.skip("this SQLite build raises on every tried page instead of reporting rows")

    store = _open(tmp_path, on_corrupt="quarantine")
    try:
        [moved] = _quarantined(tmp_path)
        assert moved.read_bytes() == found
        [fault] = store.outbox.search(type="fault", reason="store_corrupt")
        assert "Page" in fault.payload["damage"] or "page" in fault.payload["damage"]
    finally:
        store.close()


def test_quarantine_moves_wal_and_shm_too(tmp_path):
    path = tmp_path / "box.db"
    _populated(tmp_path)
    store = _open(tmp_path)
    store.outbox.append("read", plate="29C12345")
    # simulate a crash that leaves the WAL behind: copy the files while the store is open
    side = tmp_path / "side"
    side.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(str(path) + suffix, side / ("box.db" + suffix))
    store.close()
    for suffix in ("", "-wal"):
        shutil.copy(side / ("box.db" + suffix), str(path) + suffix)
    wal = (tmp_path / "box.db-wal").read_bytes()
    assert wal  # the last event is only in the WAL
    damaged = _corrupt_middle(path)  # pages the WAL does not cover

    store = _open(tmp_path, on_corrupt="quarantine")
    try:
        [moved] = _quarantined(tmp_path)
        assert moved.read_bytes() == damaged
        assert Path(str(moved) + "-wal").read_bytes()[:len(wal)] == wal
        _assert_fresh_store_with_fault(store, moved)
    finally:
        store.close()


def test_two_quarantines_keep_both_files(tmp_path):
    path = tmp_path / "box.db"
    path.write_bytes(b"first garbage" * 100)
    _open(tmp_path).close()
    path.write_bytes(b"second garbage" * 100)
    store = _open(tmp_path)
    try:
        moved = _quarantined(tmp_path)
        assert len(moved) == 2
        assert sorted(m.read_bytes() for m in moved) == sorted([b"first garbage" * 100, b"second garbage" * 100])
        [fault] = store.outbox.search(type="fault", reason="store_corrupt")
        assert Path(fault.payload["quarantined_to"]).read_bytes() == b"second garbage" * 100
    finally:
        store.close()


def test_sound_database_is_not_quarantined(tmp_path):
    ids = _populated(tmp_path, n=200)
    store = _open(tmp_path, on_corrupt="quarantine")
    try:
        assert store.db.quarantined is None
        assert _quarantined(tmp_path) == []
        assert [e.event_id for e in store.outbox.tail(1000)] == ids
        assert store.outbox.search(type="fault") == []
    finally:
        store.close()


def test_empty_file_is_a_new_database(tmp_path):
    (tmp_path / "box.db").write_bytes(b"")
    store = _open(tmp_path, on_corrupt="refuse")
    try:
        assert store.outbox.append("boot").seq == 1
        assert _quarantined(tmp_path) == []
    finally:
        store.close()


def test_unopenable_path_is_not_mistaken_for_damage(tmp_path):
    """A path SQLite cannot open (here: a folder) is an error to report, not a damaged file to move aside."""
    path = tmp_path / "box.db"
    path.mkdir()
    (path / "keep.txt").write_text("operator notes")
    for mode in ("refuse", "quarantine"):
        with pytest.raises(StoreError) as info:
            _open(tmp_path, on_corrupt=mode)
        assert not isinstance(info.value, StoreCorrupt), info.value
        assert str(path) in str(info.value)
    assert (path / "keep.txt").read_text() == "operator notes"
    assert _quarantined(tmp_path) == []


# ---------------------------------------------------------------- read-only


@contextmanager
def _immutable(path: Path):
    """``chattr +i``: stops writes even for root, where the container allows the flag."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr not available")
    res = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"chattr +i not permitted here: {res.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_translate_maps_readonly_sqlite_error(tmp_path):
    path = tmp_path / "box.db"
    _open(tmp_path).close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError) as info:
            conn.execute("INSERT INTO events (event_id, ts, type) VALUES ('x', 'y', 'z')")
        assert "readonly" in str(info.value)
        err = translate(info.value, path)
        assert type(err) is StoreReadOnly
        assert str(path) in str(err) and "check the file, its folder and the mount" in str(err)
    finally:
        conn.close()


def test_immutable_database_file_reads_but_refuses_writes(tmp_path):
    path = tmp_path / "box.db"
    store = _open(tmp_path)
    ev = store.outbox.append("read", plate="29C12345")
    store.permits.apply_delta([], [], cursor=4)
    store.close()
    before = path.read_bytes()
    with _immutable(path):
        store = _open(tmp_path)
        try:
            assert [e.event_id for e in store.outbox.tail()] == [ev.event_id]
            assert store.permits.cursor() == 4
            with pytest.raises(StoreReadOnly):
                store.outbox.append("read", plate="51D67890")
            with pytest.raises(StoreReadOnly):
                store.permits.apply_delta([], [], cursor=5)
            # the store is still usable for reads after the refused writes
            assert store.outbox.backlog() == 1
        finally:
            store.close()
        assert path.read_bytes() == before


def test_immutable_folder_is_not_mistaken_for_damage(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "box.db"
    store = LocalStore(path, tmp_path / "snaps")
    store.outbox.append("boot")
    store.close()
    before = path.read_bytes()
    with _immutable(folder):
        for mode in ("refuse", "quarantine"):
            with pytest.raises(StoreError) as info:
                LocalStore(path, tmp_path / "snaps", on_corrupt=mode)
            assert not isinstance(info.value, StoreCorrupt), info.value
        # a new database cannot be created there either, and says so as a store error
        with pytest.raises(StoreError) as info:
            LocalStore(folder / "new.db", tmp_path / "snaps")
        assert not isinstance(info.value, StoreCorrupt)
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["box.db"]


def test_immutable_snapshot_folder_raises_readonly(tmp_path):
    store = _open(tmp_path)
    try:
        with _immutable(tmp_path / "snaps"):
            with pytest.raises(StoreReadOnly):
                store.snapshots.save(b"\xff\xd8 jpeg bytes")
        assert store.snapshots.unsynced() == []
        # and the event can still be recorded without the snapshot
        assert store.outbox.append("read", plate="29C12345").snapshot is None
    finally:
        store.close()


# ---------------------------------------------------------------- full disk


def _limit_pages(store: LocalStore, extra: int) -> None:
    pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
    got = store.db.conn.execute(f"PRAGMA max_page_count = {pages + extra}").fetchone()[0]
    assert got == pages + extra


def test_full_database_raises_store_full_and_keeps_committed_events(tmp_path):
    store = _open(tmp_path)
    committed = [store.outbox.append("read", plate="29C12345", payload={"i": -1})]
    _limit_pages(store, 10)
    with pytest.raises(StoreFull) as info:
        for i in range(10_000):
            committed.append(store.outbox.append("read", plate="29C12345", payload={"i": i, "pad": "x" * 2000}))
    assert "disk full" in str(info.value)
    assert len(committed) > 1  # some fitted before the limit
    assert not store.db.conn.in_transaction  # the failed write was rolled back
    # reads still work, and nothing half-written is visible
    assert [e.event_id for e in store.outbox.tail(10_000)] == [e.event_id for e in committed]
    # the store recovers once space is back
    store.db.conn.execute("PRAGMA max_page_count = 1073741823")
    late = store.outbox.append("read", plate="29C12345", payload={"late": True})
    store.close()

    store = _open(tmp_path)
    try:
        got = store.outbox.tail(10_000)
        assert [(e.seq, e.event_id) for e in got] == [(e.seq, e.event_id) for e in committed + [late]]
        assert [r[0] for r in store.db.query("PRAGMA quick_check")] == ["ok"]
        assert store.outbox.search(type="fault") == []
    finally:
        store.close()


def test_full_database_leaves_a_permit_delta_unapplied(tmp_path):
    store = _open(tmp_path)
    try:
        store.permits.apply_delta([], [], cursor=1)
        _limit_pages(store, 5)
        ups = [{"permit_id": f"P{i}", "plate": f"29C{i:05d}", "trip_id": f"T{i}", "flow": "export",
                "direction": "in", "valid_from": "2024-05-01T00:00:00+00:00",
                "valid_until": "2024-06-01T00:00:00+00:00", "info": {"pad": "y" * 200}} for i in range(5000)]
        with pytest.raises(StoreFull):
            store.permits.apply_delta(ups, [], cursor=2)
        assert store.permits.count() == 0
        assert store.permits.cursor() == 1  # the delta will be fetched again
    finally:
        store.close()


# ---------------------------------------------------------------- translate() on real errors


def test_translate_real_sqlite_errors(tmp_path):
    # database or disk is full
    conn = sqlite3.connect(str(tmp_path / "full.db"), isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t SELECT randomblob(100000)")
    conn.close()
    assert type(translate(full.value, "full.db")) is StoreFull

    # file is not a database
    (tmp_path / "junk.db").write_bytes(os.urandom(4096))
    conn = sqlite3.connect(str(tmp_path / "junk.db"))
    with pytest.raises(sqlite3.DatabaseError) as junk:
        conn.execute("SELECT * FROM sqlite_master").fetchall()
    conn.close()
    err = translate(junk.value, "junk.db")
    assert type(err) is StoreCorrupt and "junk.db" in str(err)

    # an ordinary mistake stays a plain StoreError
    conn = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as other:
        conn.execute("SELECT * FROM no_such_table")
    conn.close()
    err = translate(other.value, "x.db")
    assert type(err) is StoreError and "no_such_table" in str(err)


def test_translate_malformed_from_corrupt_pages(tmp_path):
    _populated(tmp_path, n=3000)
    path = tmp_path / "box.db"
    _corrupt_middle(path)
    conn = sqlite3.connect(str(path))
    try:
        with pytest.raises(sqlite3.DatabaseError) as info:
            conn.execute("PRAGMA quick_check").fetchall()
    finally:
        conn.close()
    assert "malformed" in str(info.value)
    assert type(translate(info.value, path)) is StoreCorrupt


def test_translate_real_enospc():
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full not available")
    with pytest.raises(OSError) as info:
        with open("/dev/full", "wb", buffering=0) as fh:
            fh.write(b"x" * 4096)
    assert info.value.errno == errno.ENOSPC
    assert type(translate(info.value, "/dev/full")) is StoreFull


@pytest.mark.parametrize("code, cls", [
    (errno.ENOSPC, StoreFull),
    (errno.EDQUOT, StoreFull),
    (errno.EROFS, StoreReadOnly),
    (errno.EACCES, StoreReadOnly),
    (errno.EPERM, StoreReadOnly),
    (errno.ENOENT, StoreError),
])
def test_translate_os_errors_by_errno(code, cls):
    exc = OSError(code, os.strerror(code), "/var/lib/gate/box.db")
    err = translate(exc, "/var/lib/gate/box.db")
    assert type(err) is cls
    assert "/var/lib/gate/box.db" in str(err)


def test_database_class_directly_reports_quarantine(tmp_path):
    path = tmp_path / "raw.db"
    path.write_bytes(b"nope" * 100)
    db = Database(path)
    try:
        moved, damage = db.quarantined
        assert moved.read_bytes() == b"nope" * 100
        assert "not a database" in damage
    finally:
        db.close()
