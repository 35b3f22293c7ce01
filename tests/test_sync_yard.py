"""Yard occupancy across the entry and exit boxes of one yard: each box counts only its own passages,
so the entry box takes the service's count (every gate's passages) at each permits pull, plus its own
passages the service does not hold yet. Without it an entry box calls its yard full for good after
``capacity`` entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.models import SyncConfig
from edge.localstore import LocalStore
from edge.localstore.gatestate import GateState
from edge.localstore.outbox import insert_event
from edge.sync import SyncClient
from tests.cloudsvc import CloudService, random_plate


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory):
    svc = CloudService(tmp_path_factory.mktemp("cloud"))
    yield svc
    svc.close()


def box(tmp_path: Path, gate: str) -> LocalStore:
    store = LocalStore(tmp_path / gate / "gate.db", tmp_path / gate / "snapshots", min_free_mb=1)
    store.state.set_yard("kb1", 300, 0)
    return store


def client(cloud: CloudService, store: LocalStore, gate: str) -> SyncClient:
    cfg = SyncConfig(endpoint=cloud.url, timeout_s=5, retry_attempts=2, retry_max_s=0.05)
    return SyncClient(cfg, store, cloud.site.id, gate, cloud.gate_token(gate))


def passages(store: LocalStore, n: int, delta: int) -> None:
    """What the gate runtime records for n trucks through the barrier."""
    with store.transaction() as conn:
        for _ in range(n):
            GateState.change_occupancy(conn, "kb1", delta)
            insert_event(conn, "passage", plate=random_plate(), reason="permit_ok", payload={"gate": "test"})


def test_entry_box_learns_of_exits_from_the_service(cloud: CloudService, tmp_path: Path):
    entry, exit_ = box(tmp_path, "kb1_in"), box(tmp_path, "kb1_out")
    try:
        into, out = client(cloud, entry, "kb1_in"), client(cloud, exit_, "kb1_out")
        passages(entry, 5, +1)
        into.sync_once()
        passages(exit_, 3, -1)  # three trucks leave through the other box
        out.sync_once()
        assert entry.state.yard("kb1") == (300, 5)  # the entry box alone does not know yet
        res = into.sync_once()
        assert res.pull.yard_occupancy == 2 and entry.state.yard("kb1") == (300, 2)
        # its own passages not yet pushed count on top of the service's figure
        passages(entry, 4, +1)
        into.pull_permits()
        assert entry.state.yard("kb1") == (300, 6)
        into.push_events()
        into.pull_permits()
        assert entry.state.yard("kb1") == (300, 6)  # now counted by the service instead: same figure
        out.pull_permits()
        assert exit_.state.yard("kb1") == (300, 6)
    finally:
        entry.close()
        exit_.close()


def test_a_gate_without_a_yard_gets_no_yard_figure(cloud: CloudService, tmp_path: Path):
    store = LocalStore(tmp_path / "b" / "gate.db", tmp_path / "b" / "snapshots", min_free_mb=1)
    try:
        res = client(cloud, store, "barrier_2bc_in").sync_once()
        assert res.pull.yard_occupancy is None
    finally:
        store.close()
