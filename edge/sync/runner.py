"""The daemon's sync thread: a round every ``interval_s``, sooner when asked (the live channel's "pull
now"), later after failures (capped exponential backoff with jitter). The gate never waits for it."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from edge.localstore import StoreError
from edge.sync.client import SyncClient, SyncResult

log = logging.getLogger(__name__)


def next_delay(interval_s: float, failures: int, backoff_max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to the next round: ``interval_s`` after a success; after ``failures`` failed rounds in a row,
    ``interval_s * 2**(failures-1)`` capped at ``backoff_max_s`` (never below ``interval_s``), with ±20 %
    jitter so that the site's boxes do not all come back at the same instant."""
    if failures <= 0:
        return interval_s
    base = max(interval_s, min(backoff_max_s, interval_s * 2 ** min(failures - 1, 30)))
    return base * (rng or random).uniform(0.8, 1.2)


class SyncRunner:
    def __init__(self, client: SyncClient, interval_s: float, backoff_max_s: float, *,
                 on_round: Callable[[SyncResult | None], None] | None = None):
        self.client = client
        self.on_round = on_round
        self.interval_s = interval_s
        self.backoff_max_s = backoff_max_s
        self.now = threading.Event()  # set by trigger(): run a round at once
        self.stop_event = client.stop
        self.failures = 0
        self.rounds = 0
        self.triggers = 0
        self.last_result: SyncResult | None = None
        self.next_at: float | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- control

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        """Ask for a round now (thread-safe; several requests before the round starts make one round)."""
        self.triggers += 1
        self.now.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; an HTTP request in flight ends by its own timeout. True when it ended."""
        self.stop_event.set()
        self.now.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.client.cfg.timeout_s + 5)
            alive = self._thread.is_alive()
            if alive:
                log.warning("sync_thread_still_running")
            else:
                self.client.close()
            return not alive
        self.client.close()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -------------------------------------------------------------- loop

    def _run(self) -> None:
        delay = 0.0  # first round at once: fresh permits and an empty backlog as soon as possible
        while not self.stop_event.is_set():
            self.next_at = time.time() + delay
            self.now.wait(delay)
            if self.stop_event.is_set():
                break
            self.now.clear()
            try:
                result = self.client.sync_once()
            except Exception:  # never let the thread die: the next round tries again
                log.exception("sync_round_crashed")
                result = None
            self.rounds += 1
            self.last_result = result
            if self.on_round is not None:
                try:
                    self.on_round(result)
                except Exception:
                    log.exception("sync_round_hook_failed")
            if result is not None and result.kind == "stopped":
                break
            if result is not None and result.ok:
                self.failures = 0
            else:
                self.failures += 1
            delay = next_delay(self.interval_s, self.failures, self.backoff_max_s)
        self.next_at = None

    # -------------------------------------------------------------- figures

    def sync_age(self) -> float:
        """Seconds since the last successful round (by this thread or gatectl), -1 when never."""
        try:
            return self.client.state.age_s()
        except StoreError:
            return -1.0

    def backlog(self) -> int:
        return self.client.store.outbox.backlog()

    def status(self) -> dict[str, Any]:
        r = self.last_result
        return {
            "running": self.running, "interval_s": self.interval_s, "rounds": self.rounds,
            "failures_in_a_row": self.failures, "triggers": self.triggers,
            "next_round_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.next_at)) if self.next_at else None,
            "last_round": r.as_dict() if r else None,
        }
