"""Local store: per-gate state (passages, overrides, yards, queue numbers), on real SQLite files."""

from __future__ import annotations

import time

import pytest

from edge.localstore import LocalStore


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "box.db", tmp_path / "snaps")
    yield s
    s.close()


# ---------------------------------------------------------------- passages


def test_passages(store):
    assert store.state.last_passage("29C12345") is None
    assert store.state.passes_used("P1") == 0
    with store.transaction() as conn:
        store.state.record_passage(conn, "29C12345", "P1", at=1000.0)
        store.state.record_passage(conn, "29C12345", "P1", at=2000.0)
        store.state.record_passage(conn, "51D67890", None, at=3000.0)
    assert store.state.last_passage("29C12345") == 2000.0
    assert store.state.last_passage("51D67890") == 3000.0
    assert store.state.passes_used("P1") == 2
    before = time.time()
    with store.transaction() as conn:
        store.state.record_passage(conn, "30A11111", "P2")
    assert before <= store.state.last_passage("30A11111") <= time.time()


def test_passage_rolls_back_with_its_transaction(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            store.state.record_passage(conn, "29C12345", "P1", at=1000.0)
            store.record(conn, "passage", plate="29C12345")
            raise RuntimeError("barrier did not open")
    assert store.state.passes_used("P1") == 0
    assert store.outbox.tail() == []


# ---------------------------------------------------------------- overrides


@pytest.mark.parametrize("operator, reason", [("", "ambulance"), ("  ", "ambulance"), ("op7", ""), ("op7", " \t")])
def test_override_needs_operator_and_reason(store, operator, reason):
    with pytest.raises(ValueError, match="operator"):
        store.state.add_override("29C12345", operator, reason, ttl_s=60)
    assert store.state.active_override("29C12345") is None
    assert store.db.query("SELECT count(*) FROM overrides")[0][0] == 0
    assert store.outbox.search(type="override") == []


def test_override_recorded_as_event(store):
    ev = store.state.add_override("29C12345", " op7 ", " ambulance escort ", ttl_s=300)
    assert ev.type == "override" and ev.plate == "29C12345" and ev.reason == "override_granted"
    assert ev.payload["operator"] == "op7"
    assert ev.payload["why"] == "ambulance escort"
    assert ev.payload["ttl_s"] == 300
    [stored] = store.outbox.search(type="override")
    assert stored.event_id == ev.event_id and stored.payload == ev.payload

    ov = store.state.active_override("29C12345")
    assert ov is not None
    assert ov.id == ev.payload["override_id"]
    assert (ov.plate, ov.operator, ov.reason) == ("29C12345", "op7", "ambulance escort")
    assert store.state.active_override("51D67890") is None


def test_override_expires(store):
    t = time.time()
    store.state.add_override("29C12345", "op7", "ambulance", ttl_s=60)
    ov = store.state.active_override("29C12345", now=t + 30)
    assert ov is not None
    assert t + 59 <= ov.expires_at <= time.time() + 61
    assert store.state.active_override("29C12345", now=t + 61) is None
    assert store.state.active_override("29C12345", now=ov.expires_at) is None  # expiry is exclusive


def test_override_used_once(store):
    store.state.add_override("29C12345", "op7", "ambulance", ttl_s=600)
    store.state.add_override("29C12345", "op8", "second escort", ttl_s=600)
    first = store.state.active_override("29C12345")
    assert first.operator == "op7"  # oldest first
    with store.transaction() as conn:
        store.state.use_override(conn, first.id)
    second = store.state.active_override("29C12345")
    assert second is not None and second.id != first.id and second.operator == "op8"
    with store.transaction() as conn:
        store.state.use_override(conn, second.id)
    assert store.state.active_override("29C12345") is None
    # the audit trail keeps both grants
    assert len(store.outbox.search(type="override", plate="29C12345")) == 2


def test_override_persists(tmp_path):
    path = tmp_path / "box.db"
    s = LocalStore(path, tmp_path / "snaps")
    s.state.add_override("29C12345", "op7", "ambulance", ttl_s=600)
    s.close()
    s = LocalStore(path, tmp_path / "snaps")
    try:
        assert s.state.active_override("29C12345").operator == "op7"
    finally:
        s.close()


# ---------------------------------------------------------------- yards


def test_yard_occupancy(store):
    assert store.state.yard("Y1") is None
    store.state.set_yard("Y1", capacity=50, occupancy=10)
    assert store.state.yard("Y1") == (50, 10)
    with store.transaction() as conn:
        store.state.change_occupancy(conn, "Y1", +1)
        store.state.change_occupancy(conn, "Y1", +1)
    assert store.state.yard("Y1") == (50, 12)
    with store.transaction() as conn:
        store.state.change_occupancy(conn, "Y1", -5)
    assert store.state.yard("Y1") == (50, 7)
    # never below zero, even when exits were counted that we did not see enter
    with store.transaction() as conn:
        store.state.change_occupancy(conn, "Y1", -100)
    assert store.state.yard("Y1") == (50, 0)
    # re-set from the central count
    store.state.set_yard("Y1", capacity=60, occupancy=33)
    assert store.state.yard("Y1") == (60, 33)
    # unknown yard: change is a no-op, not a new row
    with store.transaction() as conn:
        store.state.change_occupancy(conn, "NOPE", +1)
    assert store.state.yard("NOPE") is None


def test_yards_are_independent(store):
    store.state.set_yard("Y1", 10, 0)
    store.state.set_yard("Y2", 20, 5)
    with store.transaction() as conn:
        store.state.change_occupancy(conn, "Y2", +3)
    assert store.state.yard("Y1") == (10, 0)
    assert store.state.yard("Y2") == (20, 8)


# ---------------------------------------------------------------- queue numbers


def test_queue_numbers_increase_per_day_and_restart(store):
    def issue(plate, day):
        with store.transaction() as conn:
            return store.state.issue_queue_number(conn, plate, f"T-{plate}", day)

    assert [issue(p, "2024-05-01") for p in ("29C00001", "29C00002", "29C00003")] == [1, 2, 3]
    assert issue("29C00004", "2024-05-02") == 1  # new day restarts
    assert issue("29C00005", "2024-05-02") == 2
    assert issue("29C00006", "2024-05-01") == 4  # the old day keeps its own count
    rows = store.db.query("SELECT day, number, plate FROM queue_numbers ORDER BY day, number")
    assert [tuple(r) for r in rows] == [
        ("2024-05-01", 1, "29C00001"), ("2024-05-01", 2, "29C00002"), ("2024-05-01", 3, "29C00003"),
        ("2024-05-01", 4, "29C00006"), ("2024-05-02", 1, "29C00004"), ("2024-05-02", 2, "29C00005"),
    ]


def test_queue_number_rolled_back_is_reissued(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            assert store.state.issue_queue_number(conn, "29C00001", None, "2024-05-01") == 1
            raise RuntimeError("led board down")
    with store.transaction() as conn:
        assert store.state.issue_queue_number(conn, "29C00002", None, "2024-05-01") == 1


def test_queue_numbers_persist_across_reopen(tmp_path):
    path = tmp_path / "box.db"
    s = LocalStore(path, tmp_path / "snaps")
    with s.transaction() as conn:
        s.state.issue_queue_number(conn, "29C00001", None, "2024-05-01")
        s.state.issue_queue_number(conn, "29C00002", None, "2024-05-01")
    s.close()
    s = LocalStore(path, tmp_path / "snaps")
    try:
        with s.transaction() as conn:
            assert s.state.issue_queue_number(conn, "29C00003", None, "2024-05-01") == 3
    finally:
        s.close()
