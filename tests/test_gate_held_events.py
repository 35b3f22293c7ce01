"""A store that refuses writes between a decision and its passage (disk full): the barrier events and
the passage are held in memory, in order, and written as soon as the store takes writes again."""

from __future__ import annotations

import pytest

from edge.decision import Reason
from tests.test_gate_runtime import Gate, fill_store, permit


@pytest.fixture
def gate(tmp_path):
    g = Gate(tmp_path)
    yield g
    g.close()


def test_passage_during_a_full_disk_is_recorded_late_not_lost(gate: Gate):
    gate.permits(permit("p1", "29C12345"))
    gate.arrive("29C12345")
    decision = gate.rt.handle(gate.read("29C12345"))  # committed before the arm moves
    assert decision.reason == Reason.PERMIT_OK
    fill_store(gate.store)  # the disk fills while the truck drives through
    assert gate.rt.settle(10)
    assert gate.rt.unrecorded >= 2  # opened, closed / passed are waiting in memory
    assert gate.events("passage") == []
    assert [k for k, _ in gate.heard if k == "passage"]  # the passage itself happened

    gate.store.db.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    gate.rt._retry_held_at = 0.0
    gate.rt.drain()
    assert gate.rt.unrecorded == 0
    [passage] = gate.events("passage")
    assert passage.plate == "29C12345" and passage.payload["recorded_late"] is True
    assert passage.payload["occurred_at"]
    barrier = [e.reason for e in gate.events("barrier")]
    assert barrier[:2] == ["opened", "closed"]  # in the order they happened
    assert all(e.payload.get("recorded_late") for e in gate.events("barrier"))
    assert gate.store.state.passes_used("p1") == 1
    assert gate.store.state.yard("kb2") == (300, 1)


def test_held_events_keep_their_order_behind_older_ones(gate: Gate):
    fill_store(gate.store)
    gate.rt._on_barrier("fault", {"fault": "arm_stuck"})
    gate.rt._on_barrier("fault_cleared", {"fault": "arm_stuck"})
    assert gate.rt.unrecorded == 2
    gate.store.db.conn.execute("PRAGMA max_page_count = 1073741823")
    gate.rt._retry_held_at = 0.0
    gate.rt._on_barrier("power_up", {})  # a newer event must not overtake the held ones
    assert gate.rt.unrecorded == 3
    gate.rt._retry_held_at = 0.0
    gate.rt.drain()
    reasons = [e.reason for e in gate.store.outbox.tail(20) if e.type == "barrier"]
    assert reasons[-3:] == ["fault", "fault_cleared", "power_up"]
