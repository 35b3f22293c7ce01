"""run_cycle: open, wait for the vehicle to enter and leave the loop, close — never on an occupied loop.

The barrier here is a scripted fake implementing the Barrier protocol: each loop_occupied() call
returns the next value of a script (the last one repeats), so every scenario is exact.
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.barrier.base import Barrier
from edge.barrier.cycle import CycleResult, run_cycle
from edge.barrier.sim import SimBarrierDriver
from edge.config.models import SimBarrier
from edge.sim.world import Lane, Truck

FAST = {"open_timeout_s": 0.2, "enter_timeout_s": 0.2, "clear_timeout_s": 0.2, "poll_s": 0.001}


class ScriptedBarrier:
    def __init__(self, loop: list[bool], *, opens_after: int = 2, never_opens: bool = False):
        self.loop = list(loop)
        self.opens_after = opens_after  # position() calls that report "opening" before "open"
        self.never_opens = never_opens
        self.arm = "closed"
        self.log: list[str] = []
        self.readings: list[bool] = []
        self.closed_while_occupied = 0
        self._position_calls = 0

    def open(self) -> None:
        self.log.append("open")
        self.arm = "opening"

    def close(self) -> None:
        self.log.append("close")
        if self.readings and self.readings[-1]:
            self.closed_while_occupied += 1
        self.arm = "closed"

    def position(self) -> str:
        if self.arm == "opening":
            self._position_calls += 1
            if not self.never_opens and self._position_calls > self.opens_after:
                self.arm = "open"
        return self.arm

    def loop_occupied(self) -> bool:
        value = self.loop.pop(0) if len(self.loop) > 1 else self.loop[0]
        self.readings.append(value)
        self.log.append("loop" if value else "clear")
        return value


def test_fake_implements_the_protocol():
    b: Barrier = ScriptedBarrier([False])  # type-checks as the Protocol
    assert {"open", "close", "position", "loop_occupied"} <= set(dir(b))


def test_normal_passage():
    b = ScriptedBarrier([False, False, True, True, True, False])
    r = run_cycle(b, **FAST)
    assert isinstance(r, CycleResult)
    assert (r.passed, r.fault) == (True, None)
    assert b.log[0] == "open" and b.log[-1] == "close" and b.log.count("close") == 1
    assert b.log[-2] == "clear"  # the last look before closing saw the loop clear
    assert b.closed_while_occupied == 0
    assert 0 <= r.open_s <= r.total_s < 1


def test_never_closes_while_the_vehicle_is_still_on_the_loop():
    # the vehicle sits on the loop for many polls; the arm waits for it
    b = ScriptedBarrier([True] * 50 + [False])
    r = run_cycle(b, **(FAST | {"clear_timeout_s": 5}))
    assert (r.passed, r.fault) == (True, None)
    assert b.readings.count(True) == 50
    assert b.log.index("close") > len(b.log) - 2 and b.closed_while_occupied == 0


def test_no_vehicle():
    b = ScriptedBarrier([False])
    t0 = time.monotonic()
    r = run_cycle(b, **(FAST | {"enter_timeout_s": 0.1}))
    assert (r.passed, r.fault) == (False, "no_vehicle")
    assert b.log[0] == "open" and b.log[-1] == "close"  # nobody came: the arm goes back down
    assert time.monotonic() - t0 >= 0.1 and r.total_s >= 0.1
    assert b.closed_while_occupied == 0


def test_loop_stuck_occupied_leaves_the_arm_up():
    b = ScriptedBarrier([False, True])  # the vehicle enters and never leaves (or the loop is faulty)
    r = run_cycle(b, **(FAST | {"clear_timeout_s": 0.1}))
    assert (r.passed, r.fault) == (False, "loop_stuck_occupied")
    assert "close" not in b.log and b.arm == "open"
    assert r.total_s >= 0.1


def test_tailgater_after_a_passage_keeps_the_arm_up():
    # the truck passes; before the arm comes down the next one rolls onto the loop and stays
    b = ScriptedBarrier([True, False, True])
    r = run_cycle(b, **(FAST | {"clear_timeout_s": 0.05}))
    assert (r.passed, r.fault) == (True, "loop_stuck_occupied")  # the passage still counts
    assert "close" not in b.log


def test_loop_occupied_from_the_start_and_stuck():
    b = ScriptedBarrier([True])
    r = run_cycle(b, **(FAST | {"clear_timeout_s": 0.05}))
    assert (r.passed, r.fault) == (False, "loop_stuck_occupied")
    assert "close" not in b.log


def test_last_moment_vehicle_is_waited_for():
    # stop() ends the wait for a vehicle at once; then something rolls onto the loop before the
    # arm comes down: the cycle waits for it to clear, then closes.
    b = ScriptedBarrier([False, True, True, True, False])
    r = run_cycle(b, **FAST, stop=lambda: True)
    assert (r.passed, r.fault) == (False, "no_vehicle")
    assert b.log[-1] == "close" and b.log[-2] == "clear" and b.closed_while_occupied == 0
    assert b.readings.count(True) == 3


def test_last_moment_vehicle_that_stays_keeps_the_arm_up():
    b = ScriptedBarrier([False, True])
    r = run_cycle(b, **(FAST | {"clear_timeout_s": 0.05}), stop=lambda: True)
    assert (r.passed, r.fault) == (False, "loop_stuck_occupied")
    assert "close" not in b.log


def test_stop_ends_the_wait_for_a_vehicle_early():
    b = ScriptedBarrier([False])
    t0 = time.monotonic()
    r = run_cycle(b, open_timeout_s=1, enter_timeout_s=30, clear_timeout_s=1, poll_s=0.001, stop=lambda: True)
    assert time.monotonic() - t0 < 1
    assert (r.passed, r.fault) == (False, "no_vehicle") and b.log[-1] == "close"


def test_stop_does_not_abandon_a_vehicle_on_the_loop():
    b = ScriptedBarrier([True, True, True, False])
    r = run_cycle(b, **FAST, stop=lambda: True)
    assert (r.passed, r.fault) == (True, None)
    assert b.log[-1] == "close" and b.closed_while_occupied == 0


def test_open_timeout():
    b = ScriptedBarrier([False], never_opens=True)
    r = run_cycle(b, **(FAST | {"open_timeout_s": 0.1}))
    assert (r.passed, r.fault) == (False, "open_timeout")
    assert b.log == ["open"]  # no loop wait, no close: the arm state is unknown, a technician looks
    assert r.open_s >= 0.1 and r.total_s >= r.open_s


def test_slow_arm_within_the_timeout():
    b = ScriptedBarrier([True, False], opens_after=30)
    r = run_cycle(b, **FAST)
    assert (r.passed, r.fault) == (True, None)
    assert r.open_s > 0


@settings(max_examples=60, deadline=None)
@given(loop=st.lists(st.booleans(), min_size=1, max_size=30), opens_after=st.integers(0, 5),
       stop=st.booleans())
def test_never_closes_on_an_occupied_loop(loop, opens_after, stop):
    b = ScriptedBarrier(loop, opens_after=opens_after)
    timeouts = {"open_timeout_s": 0.05, "enter_timeout_s": 0.01, "clear_timeout_s": 0.01, "poll_s": 0.0005}
    r = run_cycle(b, **timeouts, stop=lambda: stop)
    assert b.closed_while_occupied == 0
    assert b.log.count("close") <= 1
    assert r.fault in (None, "no_vehicle", "loop_stuck_occupied")
    if "close" in b.log:
        assert b.log[-1] == "close" and b.log[-2] == "clear"
        assert r.fault in (None, "no_vehicle")
    else:
        assert r.fault == "loop_stuck_occupied" and b.readings[-1] is True
    if r.passed:  # a vehicle was seen on the loop and then seen leaving it
        first = b.readings.index(True)
        assert False in b.readings[first:] and r.fault in (None, "loop_stuck_occupied")
    assert 0 <= r.open_s <= r.total_s


def test_with_the_simulated_lane():
    lane = Lane(arrival_gap_s=0.0, approach_s=0.02)
    barrier = SimBarrierDriver(SimBarrier(type="sim", travel_s=0.03, pass_s=0.05), lane)
    lane.add(Truck("29C12345"))
    assert lane.visible() is not None
    r = run_cycle(barrier, open_timeout_s=1, enter_timeout_s=1, clear_timeout_s=1, poll_s=0.005)
    assert (r.passed, r.fault) == (True, None)
    assert lane.passed == ["29C12345"] and lane.unsafe_closes == 0
    assert barrier.position() in ("moving", "closed") and not barrier.loop_occupied()
    assert r.open_s >= 0.03
