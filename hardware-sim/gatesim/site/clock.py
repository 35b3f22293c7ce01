"""Simulated time and the runner's scheduler, which measures how far behind schedule it runs.

Simulated time runs ``speed`` times faster than the wall clock from the start of the run. Every
scheduled action (a truck arriving, an agency confirming) has a due time; the lag of an action is how
late it started, in real seconds: a runner that keeps up shows lags of milliseconds, one that falls
behind shows lags that grow over the run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class SimClock:
    def __init__(self, speed: float, start: float | None = None):
        if not 0 < speed <= 100_000:
            raise ValueError("speed must be within (0, 100000]")
        self.speed = speed
        self.t0 = time.monotonic() if start is None else start
        self.wall0 = time.time()

    def now(self) -> float:
        """Simulated seconds since the start."""
        return (time.monotonic() - self.t0) * self.speed

    def real_at(self, sim_s: float) -> float:
        """The monotonic time at which simulated second ``sim_s`` falls."""
        return self.t0 + sim_s / self.speed

    def real_s(self, sim_s: float) -> float:
        """A simulated duration in real seconds."""
        return sim_s / self.speed


class Scheduler:
    """Runs callables at simulated times on a small thread pool; records each one's lag."""

    def __init__(self, clock: SimClock, workers: int = 8):
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim")
        self._stop = threading.Event()
        self.lags: list[float] = []  # real seconds late, per action started
        self.errors = 0
        self.pending = 0
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def at(self, sim_s: float, fn: Callable[..., Any], *args: Any) -> None:
        due = self.clock.real_at(sim_s)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), fn, args))
            self.pending += 1
            self._cond.notify()

    def after(self, sim_delay_s: float, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self.clock.now() + sim_delay_s, fn, *args)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if not self._heap:
                    self._cond.wait(0.5)
                    continue
                due = self._heap[0][0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, 0.5))
                    continue
                due, _, fn, args = heapq.heappop(self._heap)
            self._pool.submit(self._call, due, fn, args)

    def _call(self, due: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.lags.append(max(0.0, time.monotonic() - due))
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - one failed action must not stop the run; it is counted and logged
            self.errors += 1
            log.exception("sim_action_failed", extra={"action": getattr(fn, "__name__", str(fn))})
        finally:
            with self._cond:
                self.pending -= 1

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)
