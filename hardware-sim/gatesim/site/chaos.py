"""``--chaos``: faults while traffic flows, each healed after its window, at most one per gate at a time.

Kinds: ``kill`` (SIGKILL the gate daemon, restart it after a few seconds), ``link`` (the gate's uplink
refuses or black-holes connections, as a cut or a dead route does), ``plc`` (the PLC restarts; half
of the time power-cycled), ``disk`` (the gate's disk is full: see :meth:`GateRig.fill_disk`),
``camera`` (the gate's camera stream sends garbage, truncated JPEGs or loses its framing).
Windows are drawn in simulated minutes and kept within real-time bounds, so a fast run still holds a
link cut long enough for the gate to notice and a slow run does not sit in one fault for an hour.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from gatesim.camera import CORRUPTIONS, CameraServer
from gatesim.site.clock import SimClock
from gatesim.site.rig import GateRig

log = logging.getLogger(__name__)

KINDS = ("kill", "link", "plc", "disk", "camera")


class Chaos:
    def __init__(self, rigs: dict[str, GateRig], camera: CameraServer, clock: SimClock, seed: int,
                 every_min: float = 10.0, window_min: tuple[float, float] = (5.0, 30.0),
                 window_real_s: tuple[float, float] = (4.0, 45.0), settle_s: float = 8.0):
        self.rigs, self.camera, self.clock = rigs, camera, clock
        self.rng = random.Random(seed)
        self.every_min = every_min
        self.window_min, self.window_real_s, self.settle_s = window_min, window_real_s, settle_s
        self.log: list[dict[str, Any]] = []
        self.busy: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self._main = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> "Chaos":
        self._main.start()
        return self

    def stop(self) -> None:
        """Stop making faults and heal every open one now."""
        self.stopping.set()
        self._main.join(5)
        for t in self.threads:
            t.join(30)

    def _window(self) -> float:
        real = self.clock.real_s(self.rng.uniform(*self.window_min) * 60)
        return min(max(real, self.window_real_s[0]), self.window_real_s[1])

    def _run(self) -> None:
        while not self.stopping.wait(self.clock.real_s(self.rng.expovariate(1 / (self.every_min * 60)))):
            with self.lock:
                free = sorted(g for g in self.rigs if g not in self.busy)
                if not free:
                    continue
                gate = self.rng.choice(free)
                self.busy.add(gate)
            kind = self.rng.choice(KINDS)
            t = threading.Thread(target=self._fault, args=(kind, gate), name=f"chaos-{kind}-{gate}", daemon=True)
            self.threads.append(t)
            t.start()

    def _fault(self, kind: str, gate: str) -> None:
        rig = self.rigs[gate]
        entry: dict[str, Any] = {"kind": kind, "gate": gate, "at_sim_min": round(self.clock.now() / 60, 1)}
        try:
            heal = self._inject(kind, rig, entry)
            self.log.append(entry)
            self.stopping.wait(entry.get("window_s", 0))
            heal()
            self.stopping.wait(self.settle_s)  # let the gate come back before its next fault
        except Exception as exc:  # noqa: BLE001 - a fault that could not be made is reported, not fatal
            entry["error"] = str(exc)
            self.log.append(entry)
            log.exception("chaos_fault_failed", extra={"kind": kind, "gate": gate})
        finally:
            with self.lock:
                self.busy.discard(gate)

    def _inject(self, kind: str, rig: GateRig, entry: dict[str, Any]) -> Callable[[], None]:
        gate = rig.gate_id
        if kind == "kill":
            rig.kill()
            entry["window_s"] = round(self.rng.uniform(1.0, 4.0), 2)
            return rig.start_daemon
        if kind == "plc":
            down = round(self.rng.uniform(0.5, 3.0), 2)
            entry |= {"down_s": down, "power_cycle": self.rng.random() < 0.5}
            rig.plc.restart(down, power_cycle=entry["power_cycle"])
            return lambda: None
        entry["window_s"] = round(self._window(), 2)
        if kind == "link":
            assert rig.proxy is not None
            mode = self.rng.choice(["refuse", "blackhole"])
            entry["mode"] = mode
            rig.proxy.set(mode)
            return lambda: rig.proxy.set("pass") if rig.proxy else None
        if kind == "disk":
            rig.fill_disk(True)
            return lambda: rig.fill_disk(False)
        mode = self.rng.choice(CORRUPTIONS)
        entry["mode"] = mode
        self.camera.corrupt(gate, mode)
        return lambda: self.camera.corrupt(gate, None)
