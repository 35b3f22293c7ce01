"""Frames-per-second meter shared by the frame sources."""

from __future__ import annotations

import time
from collections import deque


class FpsMeter:
    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._stamps: deque[float] = deque()
        self.count = 0  # frames ever ticked

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.count += 1
        self._stamps.append(now)
        while self._stamps and now - self._stamps[0] > self.window_s:
            self._stamps.popleft()

    def fps(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        recent = [t for t in self._stamps if now - t <= self.window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)
