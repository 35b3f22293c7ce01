"""Randomised safety run of the barrier state machine in virtual time.

A :class:`VirtualArm` models the arm (travel time, limit switches, stuck arm, device outages) and the
loop (vehicles as time intervals). :func:`run_safety_cycles` drives the real
:class:`~edge.barrier.safety.BarrierController` through thousands of passages with random loop
timing, tailgaters, no-shows, loop flicker, vehicles that stay, stuck arms and unreachable devices,
and counts what must never happen:

- ``unsafe_closes``: a close commanded while the loop read occupied, or the arm reaching "closed"
  after the loop was seen occupied during its travel without being sent back up;
- ``missed_closes``: a cycle that ends with the arm up (or not commanded down) and no fault reported.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from edge.barrier.base import BarrierUnavailable, position_from_limits
from edge.barrier.config import SafetyConfig
from edge.barrier.safety import BarrierController, State


@dataclass
class VirtualArm:
    """Implements the Barrier protocol against a virtual clock (``now`` is set by the harness)."""

    travel_s: float = 2.0
    now: float = 0.0
    target: str = "closed"
    moved_at: float = -1e9
    start_pos: str = "closed"
    stuck_until: float = -1.0
    down_from: float = -1.0
    down_until: float = -1.0
    vehicles: list[tuple[float, float]] = field(default_factory=list)
    unsafe_closes: int = 0
    commands: int = 0
    _hazard: bool = False

    def _arm(self) -> str:
        if self.now - self.moved_at >= self.travel_s:
            if self.target == "closed" and self._hazard:
                self.unsafe_closes += 1  # came down on a vehicle seen during the travel
                self._hazard = False
            return self.target
        return "moving"

    def _occupied(self) -> bool:
        return any(a <= self.now < b for a, b in self.vehicles)

    def _check_up(self) -> None:
        if self.down_from <= self.now < self.down_until:
            raise BarrierUnavailable("virtual PLC unreachable")

    def open(self) -> None:
        self._check_up()
        self.commands += 1
        if self.now < self.stuck_until:
            return
        self._hazard = False
        if self.target != "open":
            self.start_pos, self.target, self.moved_at = self._arm(), "open", self.now

    def close(self) -> None:
        self._check_up()
        self.commands += 1
        if self._occupied():
            self.unsafe_closes += 1
        if self.now < self.stuck_until:
            return
        if self.target != "closed":
            self.start_pos, self.target, self.moved_at = self._arm(), "closed", self.now

    def position(self) -> str:
        self._check_up()
        arm = self._arm()
        return position_from_limits(arm == "open", arm == "closed")

    def loop_occupied(self) -> bool:
        self._check_up()
        occupied = self._occupied()
        if occupied and self.target == "closed" and self._arm() == "moving":
            self._hazard = True
        return occupied

    def fault_code(self) -> int:
        return 0

    def release(self) -> None:
        """Nothing to free."""


def run_safety_cycles(cycles: int = 10_000, seed: int = 1, *, cfg: SafetyConfig | None = None,
                      travel_s: float = 2.0, fault_rate: float = 0.05,
                      controller_cls: type[BarrierController] = BarrierController) -> dict[str, Any]:
    cfg = cfg or SafetyConfig(open_timeout_s=6, close_timeout_s=6, enter_timeout_s=20, clear_timeout_s=120,
                              clear_settle_s=0.5, poll_s=0.05)
    rng = random.Random(seed)
    arm = VirtualArm(travel_s=travel_s)
    events: list[str] = []
    ctl = controller_cls(arm, cfg, on_event=lambda kind, data: events.append(kind), clock=lambda: arm.now)
    ctl.power_up(arm.now)
    counts = {"passed": 0, "no_vehicle": 0, "reversed": 0, "faults": 0, "missed_closes": 0, "tailgaters": 0,
              "stuck_arm": 0, "device_outages": 0, "flickers": 0, "long_stays": 0}
    step = cfg.poll_s

    def run_until(t_end: float) -> None:
        while arm.now < t_end:
            arm.now += step
            ctl.tick(arm.now)

    for _ in range(cycles):
        events.clear()
        t = arm.now
        arm.vehicles = [v for v in arm.vehicles if v[1] > t]
        scenario = rng.random()
        enter = t + rng.uniform(0.5, travel_s + 5)
        stay = rng.uniform(0.3, 8)
        if scenario < 0.08:  # no-show
            pass
        elif scenario < 0.08 + fault_rate / 5:  # a truck that breaks down on the loop
            counts["long_stays"] += 1
            arm.vehicles.append((enter, enter + cfg.clear_timeout_s + rng.uniform(1, 30)))
        else:
            arm.vehicles.append((enter, enter + stay))
            if rng.random() < 0.15:  # a tailgater that rolls onto the loop while the arm comes down
                counts["tailgaters"] += 1
                gap = rng.uniform(cfg.clear_settle_s, cfg.clear_settle_s + travel_s + 0.3)
                arm.vehicles.append((enter + stay + gap, enter + stay + gap + rng.uniform(0.5, 4)))
            if rng.random() < 0.05:  # loop flicker: a short false clear in the middle of a truck
                counts["flickers"] += 1
                mid = enter + stay / 2
                arm.vehicles[-1] = (enter, mid)
                arm.vehicles.append((mid + rng.uniform(0.01, 0.3), enter + stay))
        if rng.random() < fault_rate:
            if rng.random() < 0.5:
                counts["stuck_arm"] += 1
                arm.stuck_until = t + rng.uniform(1, cfg.open_timeout_s * 3)
            else:
                counts["device_outages"] += 1
                arm.down_from = t + rng.uniform(0, 10)
                arm.down_until = arm.down_from + rng.uniform(0.2, 8)
        ctl.request_passage(cycle=_)
        last_vehicle = max([b for _a, b in arm.vehicles] + [arm.now])
        deadline = last_vehicle + cfg.clear_settle_s + cfg.close_timeout_s * 3 + cfg.enter_timeout_s + travel_s * 4 + 30
        while arm.now < deadline:
            run_until(arm.now + 1)
            idle = ctl.state == State.CLOSED and not ctl.busy and arm.position() == "closed"
            if idle and not any(b > arm.now for _a, b in arm.vehicles):
                break
        faulted = "fault" in events
        counts["faults"] += faulted
        counts["passed"] += events.count("passed")
        counts["no_vehicle"] += events.count("no_vehicle")
        counts["reversed"] += events.count("reversed")
        if not faulted and (ctl.state != State.CLOSED or arm.position() != "closed"):
            counts["missed_closes"] += 1
        if ctl.state == State.FAULT:  # a technician fixes the arm before the next truck
            arm.stuck_until = arm.down_until = -1
            arm.vehicles = []
            run_until(arm.now + cfg.close_timeout_s * 2 + travel_s + 1)
    return {"cycles": cycles, "unsafe_closes": arm.unsafe_closes, "virtual_hours": round(arm.now / 3600, 1),
            "commands": arm.commands} | counts
