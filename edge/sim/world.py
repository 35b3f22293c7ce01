"""A lane in front of one barrier: trucks arrive, wait at the camera, drive over the loop when the arm opens.

The simulated camera, reader and barrier all look at the same :class:`Lane`, so the daemon's pipeline
runs end to end without hardware. Time is the wall clock; everything is lazily advanced on each call.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Truck:
    plate: str
    note: str = ""
    read_as: str | None = None  # what the camera makes of the plate (dirt, glare), if not the plate itself
    turn_away_s: float = 3.0  # how long a refused truck waits before leaving the lane


class Lane:
    def __init__(self, *, arrival_gap_s: float = 0.5, approach_s: float = 0.2, pass_s: float = 0.3,
                 travel_s: float = 0.2, clock=time.monotonic):
        self.clock = clock
        self.arrival_gap_s = arrival_gap_s
        self.approach_s = approach_s
        self.pass_s = pass_s
        self.travel_s = travel_s
        self._lock = threading.Lock()
        self._waiting: deque[Truck] = deque()
        self._current: Truck | None = None
        self._since = clock()
        self._on_loop_until: float | None = None
        self._loop_from: float | None = None
        self._arm_target = "closed"
        self._arm_changed = clock() - 3600.0  # at rest (closed) from the start
        self.passed: list[str] = []
        self.turned_away: list[str] = []
        self.unsafe_closes = 0

    def add(self, truck: Truck) -> None:
        with self._lock:
            self._waiting.append(truck)

    # ---------------------------------------------------------------- state

    def _advance(self, now: float) -> None:
        if self._current is None and self._waiting and now - self._since >= self.arrival_gap_s:
            self._current = self._waiting.popleft()
            self._since = now
        if self._current is not None and self._loop_from is None:
            arm_open = self._arm_target == "open" and now - self._arm_changed >= self.travel_s
            if arm_open:
                self._loop_from = now + self.approach_s
                self._on_loop_until = self._loop_from + self.pass_s
            elif now - self._since >= self._current.turn_away_s and self._arm_target == "closed":
                self.turned_away.append(self._current.plate)
                self._current, self._since = None, now
        if self._on_loop_until is not None and now >= self._on_loop_until:
            assert self._current is not None
            self.passed.append(self._current.plate)
            self._current, self._since = None, now
            self._loop_from = self._on_loop_until = None

    def visible(self) -> Truck | None:
        """The truck in front of the camera (waiting or driving through), if any."""
        with self._lock:
            self._advance(self.clock())
            return self._current

    def loop_occupied(self) -> bool:
        with self._lock:
            now = self.clock()
            self._advance(now)
            return self._loop_from is not None and self._loop_from <= now

    def set_arm(self, target: str) -> None:
        with self._lock:
            now = self.clock()
            self._advance(now)
            if target == "closed" and self._loop_from is not None and self._loop_from <= now:
                self.unsafe_closes += 1
            self._arm_target, self._arm_changed = target, now

    def arm_position(self) -> str:
        with self._lock:
            moving = self.clock() - self._arm_changed < self.travel_s
            return ("opening" if self._arm_target == "open" else "closing") if moving else self._arm_target

    def idle(self) -> bool:
        with self._lock:
            self._advance(self.clock())
            return self._current is None and not self._waiting
