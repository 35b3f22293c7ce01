"""The loop detector at the closed barrier triggers the plate reader (issue 7: "emit one read per vehicle
when the vehicle stops, when the loop detector fires, or when enough frames agree").

GateRuntime on simulated drivers and a real SQLite store; the barrier's loop is the sim's, plus a truck
the test stands on it.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.barrier.config import SafetyConfig
from edge.barrier.sim import SimBarrierDriver
from edge.camera.sim import SimCameraSource
from edge.config import load_gate_config
from edge.config.models import SimBarrier, SimCamera, SimReader, StoreConfig
from edge.gate import GateRuntime
from edge.ledboard.base import LogLedBoard
from edge.localstore import LocalStore
from edge.metrics import GateMetrics
from edge.plate.sim import SimPlateReader
from edge.plate.types import PlateRead
from edge.sim.world import Lane

REPO = Path(__file__).resolve().parents[1]
CFG, SITE = load_gate_config(REPO / "config" / "dev" / "kb2_in.toml")


class LoopBarrier(SimBarrierDriver):
    """The sim barrier with a truck the test can stand on its loop."""

    truck_on_loop = False

    def loop_occupied(self) -> bool:
        return self.truck_on_loop or super().loop_occupied()


class TriggerableReader(SimPlateReader):
    """The sim reader, told when the loop fires (as the OpenVINO reader is)."""

    def __init__(self, cfg: SimReader):
        super().__init__(cfg)
        self.triggers: list[float] = []

    def trigger(self, ts: float) -> None:
        self.triggers.append(ts)


@pytest.fixture
def rig(tmp_path):
    cfg = CFG.model_copy(update={
        "store": StoreConfig(path=tmp_path / "gate.db", snapshot_dir=tmp_path / "snaps", min_free_mb=0),
        "camera": SimCamera(type="sim", fps=40, width=160, height=90),
        "reader": SimReader(type="sim", confidence=0.95, seed=1),
        "barrier": SimBarrier(type="sim", travel_s=0.03, pass_s=0.05),
        "safety": SafetyConfig(clear_settle_s=0.02, poll_s=0.005, enter_timeout_s=5),
    })
    store = LocalStore.from_config(cfg.store)
    lane = Lane(arrival_gap_s=0.0, approach_s=0.02)
    camera = SimCameraSource(cfg.camera, lane)
    reader = TriggerableReader(cfg.reader)
    barrier = LoopBarrier(cfg.barrier, lane)
    rt = GateRuntime(cfg, SITE, store, camera, reader, barrier, LogLedBoard(), GateMetrics(cfg.gate_id))
    rt.start()
    yield rt, barrier, reader, store
    rt.shutdown()
    store.close()


def steps(rt: GateRuntime, seconds: float = 0.1) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rt.step()
        time.sleep(0.005)


def until(rt: GateRuntime, done, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, "gave up waiting"
        rt.step()
        time.sleep(0.005)


def test_truck_pulling_onto_the_loop_triggers_once(rig):
    rt, barrier, reader, _ = rig
    steps(rt)
    assert reader.triggers == []
    before = time.time()
    barrier.truck_on_loop = True
    until(rt, lambda: rt.controller.loop)
    steps(rt)
    assert len(reader.triggers) == 1 and reader.triggers[0] >= before  # standing there: no more
    barrier.truck_on_loop = False
    until(rt, lambda: not rt.controller.loop)
    steps(rt)
    barrier.truck_on_loop = True  # the next truck
    until(rt, lambda: rt.controller.loop)
    steps(rt)
    assert len(reader.triggers) == 2


def test_truck_passing_through_the_open_barrier_is_not_a_trigger(rig):
    rt, barrier, reader, store = rig
    now = datetime.now(timezone.utc)
    assert store.permits.apply_delta([{
        "permit_id": "p1", "plate": "51F06532", "trip_id": "t1", "flow": "export", "direction": "in",
        "valid_from": (now - timedelta(hours=1)).isoformat(), "valid_until": (now + timedelta(hours=8)).isoformat(),
    }], [], cursor=1).rejected == []
    decision = rt.handle(PlateRead(text="51F06532", confidence=0.95, ts=time.time(), source="test"))
    assert decision.allow
    until(rt, lambda: rt.controller.busy and rt.controller.position == "open")
    barrier.truck_on_loop = True  # the allowed truck drives over the loop
    steps(rt, 0.1)
    barrier.truck_on_loop = False
    until(rt, lambda: not rt.controller.busy)
    steps(rt)
    assert reader.triggers == []
