"""One gate's lane: trucks queue, one at a time stands in front of the camera, waits for the arm,
drives over the loop and leaves — through the simulators' own controls (camera scene, PLC loop input),
so the gate box sees exactly what a real lane would show it."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gatesim.barrier import BarrierSimulator
from gatesim.camera import CameraServer
from gatesim.site.truth import Ledger, Truck, Visit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaneTiming:
    """Real seconds (the physical passage is not accelerated: the box and the PLC run in real time)."""

    open_wait_s: float = 5.0  # a truck waits this long in front of the camera for the arm
    pass_s: float = 0.4  # time on the loop
    closed_wait_s: float = 15.0  # the next truck waits at most this long for the arm to come down
    poll_s: float = 0.05


class GateLane:
    def __init__(self, gate_id: str, plc: BarrierSimulator, camera: CameraServer, ledger: Ledger,
                 on_passed: Callable[[Truck, str], None], on_refused: Callable[[Truck, str], None],
                 timing: LaneTiming = LaneTiming()):
        self.gate_id = gate_id
        self.plc = plc
        self.camera = camera
        self.ledger = ledger
        self.on_passed = on_passed
        self.on_refused = on_refused
        self.timing = timing
        self._heap: list[tuple[float, int, Truck]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.waits: list[float] = []  # real seconds each truck queued before it reached the camera
        self.passed = 0
        self.refused = 0
        self.arm_stuck_waits = 0
        self.busy = False
        self._thread = threading.Thread(target=self._run, name=f"lane-{gate_id}", daemon=True)

    def start(self) -> "GateLane":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(10)

    def enqueue(self, truck: Truck, ready_mono: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (ready_mono, next(self._seq), truck))
            self._cond.notify()

    def queued(self) -> int:
        """Trucks waiting at this gate now (ready, not yet at the camera)."""
        now = time.monotonic()
        with self._cond:
            return sum(1 for r, _, _ in self._heap if r <= now) + (1 if self.busy else 0)

    def _next(self) -> tuple[float, Truck] | None:
        with self._cond:
            while not self._stop.is_set():
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        ready, _, truck = heapq.heappop(self._heap)
                        self.busy = True
                        return ready, truck
                    self._cond.wait(min(wait, 0.5))
                else:
                    self._cond.wait(0.5)
        return None

    def _wait(self, cond: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self._stop.is_set():
            if cond():
                return True
            if time.monotonic() > end:
                return False
            time.sleep(self.timing.poll_s)
        return False

    def _position(self) -> str:
        return self.plc.model.snapshot()["position"]

    def _run(self) -> None:
        while (item := self._next()) is not None:
            ready, truck = item
            try:
                self._turn(ready, truck)
            except Exception:  # noqa: BLE001 - a lane must keep serving; the failure is logged and counted
                log.exception("lane_turn_failed", extra={"gate": self.gate_id, "plate": truck.plate})
                self.camera.clear(self.gate_id)
                self.on_refused(truck, self.gate_id)
            finally:
                self.busy = False

    def _turn(self, ready: float, truck: Truck) -> None:
        t = self.timing
        if not self._wait(lambda: self._position() == "closed", t.closed_wait_s):
            self.arm_stuck_waits += 1  # arm not down (fault, PLC restart): no truck drives under it
            self.enqueue(truck, time.monotonic() + 1.0)
            return
        self.waits.append(time.monotonic() - ready)
        truck.status = "at_gate"
        self.camera.show(self.gate_id, truck.plate)
        visit = Visit(self.gate_id, truck.id, truck.plate, time.time())
        visit.opened = self._wait(lambda: self._position() == "open", t.open_wait_s)
        if visit.opened:
            self.plc.set_loop(True)
            time.sleep(t.pass_s)
            self.plc.set_loop(False)
            visit.passed = True
        self.camera.clear(self.gate_id)
        visit.left_ts = time.time()
        self.ledger.add_visit(visit)
        if visit.passed:
            self.passed += 1
            self.on_passed(truck, self.gate_id)
        else:
            self.refused += 1
            self.on_refused(truck, self.gate_id)
