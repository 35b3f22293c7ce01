"""``store``: fsynced outbox appends, and one large permit delta on a store that already holds permits.

(a) ``Outbox.append`` of decision-like events, each its own committed transaction (WAL with
``synchronous=FULL``, as the store opens it), so every event is fsynced before the next starts.
(b) ``permits.apply_delta`` with ``--delta`` permits (a fifth of them updates of cached permits, the rest
new), validation included, on a store pre-filled with ``--base-permits``, while another thread looks
plates up every 5 ms (``lookup_max_ms_during_delta``: the longest a decision would have waited), in a
second delta timed as ``permit_delta_with_lookups_s``.
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import positive_int
from benchmarks.data import fill_permits, permit, permit_chunks, plate, utc_now
from benchmarks.stats import latency_ms
from edge.localstore import LocalStore

log = logging.getLogger("benchmarks")

GOAL_EVENTS_PER_S = 500.0
GOAL_DELTA_S = 2.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=positive_int, default=5_000, help="fsynced outbox appends (default 5,000)")
    p.add_argument("--delta", type=positive_int, default=100_000, help="permits in the timed delta (default 100,000)")
    p.add_argument("--base-permits", type=positive_int, default=1_000_000,
                   help="permits in the store before the delta (default 1,000,000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--dir", type=Path, default=None, help="folder for the temporary stores (default: system temp)")


def _event_payload(rng: random.Random, i: int, text: str) -> dict[str, Any]:
    """About the size of a real decision event's payload."""
    return {"allow": True, "reason": "permit_ok", "read": text, "plate": text, "confidence": round(rng.random(), 4),
            "match": "exact", "substitutions": 0, "permit_id": f"P{i:08d}", "trip_id": f"T{i:08d}", "detail": {},
            "gate": "kb2_in", "read_ts": time.time(), "box": [203, 130, 430, 70], "source": "bench"}


def bench_outbox(folder: Path, n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    store = LocalStore(folder / "outbox.db", folder / "snapshots")
    samples: list[int] = []
    clock = time.perf_counter_ns
    try:
        started = clock()
        for i in range(n):
            text = plate(rng)
            t = clock()
            store.outbox.append("decision", plate=text, reason="permit_ok", payload=_event_payload(rng, i, text))
            samples.append(clock() - t)
        total_s = (clock() - started) / 1e9
        stored = store.outbox.backlog()
    finally:
        store.close()
    lat = latency_ms(samples)
    return {"events": n, "events_stored": stored, "events_per_s": round(n / total_s, 1),
            "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"],
            "samples": {"outbox_append_ms": [round(v / 1e6, 4) for v in samples]}}


def _delta(base: int, size: int, seed: int, start: int | None = None) -> list[dict[str, Any]]:
    """``size`` upserts: a fifth re-issue cached permits (new validity), the rest are new permits
    (numbered from ``start``, by default right after the cached ones)."""
    now = utc_now()
    rng = random.Random(seed + 7)
    updates = min(base, size // 5)
    rows = [permit(rng, i, plate(rng), now) for i in rng.sample(range(base), updates)]
    rows += next(permit_chunks(size - updates, size, seed=seed + 11, now=now, start=base if start is None else start),
                 [])
    return rows


class LookupProbe:
    """Looks a plate up every few milliseconds from another thread, as the gate would while a delta is
    applied: the longest lookup tells how long a decision would have waited for the store."""

    def __init__(self, store: LocalStore, plate_text: str, every_s: float = 0.005):
        self.store, self.plate, self.every_s = store, plate_text, every_s
        self.samples_ns: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lookup-probe", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            t = time.perf_counter_ns()
            self.store.permits.by_plate(self.plate)
            self.samples_ns.append(time.perf_counter_ns() - t)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def max_ms(self) -> float:
        return round(max(self.samples_ns, default=0) / 1e6, 3)


def bench_delta(folder: Path, base: int, size: int, seed: int) -> dict[str, Any]:
    store = LocalStore(folder / "permits.db", folder / "snapshots")
    try:
        started = time.perf_counter()
        cursor, _ = fill_permits(store, base, seed=seed, now=utc_now())
        log.info("filled %d permits in %.1f s", base, time.perf_counter() - started)
        # A box's store between deltas is checkpointed (its checkpointer thread runs every second); right
        # after a bulk fill it is not, and the delta would be timed against the copying of the fill.
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = _delta(base, size, seed)
        log.info("applying a delta of %d permits", len(rows))
        t = time.perf_counter()
        res = store.permits.apply_delta(rows, [], cursor=cursor + 1)
        delta_s = time.perf_counter() - t
        # A second delta of the same size while another thread looks a plate up every 5 ms, as decisions
        # would: how long a decision waits, and what that traffic costs the delta.
        rows2 = _delta(base, size, seed + 1, start=base + size)
        log.info("applying a second delta of %d permits with lookups running", len(rows2))
        probe = LookupProbe(store, rows2[-1]["plate"])
        probe.start()
        t = time.perf_counter()
        store.permits.apply_delta(rows2, [], cursor=cursor + 2)
        delta2_s = time.perf_counter() - t
        probe.stop()
        count = store.permits.count()
    finally:
        store.close()
    return {"base_permits": base, "delta_rows": len(rows), "delta_applied": res.applied,
            "delta_rejected": len(res.rejected), "permits_after": count, "permit_delta_s": round(delta_s, 3),
            "permit_delta_rows_per_s": round(len(rows) / delta_s, 1),
            "permit_delta_with_lookups_s": round(delta2_s, 3),
            "lookups_during_delta": len(probe.samples_ns), "lookup_max_ms_during_delta": probe.max_ms()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gate-bench-store-", dir=args.dir) as tmp:
        log.info("appending %d fsynced events", args.events)
        outbox = bench_outbox(Path(tmp), args.events, args.seed)
        delta = bench_delta(Path(tmp), args.base_permits, args.delta, args.seed)
    meets_outbox = outbox["events_per_s"] >= GOAL_EVENTS_PER_S
    meets_delta = delta["permit_delta_s"] <= GOAL_DELTA_S
    return {"benchmark": "store", **outbox, **delta,
            "goal_events_per_s": GOAL_EVENTS_PER_S, "goal_permit_delta_s": GOAL_DELTA_S,
            "meets_goal_events": meets_outbox, "meets_goal_delta": meets_delta,
            "meets_goal": meets_outbox and meets_delta}
