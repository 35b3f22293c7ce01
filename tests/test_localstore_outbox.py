"""Local store: the event outbox (order, ids, unsent/sent, search), on real SQLite files."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from edge.localstore import LocalStore
from edge.localstore.outbox import new_event_id


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    yield s
    s.close()


def _ms_of(event_id: str) -> int:
    return uuid.UUID(event_id).int >> 80


def test_seq_is_monotonic_and_survives_reopen(tmp_path):
    path = tmp_path / "box.db"
    store = LocalStore(path, tmp_path / "snaps")
    seqs = [store.outbox.append("read", plate="29C12345").seq for _ in range(50)]
    store.close()
    assert seqs == list(range(1, 51))

    store = LocalStore(path, tmp_path / "snaps")
    try:
        more = [store.outbox.append("read").seq for _ in range(5)]
        assert more == list(range(51, 56))
        assert [e.seq for e in store.outbox.tail(100)] == list(range(1, 56))
    finally:
        store.close()


def test_seq_never_reused_after_deleting_the_newest(store):
    # AUTOINCREMENT: a seq handed to the central service is never handed out again
    for _ in range(3):
        store.outbox.append("read")
    with store.transaction() as conn:
        conn.execute("DELETE FROM events WHERE seq = 3")
    assert store.outbox.append("read").seq == 4


def test_event_ids_are_unique_uuid7_and_time_ordered(store):
    t0 = time.time_ns() // 1_000_000
    events = [store.outbox.append("read") for _ in range(300)]
    t1 = time.time_ns() // 1_000_000
    ids = [e.event_id for e in events]
    assert len(set(ids)) == len(ids)
    for eid in ids:
        u = uuid.UUID(eid)
        assert str(u) == eid
        assert u.version == 7
        assert u.variant == uuid.RFC_4122
        assert (u.int >> 76) & 0xF == 7  # version nibble
        assert (u.int >> 62) & 0b11 == 0b10  # variant bits
        assert t0 <= _ms_of(eid) <= t1  # 48-bit unix-ms prefix
    ms = [_ms_of(e) for e in ids]
    assert ms == sorted(ms), "ids must follow local order to the millisecond"
    # ids from different milliseconds sort as text in time order
    by_ms = {}
    for e in events:
        by_ms.setdefault(_ms_of(e.event_id), []).append(e.event_id)
    firsts = [v[0] for _, v in sorted(by_ms.items())]
    assert firsts == sorted(firsts)


def test_new_event_id_many_unique():
    ids = {new_event_id() for _ in range(20_000)}
    assert len(ids) == 20_000


def test_event_round_trip(store):
    ev = store.outbox.append("decision", plate="29C12345", reason="permit_ok",
                             payload={"permit": "P1", "gate": "G1", "n": 3, "unicode": "Lào Cai 河口"},
                             snapshot="ab" * 32)
    [got] = store.outbox.tail(1)
    assert got == ev
    assert got.payload == {"permit": "P1", "gate": "G1", "n": 3, "unicode": "Lào Cai 河口"}
    assert got.sent_at is None
    ts = datetime.fromisoformat(got.ts)
    assert ts.tzinfo is not None and ts.utcoffset() == timedelta(0)
    assert abs((datetime.now(timezone.utc) - ts).total_seconds()) < 60
    assert got.as_dict()["event_id"] == ev.event_id


def test_unsent_and_mark_sent_only_the_given_ids(store):
    events = [store.outbox.append("read", plate=f"29C1234{i}") for i in range(10)]
    assert [e.event_id for e in store.outbox.unsent()] == [e.event_id for e in events]
    assert store.outbox.backlog() == 10

    confirmed = [events[1].event_id, events[4].event_id, events[7].event_id]
    assert store.outbox.mark_sent(confirmed) == 3
    assert store.outbox.backlog() == 7
    unsent_ids = [e.event_id for e in store.outbox.unsent()]
    assert unsent_ids == [e.event_id for i, e in enumerate(events) if i not in (1, 4, 7)]
    sent = {e.event_id: e.sent_at for e in store.outbox.tail(100)}
    for e in events:
        assert (sent[e.event_id] is not None) == (e.event_id in confirmed)

    # marking again, or unknown ids, changes nothing
    assert store.outbox.mark_sent(confirmed + [new_event_id(), "not-an-id"]) == 0
    assert store.outbox.backlog() == 7
    assert store.outbox.mark_sent([]) == 0


def test_unsent_respects_limit_and_order(store):
    for _ in range(20):
        store.outbox.append("read")
    first = store.outbox.unsent(limit=5)
    assert [e.seq for e in first] == [1, 2, 3, 4, 5]
    store.outbox.mark_sent([e.event_id for e in first])
    assert [e.seq for e in store.outbox.unsent(limit=5)] == [6, 7, 8, 9, 10]


def test_mark_sent_large_batch_crosses_chunks(store):
    events = []
    with store.transaction() as conn:
        for _ in range(1203):
            events.append(store.record(conn, "read"))
    assert store.outbox.mark_sent([e.event_id for e in events[:1201]]) == 1201
    assert store.outbox.backlog() == 2
    assert [e.seq for e in store.outbox.unsent()] == [events[1201].seq, events[1202].seq]


def test_mark_sent_persists(tmp_path):
    path = tmp_path / "box.db"
    store = LocalStore(path, tmp_path / "snaps")
    a, b = store.outbox.append("read"), store.outbox.append("read")
    store.outbox.mark_sent([a.event_id])
    store.close()
    store = LocalStore(path, tmp_path / "snaps")
    try:
        assert [e.event_id for e in store.outbox.unsent()] == [b.event_id]
    finally:
        store.close()


def test_tail(store):
    assert store.outbox.tail() == []
    for i in range(30):
        store.outbox.append("read", payload={"i": i})
    tail = store.outbox.tail(5)
    assert [e.seq for e in tail] == [26, 27, 28, 29, 30]
    assert [e.payload["i"] for e in tail] == [25, 26, 27, 28, 29]
    assert len(store.outbox.tail()) == 20


def test_search_by_plate_type_reason(store):
    store.outbox.append("read", plate="29C12345")
    store.outbox.append("decision", plate="29C12345", reason="permit_ok")
    store.outbox.append("decision", plate="51D67890", reason="no_permit")
    store.outbox.append("decision", plate="29C12345", reason="no_permit")
    store.outbox.append("fault", reason="camera_offline")

    assert [e.seq for e in store.outbox.search(plate="29C12345")] == [1, 2, 4]
    assert [e.seq for e in store.outbox.search(type="decision")] == [2, 3, 4]
    assert [e.seq for e in store.outbox.search(reason="no_permit")] == [3, 4]
    assert [e.seq for e in store.outbox.search(plate="29C12345", reason="no_permit")] == [4]
    assert [e.seq for e in store.outbox.search(type="fault", reason="camera_offline")] == [5]
    assert store.outbox.search(plate="99Z99999") == []
    assert [e.seq for e in store.outbox.search()] == [1, 2, 3, 4, 5]
    # limit keeps the newest, returned oldest first
    assert [e.seq for e in store.outbox.search(limit=2)] == [4, 5]


def test_search_since_until(store):
    a = store.outbox.append("read", plate="29C12345")
    time.sleep(0.01)
    b = store.outbox.append("read", plate="29C12345")
    time.sleep(0.01)
    c = store.outbox.append("read", plate="29C12345")

    assert [e.seq for e in store.outbox.search(since=b.ts)] == [b.seq, c.seq]
    assert [e.seq for e in store.outbox.search(until=b.ts)] == [a.seq, b.seq]
    assert [e.seq for e in store.outbox.search(since=b.ts, until=b.ts)] == [b.seq]
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert store.outbox.search(since=future) == []
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert len(store.outbox.search(since=past)) == 3


def test_search_since_with_other_offsets_compares_in_utc(store):
    """``since``/``until`` are compared in UTC whatever offset or form the caller writes them in."""
    ev = store.outbox.append("read", plate="29C12345")
    ts = datetime.fromisoformat(ev.ts)
    ict = timezone(timedelta(hours=7))  # Vietnam/China-border local time
    before_local = (ts - timedelta(seconds=1)).astimezone(ict).isoformat()
    after_local = (ts + timedelta(seconds=1)).astimezone(ict).isoformat()
    before_z = (ts - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert [e.seq for e in store.outbox.search(since=before_local)] == [ev.seq]
    assert store.outbox.search(since=after_local) == []
    assert [e.seq for e in store.outbox.search(until=after_local)] == [ev.seq]
    assert [e.seq for e in store.outbox.search(since=before_z)] == [ev.seq]


def test_search_rejects_garbage_time(store):
    store.outbox.append("read")
    with pytest.raises(ValueError):
        store.outbox.search(since="yesterday")


def test_append_is_visible_to_a_second_connection(tmp_path):
    """A committed append is in the database file (+WAL), not only in the writer's memory."""
    import sqlite3

    store = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    try:
        ev = store.outbox.append("read", plate="29C12345")
        other = sqlite3.connect(str(tmp_path / "box.db"))
        row = other.execute("SELECT seq, event_id FROM events").fetchone()
        other.close()
        assert tuple(row) == (ev.seq, ev.event_id)
    finally:
        store.close()


def test_committed_pages_reach_the_database_file_off_the_commit_path(tmp_path):
    """The writer never checkpoints in a commit; the store's checkpointer thread moves WAL pages into
    the database file within a few seconds (else the file would stay at its initial size)."""
    import time

    from edge.localstore import LocalStore

    store = LocalStore(tmp_path / "gate.db", tmp_path / "snaps")
    try:
        assert store.db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = (tmp_path / "gate.db").stat().st_size
        for i in range(300):
            store.outbox.append("fault", reason="filler", payload={"i": i, "pad": "x" * 500})
        end = time.monotonic() + 10
        while (tmp_path / "gate.db").stat().st_size < before + 100_000:
            assert time.monotonic() < end, "WAL pages never reached the database file"
            time.sleep(0.1)
    finally:
        store.close()
