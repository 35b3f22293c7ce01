"""The barrier safety state machine, driven in virtual time against a modelled arm and loop."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from edge.barrier.config import SafetyConfig
from edge.barrier.safety import BarrierController, State, run_safety_cycles
from edge.barrier.safety_run import VirtualArm

CFG = SafetyConfig(open_timeout_s=5, close_timeout_s=5, enter_timeout_s=10, clear_timeout_s=60, clear_settle_s=0.5,
                   poll_s=0.05)


class Rig:
    def __init__(self, cfg: SafetyConfig = CFG, travel_s: float = 1.0, arm_open: bool = False,
                 vehicles: list[tuple[float, float]] | None = None):
        self.arm = VirtualArm(travel_s=travel_s, vehicles=list(vehicles or []))
        if arm_open:
            self.arm.target = "open"
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ctl = BarrierController(self.arm, cfg, on_event=lambda k, d: self.events.append((k, d)),
                                     clock=lambda: self.arm.now)
        self.ctl.power_up(self.arm.now)

    def run(self, seconds: float) -> None:
        end = self.arm.now + seconds
        while self.arm.now < end:
            self.arm.now += 0.05
            self.ctl.tick(self.arm.now)

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events if k != "request_done"]

    def vehicle(self, enter_in: float, stay: float) -> None:
        self.arm.vehicles.append((self.arm.now + enter_in, self.arm.now + enter_in + stay))


def test_a_passage_opens_waits_for_the_vehicle_and_closes_behind_it() -> None:
    r = Rig()
    r.vehicle(2.0, 3.0)
    req = r.ctl.request_passage(plate="29C12345", permit_id="p1")
    r.run(12)
    assert r.kinds() == ["power_up", "opened", "passed", "closed"]
    assert req.done.is_set() and req.result["ok"] and req.result["vehicle_seen"]
    assert req.result["open_s"] == pytest.approx(1.0, abs=0.11)
    assert r.ctl.state == State.CLOSED and r.arm.position() == "closed" and r.arm.unsafe_closes == 0
    passed = dict(r.events)["passed"]
    assert passed["plate"] == "29C12345" and passed["permit_id"] == "p1"


def test_a_vehicle_under_the_closing_arm_sends_it_back_up() -> None:
    r = Rig()
    r.vehicle(1.5, 1.0)  # first truck
    r.vehicle(1.5 + 1.0 + 0.5 + 0.3, 1.0)  # a second one rolls in while the arm comes down
    r.ctl.request_passage(plate="29C12345")
    r.run(15)
    kinds = r.kinds()
    assert kinds[:4] == ["power_up", "opened", "passed", "reversed"]
    assert "tailgate" in kinds and kinds[-1] == "closed"
    assert kinds.count("passed") == 1  # the follower is not counted as the permitted truck
    assert r.arm.unsafe_closes == 0


def test_no_vehicle_closes_after_the_enter_timeout() -> None:
    r = Rig()
    req = r.ctl.request_passage(plate="29C12345")
    r.run(CFG.enter_timeout_s + 5)
    assert r.kinds() == ["power_up", "opened", "no_vehicle", "closed"]
    assert req.result["ok"] and not req.result["vehicle_seen"]


def test_a_stuck_arm_is_a_fault_and_is_closed_once_it_moves(caplog: pytest.LogCaptureFixture) -> None:
    r = Rig()
    r.arm.stuck_until = 8.0
    req = r.ctl.request_passage(plate="29C12345")
    with caplog.at_level(logging.ERROR):
        r.run(20)
    kinds = r.kinds()
    assert kinds[:2] == ["power_up", "fault"] and dict(r.events)["fault"]["fault"] == "open_timeout"
    assert req.done.is_set() and not req.result["ok"] and req.result["why"] == "open_timeout"
    assert "fault_cleared" in kinds and r.ctl.state == State.CLOSED and r.arm.position() == "closed"
    assert sum(rec.message == "barrier_fault" for rec in caplog.records) == 1


def test_fault_policy_open_raises_the_arm() -> None:
    r = Rig(CFG.model_copy(update={"on_fault": "open"}))
    r.arm.down_from, r.arm.down_until = 0.5, 3.0
    r.run(6)
    assert "fault" in r.kinds() and dict(r.events)["fault"]["fault"] == "device_unavailable"
    assert "device_back" in r.kinds()
    assert r.ctl.state == State.FAULT and r.arm.position() == "open"


def test_a_vehicle_that_stays_on_the_loop_is_a_fault_and_the_arm_stays_up() -> None:
    r = Rig(CFG.model_copy(update={"clear_timeout_s": 5}))
    r.vehicle(1.5, 30)
    r.ctl.request_passage(plate="29C12345")
    r.run(20)
    assert dict(r.events)["fault"]["fault"] == "loop_stuck_occupied"
    assert r.arm.position() == "open" and r.arm.unsafe_closes == 0
    r.run(20)  # the truck is towed away: the arm comes down
    assert r.arm.position() == "closed" and r.ctl.state == State.CLOSED


def test_device_outage_is_reported_once_and_recovers() -> None:
    r = Rig()
    r.arm.down_from, r.arm.down_until = 0.2, 4.0
    r.run(10)
    assert r.kinds().count("fault") == 1 and r.kinds().count("device_back") == 1
    assert r.kinds()[-1] == "fault_cleared" and r.ctl.state == State.CLOSED


def test_power_up_with_the_arm_open_over_a_vehicle_waits_then_closes() -> None:
    arm_open = Rig(arm_open=True)
    assert arm_open.ctl.state == State.CLOSING
    r = Rig(arm_open=True, vehicles=[(0, 3)])
    assert r.ctl.state == State.ON_LOOP and r.arm.unsafe_closes == 0
    r.run(8)
    assert r.arm.position() == "closed" and r.arm.unsafe_closes == 0


def test_power_up_open_holds_the_arm_until_a_manual_close() -> None:
    r = Rig(CFG.model_copy(update={"power_up": "open"}))
    r.run(3)
    assert r.ctl.state == State.HELD_OPEN and r.arm.position() == "open"
    refused = r.ctl.request_passage(plate="29C12345")
    r.run(1)
    assert refused.done.is_set() and not refused.result["ok"] and "held_open" in refused.result["why"]
    close = r.ctl.request("close", operator="tech.le", why="end of incident")
    r.run(3)
    assert close.result["ok"] and r.arm.position() == "closed"
    manual = dict(r.events)["manual_close"]
    assert manual["operator"] == "tech.le" and manual["why"] == "end of incident"


def test_manual_open_then_close_never_closes_on_a_vehicle() -> None:
    r = Rig()
    r.ctl.request("open", operator="tech.le", why="oversize load")
    r.run(2)
    assert r.arm.position() == "open" and r.ctl.state == State.HELD_OPEN
    r.vehicle(0.5, 4)
    r.run(1)
    r.ctl.request("close", operator="tech.le", why="done")
    r.run(2)
    assert r.arm.position() == "open"  # still a truck under it
    r.run(6)
    assert r.arm.position() == "closed" and r.arm.unsafe_closes == 0


def test_test_cycle_reports_timings() -> None:
    r = Rig(travel_s=1.5)
    req = r.ctl.request("test", operator="tech.le", why="monthly check")
    r.run(6)
    assert req.result["ok"]
    assert req.result["open_s"] == pytest.approx(1.5, abs=0.11) and req.result["close_s"] == pytest.approx(1.5, abs=0.11)


def test_ten_thousand_style_run_has_no_unsafe_or_missed_closes() -> None:
    out = run_safety_cycles(2000, seed=7)
    assert out["unsafe_closes"] == 0 and out["missed_closes"] == 0
    # the run really exercised the dangerous cases
    assert out["reversed"] > 50 and out["faults"] > 20 and out["tailgaters"] > 100 and out["no_vehicle"] > 50


class NoReversal(BarrierController):
    def _on_closing(self, now: float) -> None:
        if self.position == "closed":
            super()._on_closing(now)
        elif now - self._since > self.cfg.close_timeout_s:
            self._to_fault(now, "close_timeout", "")


class NoClose(BarrierController):
    def _on_closed(self, now: float) -> None:
        """Broken on purpose: no check that the arm really is down."""

    def _begin_close(self, now: float, reason: str) -> None:
        self._enter(State.CLOSED, now)
        if self._current is not None:
            self._finish(self._current, ok=True)


def test_the_safety_run_catches_a_controller_that_does_not_reverse() -> None:
    assert run_safety_cycles(500, seed=3, controller_cls=NoReversal)["unsafe_closes"] > 0


def test_the_safety_run_catches_a_controller_that_forgets_to_close() -> None:
    assert run_safety_cycles(200, seed=3, controller_cls=NoClose)["missed_closes"] > 0
