"""One passage: open, wait for the vehicle to enter and leave the loop, close — never on an occupied loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.barrier.base import Barrier


@dataclass(frozen=True)
class CycleResult:
    passed: bool
    fault: str | None
    open_s: float  # command to arm reported open
    total_s: float


def _wait(cond: Callable[[], bool], timeout: float, poll: float, stop: Callable[[], bool]) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if stop():
            return False
        time.sleep(poll)
    return cond()


def run_cycle(barrier: Barrier, *, open_timeout_s: float = 10, enter_timeout_s: float = 30,
              clear_timeout_s: float = 300, poll_s: float = 0.02,
              stop: Callable[[], bool] = lambda: False) -> CycleResult:
    t0 = time.monotonic()
    barrier.open()
    if not _wait(lambda: barrier.position() == "open", open_timeout_s, poll_s, lambda: False):
        return CycleResult(False, "open_timeout", time.monotonic() - t0, time.monotonic() - t0)
    opened = time.monotonic() - t0
    entered = _wait(barrier.loop_occupied, enter_timeout_s, poll_s, stop)
    passed = False
    fault = None
    if entered:
        passed = _wait(lambda: not barrier.loop_occupied(), clear_timeout_s, poll_s, lambda: False)
        if not passed:
            # Never close on a vehicle: leave the arm up and report; a technician must look.
            return CycleResult(False, "loop_stuck_occupied", opened, time.monotonic() - t0)
    else:
        fault = "no_vehicle"
    # Something may have driven in at the last moment: wait for it, never close on it.
    if not _wait(lambda: not barrier.loop_occupied(), clear_timeout_s, poll_s, lambda: False):
        return CycleResult(passed, "loop_stuck_occupied", opened, time.monotonic() - t0)
    barrier.close()
    return CycleResult(passed, fault, opened, time.monotonic() - t0)
