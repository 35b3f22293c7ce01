"""The barrier's safety state machine: one thread owns the device and runs every passage.

A passage is: open → vehicle on the loop → loop clear (and settled) → close. The arm is never commanded
down while the loop is occupied; if the loop becomes occupied while the arm is closing, the arm is sent
back up. Every timeout is a fault. What the arm does at power-up and after a fault is configurable.
Nothing here blocks the caller: requests go through a queue, results come back as events.

``tick()`` is one step of the machine and takes the time as an argument, so tests and the 10,000-cycle
safety run drive it in virtual time; ``start()`` runs it in a thread against the wall clock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edge.barrier.base import Barrier, BarrierFault, BarrierUnavailable
from edge.barrier.config import SafetyConfig

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]


class State(StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    WAITING = "waiting_vehicle"  # arm up, nobody on the loop yet
    ON_LOOP = "vehicle_on_loop"
    SETTLING = "loop_clearing"  # loop clear, waiting clear_settle_s before closing
    CLOSING = "closing"
    HELD_OPEN = "held_open"  # manual open, or power-up/fault policy "open"
    FAULT = "fault"


@dataclass
class Request:
    kind: str  # "passage", "open", "close", "test"
    ref: dict[str, Any] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] = field(default_factory=dict)


class BarrierController:
    def __init__(self, driver: Barrier, cfg: SafetyConfig, on_event: EventSink | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.driver = driver
        self.cfg = cfg
        self.on_event = on_event or (lambda kind, data: None)
        self.clock = clock
        self.state = State.CLOSED
        self.fault: str | None = None
        self.position = "unknown"
        self.loop = False
        self._requests: queue.Queue[Request] = queue.Queue()
        self._current: Request | None = None
        self._since = 0.0  # when the current state began
        self._t0 = 0.0  # when the current cycle began
        self._timings: dict[str, float] = {}
        self._vehicle_seen = False
        self._close_reason = ""
        self._reversals = 0
        self._passages = 0
        self._last_close_try = -1e9
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._device_down = False
        self._last_cmd = ""
        self._loop_while_opening = False

    # ------------------------------------------------------------------ requests (any thread)

    @property
    def busy(self) -> bool:
        """A passage or manual action is in progress, or the device is in fault: do not start another."""
        return self.state != State.CLOSED or self._current is not None or not self._requests.empty()

    def request(self, kind: str, **ref: Any) -> Request:
        req = Request(kind, ref)
        self._requests.put(req)
        return req

    def request_passage(self, **ref: Any) -> Request:
        return self.request("passage", **ref)

    # ------------------------------------------------------------------ thread

    def start(self) -> None:
        self.power_up(self.clock())
        self._thread = threading.Thread(target=self._run, name="barrier", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick(self.clock())
            self._stop.wait(self.cfg.poll_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ the machine

    def power_up(self, now: float) -> None:
        if not self._read(now):
            return
        if self.cfg.power_up == "open":
            self._enter(State.HELD_OPEN, now)
            self._command("open", now)
        elif self.position != "closed":
            self._begin_close(now, "power_up")
        self._emit("power_up", {"policy": self.cfg.power_up, "position": self.position, "loop": self.loop})

    def tick(self, now: float) -> None:
        if not self._read(now):
            return
        if self._current is None and self.state in (State.CLOSED, State.HELD_OPEN, State.FAULT):
            self._take_request(now)
        handler = getattr(self, f"_on_{self.state.name.lower()}")
        handler(now)

    def _read(self, now: float) -> bool:
        try:
            self.position = self.driver.position()
            self.loop = self.driver.loop_occupied()
        except BarrierFault as exc:
            if not self._device_down:
                self._device_down = True
                kind = "device_unavailable" if isinstance(exc, BarrierUnavailable) else "device_error"
                self._to_fault(now, kind, str(exc))
            return False
        if self._device_down:
            self._device_down = False
            self._emit("device_back", {"position": self.position})
        return True

    def _take_request(self, now: float) -> None:
        try:
            req = self._requests.get_nowait()
        except queue.Empty:
            return
        if req.kind == "passage":
            if self.state != State.CLOSED:
                self._finish(req, ok=False, why=f"barrier {self.state}")
                return
            self._current = req
            self._start_cycle(now)
        elif req.kind == "open":
            self._emit("manual_open", req.ref)
            self._current = None
            self._command("open", now)
            self.fault = None
            self._enter(State.HELD_OPEN, now)
            self._finish(req, ok=True)
        elif req.kind == "close":
            self._emit("manual_close", req.ref)
            self.fault = None
            self._begin_close(now, "manual")
            self._current = req  # finished when closed
        elif req.kind == "test":
            if self.state != State.CLOSED:
                self._finish(req, ok=False, why=f"barrier {self.state}")
                return
            self._current = req
            self._start_cycle(now)
        else:
            self._finish(req, ok=False, why=f"unknown request {req.kind!r}")

    def _start_cycle(self, now: float) -> None:
        self._t0 = now
        self._timings = {}
        self._vehicle_seen = False
        self._reversals = 0
        self._passages = 0
        self._command("open", now)
        self._enter(State.OPENING, now)

    # -- per state

    def _on_closed(self, now: float) -> None:
        if self.position not in ("closed",) and now - self._since > self.cfg.close_timeout_s:
            self._to_fault(now, "arm_not_closed", f"arm reads {self.position} while it should be closed")

    def _on_opening(self, now: float) -> None:
        self._vehicle_seen |= self.loop
        self._loop_while_opening |= self.loop
        if self.position == "open":
            self._timings.setdefault("open_s", now - self._t0)
            self._emit("opened", self._ref() | {"open_s": round(now - self._t0, 3)})
            if self.loop:
                self._enter(State.ON_LOOP, now)
            elif self._loop_while_opening:  # a vehicle crossed while the arm was still rising
                self._enter(State.SETTLING, now)
            elif self._is_test():
                self._begin_close(now, "test")
            else:
                self._enter(State.WAITING, now)
        elif now - self._since > self.cfg.open_timeout_s:
            self._to_fault(now, "open_timeout", f"arm not open {self.cfg.open_timeout_s} s after the command")

    def _on_waiting(self, now: float) -> None:
        if self.loop:
            self._vehicle_seen = True
            self._enter(State.ON_LOOP, now)
        elif now - self._since > self.cfg.enter_timeout_s:
            self._emit("no_vehicle", self._ref() | {"waited_s": round(now - self._since, 3)})
            self._begin_close(now, "no_vehicle")

    def _on_on_loop(self, now: float) -> None:
        if not self.loop:
            self._enter(State.SETTLING, now)
        elif now - self._since > self.cfg.clear_timeout_s:
            self._to_fault(now, "loop_stuck_occupied", f"loop occupied over {self.cfg.clear_timeout_s} s; arm stays up")

    def _on_settling(self, now: float) -> None:
        if self.loop:
            self._enter(State.ON_LOOP, now)
        elif now - self._since >= self.cfg.clear_settle_s:
            if self._current is not None and self._current.kind == "passage":
                # The first vehicle over the loop is the one the decision was for; any other vehicle in
                # the same cycle (after a reversal) followed it through without a decision of its own.
                kind = "tailgate" if self._passages else "passed"
                self._passages += 1
                self._emit(kind, self._ref() | {"s": round(now - self._t0, 3)})
            self._begin_close(now, "passed")

    def _on_closing(self, now: float) -> None:
        if self.loop:
            # A vehicle moved under the arm: send it back up, never close on it.
            self._reversals += 1
            self._command("open", now)
            self._emit("reversed", self._ref() | {"reversals": self._reversals})
            self._enter(State.OPENING, now)
            return
        if self.position == "closed":
            self._timings["close_s"] = now - self._since
            self._enter(State.CLOSED, now)
            self._emit("closed", self._ref() | {"reason": self._close_reason, "total_s": round(now - self._t0, 3)})
            if self._current is not None:
                self._finish(self._current, ok=True)
        elif now - self._since > self.cfg.close_timeout_s:
            self._to_fault(now, "close_timeout", f"arm not closed {self.cfg.close_timeout_s} s after the command")

    def _on_held_open(self, now: float) -> None:
        """Arm up until a manual close; nothing to do while held."""

    def _on_fault(self, now: float) -> None:
        if self.loop and self._last_cmd == "close" and self.position != "closed":
            self._command("open", now)  # a vehicle moved under an arm we were lowering: back up
            self._last_close_try = now
            return
        if self.cfg.on_fault == "closed":
            if self.position == "closed" and not self.loop:
                self._emit("fault_cleared", {"fault": self.fault})
                self.fault = None
                self._enter(State.CLOSED, now)
            elif not self.loop and now - self._last_close_try > self.cfg.close_timeout_s:
                self._last_close_try = now
                self._command("close", now)
        elif self.position != "open" and now - self._last_close_try > self.cfg.open_timeout_s:
            self._last_close_try = now
            self._command("open", now)

    # -- helpers

    def _begin_close(self, now: float, reason: str) -> None:
        self._close_reason = reason
        if self.loop:  # never close on a vehicle: wait for it on the loop
            self._enter(State.ON_LOOP, now)
            return
        self._command("close", now)
        self._enter(State.CLOSING, now)

    def _command(self, what: str, now: float) -> None:
        if what == "close" and self.loop:
            raise AssertionError("refusing to close on an occupied loop")  # guarded by every caller
        self._last_cmd = what
        try:
            self.driver.open() if what == "open" else self.driver.close()
        except BarrierFault as exc:
            self._to_fault(now, f"{what}_command_failed", str(exc))

    def _to_fault(self, now: float, kind: str, detail: str) -> None:
        if self.state == State.FAULT and self.fault == kind:
            return
        self.fault = kind
        self._enter(State.FAULT, now)
        self._last_close_try = -1e9
        self._emit("fault", self._ref() | {"fault": kind, "detail": detail, "policy": self.cfg.on_fault})
        log.error("barrier_fault", extra={"fault": kind, "detail": detail})
        if self._current is not None:
            self._finish(self._current, ok=False, why=kind)

    def _enter(self, state: State, now: float) -> None:
        if state == State.OPENING:
            self._loop_while_opening = False
        self.state = state
        self._since = now

    def _is_test(self) -> bool:
        return self._current is not None and self._current.kind == "test"

    def _ref(self) -> dict[str, Any]:
        return dict(self._current.ref) if self._current is not None else {}

    def _finish(self, req: Request, *, ok: bool, why: str | None = None) -> None:
        req.result = {"ok": ok, "why": why, "kind": req.kind, "vehicle_seen": self._vehicle_seen,
                      "reversals": self._reversals} | {k: round(v, 3) for k, v in self._timings.items()}
        if req is self._current:
            self._current = None
        req.done.set()
        self._emit("request_done", req.ref | {"result": req.result})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.on_event(kind, data | {"state": str(self.state)})
        except Exception:  # an event sink must never stop the arm's machine
            log.exception("barrier_event_sink_failed")


def run_safety_cycles(cycles: int = 10_000, seed: int = 1, **kw: Any) -> dict[str, Any]:
    """The randomised safety run (see :mod:`edge.barrier.safety_run`)."""
    from edge.barrier.safety_run import run_safety_cycles as run
    return run(cycles, seed, **kw)
