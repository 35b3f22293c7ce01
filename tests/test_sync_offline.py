"""A day offline: 50,000 events and their snapshots queue up while the link is down, then all arrive once."""

from __future__ import annotations

import os
import random
from pathlib import Path

from edge.config.models import SyncConfig
from edge.localstore import LocalStore
from edge.localstore.outbox import insert_event
from edge.sync import SyncClient
from tests.cloudsvc import CloudService
from gatesim.link import FaultProxy

GATE = "kb2_in"
EVENTS = 50_000
SNAPSHOTS = 300  # one read in ~170 keeps its picture (a day at a busy gate, at demo-sized JPEGs)


def test_a_day_offline_then_everything_arrives_exactly_once(tmp_path: Path) -> None:
    cloud = CloudService(tmp_path / "cloud")
    proxy = FaultProxy(cloud.port)
    store = LocalStore(tmp_path / "box" / "gate.db", tmp_path / "box" / "snapshots", min_free_mb=1)
    try:
        client = SyncClient(SyncConfig(endpoint=f"http://127.0.0.1:{proxy.port}", timeout_s=2, retry_attempts=2,
                                       retry_max_s=0.05, batch_size=1000), store, cloud.site.id, GATE,
                            cloud.gate_token(GATE))
        proxy.set("refuse")  # the uplink is down all day
        rng = random.Random(5)
        shas = [store.snapshots.save(os.urandom(16) + rng.randbytes(2000)) for _ in range(SNAPSHOTS)]
        ids: list[str] = []
        with store.transaction() as conn:
            for i in range(EVENTS):
                ids.append(insert_event(conn, "decision", plate=f"29C{10000 + i % 90000}", reason="permit_ok",
                                        payload={"allow": True, "n": i},
                                        snapshot=shas[i % SNAPSHOTS] if i % 167 == 0 else None).event_id)
        offline = client.sync_once()
        assert not offline.ok and store.outbox.backlog() == EVENTS  # nothing marked sent while offline
        proxy.set("pass")  # the link returns
        rounds = 0
        while store.outbox.backlog() or store.snapshots.unsynced(1):
            assert client.sync_once().ok
            rounds += 1
            assert rounds < 20
        assert cloud.copies(ids) == (EVENTS, EVENTS)  # each stored once, none under a second id
        assert set(shas) <= cloud.snapshot_shas()
        assert store.snapshots.unsynced(1) == []
    finally:
        store.close()
        proxy.close()
        cloud.close()
