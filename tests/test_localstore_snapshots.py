"""Local store: content-addressed snapshots, retention and the free-space floor, on real files."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from edge.localstore import LocalStore, StoreFull
from edge.localstore.snapshots import Snapshots

MB = 1024 * 1024


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "box.db", tmp_path / "snaps", retention_days=1, snapshot_max_mb=1, min_free_mb=0)
    yield s
    s.close()


def _img(n: int, size: int = 1000) -> bytes:
    return n.to_bytes(4, "big") + os.urandom(size - 4)


def _set_created(store, sha: str, created: float) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE snapshots SET created_at = ? WHERE sha256 = ?", (created, sha))


def _rows(store) -> dict[str, float | None]:
    return {r[0]: r[1] for r in store.db.query("SELECT sha256, synced_at FROM snapshots")}


def test_save_is_content_addressed_and_idempotent(store, tmp_path):
    data = _img(1)
    sha = store.snapshots.save(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.snapshots.path_of(sha)
    assert path == tmp_path / "snaps" / sha[:2] / f"{sha}.jpg"
    assert path.read_bytes() == data
    assert store.snapshots.read(sha) == data
    mtime = path.stat().st_mtime_ns

    assert store.snapshots.save(data) == sha  # same content: same id, no second row or rewrite
    assert store.db.query("SELECT count(*) FROM snapshots")[0][0] == 1
    assert path.stat().st_mtime_ns == mtime
    row = store.db.query("SELECT relpath, size, synced_at FROM snapshots WHERE sha256 = ?", (sha,))[0]
    assert (row["relpath"], row["size"], row["synced_at"]) == (f"{sha[:2]}/{sha}.jpg", len(data), None)
    assert not list((tmp_path / "snaps").rglob("*.tmp"))

    other = store.snapshots.save(_img(2))
    assert other != sha
    assert store.snapshots.unsynced() == [sha, other]


def test_mark_synced(store):
    a, b, c = (store.snapshots.save(_img(i)) for i in range(3))
    store.snapshots.mark_synced([a, c, "0" * 64])
    assert store.snapshots.unsynced() == [b]
    rows = _rows(store)
    assert rows[a] is not None and rows[c] is not None and rows[b] is None
    first = rows[a]
    store.snapshots.mark_synced([a])  # a second confirmation keeps the first time
    assert _rows(store)[a] == first


def test_retention_deletes_only_old_synced(store):
    now = time.time()
    old_synced, old_unsynced, new_synced = (store.snapshots.save(_img(i)) for i in range(3))
    _set_created(store, old_synced, now - 3 * 86400)
    _set_created(store, old_unsynced, now - 3 * 86400)
    _set_created(store, new_synced, now - 60)
    store.snapshots.mark_synced([old_synced, new_synced])

    res = store.snapshots.apply_retention(now=now)
    assert res.deleted == 1 and res.freed_bytes == 1000 and res.kept_unsynced == 1
    assert set(_rows(store)) == {old_unsynced, new_synced}
    assert not store.snapshots.path_of(old_synced).exists()
    assert store.snapshots.path_of(old_unsynced).exists()
    assert store.snapshots.path_of(new_synced).exists()

    # far in the future: every synced one is old, the unsynced one still stays
    res = store.snapshots.apply_retention(now=now + 100 * 86400)
    assert res.deleted == 1 and res.kept_unsynced == 1
    assert set(_rows(store)) == {old_unsynced}
    assert store.snapshots.read(old_unsynced)[:4] == (1).to_bytes(4, "big")


def test_retention_size_cap_deletes_oldest_synced_first(store):
    now = time.time()
    shas = [store.snapshots.save(_img(i, 400_000)) for i in range(4)]  # 1.6 MB > 1 MB cap
    for i, sha in enumerate(shas):
        _set_created(store, sha, now - 3600 + i)  # young: only the cap applies
    store.snapshots.mark_synced(shas)

    res = store.snapshots.apply_retention(now=now)
    # 1.6 MB -> drop oldest (1.2 MB) -> drop next (0.8 MB <= 1 MiB) -> stop
    assert res.deleted == 2 and res.freed_bytes == 800_000
    assert set(_rows(store)) == {shas[2], shas[3]}
    assert not store.snapshots.path_of(shas[0]).exists() and not store.snapshots.path_of(shas[1]).exists()
    assert store.snapshots.apply_retention(now=now).deleted == 0  # under the cap now


def test_retention_never_deletes_unsynced_even_over_cap(store):
    now = time.time()
    unsynced = [store.snapshots.save(_img(i, 600_000)) for i in range(3)]  # 1.8 MB unsynced
    synced = store.snapshots.save(_img(9, 1000))
    for i, sha in enumerate(unsynced + [synced]):
        _set_created(store, sha, now - 100 * 86400 + i)  # all very old
    store.snapshots.mark_synced([synced])

    res = store.snapshots.apply_retention(now=now)
    assert res.deleted == 1 and res.kept_unsynced == 3
    assert set(_rows(store)) == set(unsynced)
    for sha in unsynced:
        assert store.snapshots.path_of(sha).exists()
    assert store.snapshots.apply_retention(now=now).deleted == 0


def test_retention_tolerates_a_file_already_gone(store):
    sha = store.snapshots.save(_img(1))
    store.snapshots.mark_synced([sha])
    store.snapshots.path_of(sha).unlink()
    res = store.snapshots.apply_retention(now=time.time() + 10 * 86400)
    assert res.deleted == 1
    assert _rows(store) == {}


def test_free_space_floor_raises_store_full(store, tmp_path):
    synced_old = store.snapshots.save(_img(1))
    unsynced = store.snapshots.save(_img(2))
    store.snapshots.mark_synced([synced_old])
    # a floor no disk can meet: a petabyte
    tight = Snapshots(store.db, tmp_path / "snaps", retention_days=30, max_mb=1024, min_free_mb=10**9)
    data = _img(3)
    with pytest.raises(StoreFull, match="MB free"):
        tight.save(data)
    sha = hashlib.sha256(data).hexdigest()
    assert not tight.path_of(sha).exists()
    assert sha not in _rows(store)
    # retention was tried first: the synced snapshot went, the unsynced one never does
    assert set(_rows(store)) == {unsynced}
    assert tight.path_of(unsynced).exists()
    assert not tight.path_of(synced_old).exists()
    # a snapshot already stored is still "saved" (idempotent) without needing space
    assert tight.save(tight.read(unsynced)) == unsynced


def test_store_full_from_snapshots_does_not_lose_the_event(tmp_path):
    """The caller records the event without a snapshot when the snapshot cannot be kept."""
    store = LocalStore(tmp_path / "box.db", tmp_path / "snaps", min_free_mb=10**9)
    try:
        snap = None
        try:
            snap = store.snapshots.save(_img(1))
        except StoreFull:
            pass
        ev = store.outbox.append("read", plate="29C12345", snapshot=snap)
        assert snap is None
        assert [e.event_id for e in store.outbox.unsent()] == [ev.event_id]
        assert store.outbox.tail(1)[0].event_id == ev.event_id
        assert store.outbox.tail(1)[0].snapshot is None
    finally:
        store.close()
