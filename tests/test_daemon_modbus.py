"""The daemon end to end on a Modbus TCP barrier: the PLC simulator over a real socket, the real daemon code."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.config import load_gate_config
from edge.daemon import Daemon
from edge.sim.world import Lane, Truck
from gatesim.barrier import BarrierSimulator
from tests.conftest import write_gate_file


def _wait(cond, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "gave up waiting"
        time.sleep(0.02)


def test_a_declared_truck_passes_through_a_modbus_barrier(tmp_path: Path) -> None:
    with BarrierSimulator(travel_s=0.3, command="pulse") as plc:
        gate_file = write_gate_file(tmp_path / "box")
        text = gate_file.read_text().replace('[barrier]\ntype = "sim"\ntravel_s = 0.05\npass_s = 0.1', (
            f'[barrier]\ntype = "modbus"\nhost = "127.0.0.1"\nport = {plc.port}\ncommand = "pulse"\npulse_s = 0.1\n\n'
            '[safety]\nclear_settle_s = 0.2\nopen_timeout_s = 3\nclose_timeout_s = 3'))
        gate_file.write_text(text)
        cfg, site = load_gate_config(gate_file)
        assert cfg.barrier.type == "modbus"
        lane = Lane(arrival_gap_s=0.1)
        daemon = Daemon(cfg, site, lane=lane)
        now = datetime.now(timezone.utc)
        daemon.store.permits.apply_delta([{
            "permit_id": "p1", "plate": "29C12345", "trip_id": "t1", "flow": "export", "direction": "in",
            "valid_from": (now - timedelta(hours=1)).isoformat(), "valid_until": (now + timedelta(hours=1)).isoformat(),
        }], [], cursor=1)
        runner = threading.Thread(target=daemon.run, daemon=True)
        runner.start()
        try:
            lane.add(Truck("29C-123.45", turn_away_s=30))
            _wait(lambda: plc.state()["position"] == "open")  # decided, committed, commanded over Modbus
            plc.set_loop(True)  # the truck drives onto the loop...
            time.sleep(0.3)
            assert plc.state()["position"] == "open"  # ...and the arm stays up over it
            plc.set_loop(False)
            _wait(lambda: plc.state()["position"] == "closed")
            _wait(lambda: daemon.store.outbox.search(type="barrier", reason="closed") != [])
        finally:
            daemon.stop_event.set()
            runner.join(timeout=10)
        from edge.localstore import LocalStore
        store = LocalStore.from_config(cfg.store, create=False)
        barrier = [e.reason for e in store.outbox.search(type="barrier")]
        [passage] = store.outbox.search(type="passage")
        decision = store.outbox.search(type="decision")[0]
        store.close()
        assert barrier[:1] == ["power_up"] and "opened" in barrier and barrier[-1] == "closed"
        assert passage.plate == "29C12345" and passage.payload["permit_id"] == "p1"
        assert decision.seq < passage.seq and decision.reason == "permit_ok"
        assert plc.stats()["unsafe_closes"] == 0
