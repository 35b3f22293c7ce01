"""The gate pipeline: frame → read → decision → event committed → barrier/LED → passage recorded.

The decision's event is committed (fsynced) before the barrier is told to move; when it cannot be
committed, the barrier stays closed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.barrier.base import Barrier
from edge.barrier.cycle import CycleResult, run_cycle
from edge.camera.base import FrameSource
from edge.config.models import GateConfig, SiteConfig
from edge.decision import Decision, DecisionEngine, Reason
from edge.ledboard.base import LedBoard
from edge.ledboard.messages import decision_lines, queue_lines
from edge.localstore import LocalStore, StoreError
from edge.localstore.gatestate import GateState
from edge.localstore.outbox import insert_event
from edge.metrics import GateMetrics
from edge.plate.reader import PlateReader
from edge.plate.text import InvalidPlate, normalize
from edge.plate.types import PlateRead

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]

#: Refusals that tell the driver to wait ("… - CHỜ"): a truck waiting in view is decided again once
#: per ``repeat_read_s`` (not on every frame), so that waiting can end in a passage.
WAIT_REASONS = frozenset({Reason.YARD_FULL, Reason.STORE_UNAVAILABLE})


class GateRuntime:
    def __init__(self, cfg: GateConfig, site: SiteConfig, store: LocalStore, camera: FrameSource,
                 reader: PlateReader, barrier: Barrier, board: LedBoard, metrics: GateMetrics,
                 listener: Listener | None = None, stop: Callable[[], bool] = lambda: False):
        self.cfg = cfg
        self.site = site
        self.gate = site.gate(cfg.gate_id)
        self.store = store
        self.camera = camera
        self.reader = reader
        self.barrier = barrier
        self.board = board
        self.metrics = metrics
        self.engine = DecisionEngine(store, self.gate, cfg.decision)
        self.listener = listener or (lambda kind, data: None)
        self.stop = stop
        self.tz = ZoneInfo(site.timezone)
        self.heartbeat = time.monotonic()
        self.last_decision: Decision | None = None
        self.last_cycle: CycleResult | None = None
        self._recent: dict[str, float] = {}
        self._decided: dict[str, tuple[float, Reason]] = {}  # per plate key: when decided, and why
        self._last_frame_ts = 0.0

    # ---------------------------------------------------------------- loop body

    def step(self) -> Decision | None:
        """Look at the newest frame once; act on a new vehicle's read. Returns the decision taken, if any."""
        self.heartbeat = time.monotonic()
        frame = self.camera.latest()
        if frame is None or frame.ts == self._last_frame_ts:
            return None
        self._last_frame_ts = frame.ts
        read = self.reader.read(frame)
        if read is None:
            return None
        self.metrics.raw_reads.inc()
        if self._repeat(read):
            return None
        decision = self.handle(read)
        self._decided[self._key(read)] = (time.monotonic(), decision.reason)
        return decision

    @staticmethod
    def _key(read: PlateRead) -> str:
        try:
            return normalize(read.text).text
        except InvalidPlate:
            return read.text

    def _repeat(self, read: PlateRead) -> bool:
        key = self._key(read)
        now = time.monotonic()
        self._recent = {k: t for k, t in self._recent.items() if now - t < self.cfg.decision.repeat_read_s}
        self._decided = {k: v for k, v in self._decided.items() if k in self._recent}
        seen_recently = key in self._recent
        self._recent[key] = now  # last sighting: a truck standing in view never counts twice
        return seen_recently and not self._override_waiting(key) and not self._worth_deciding_again(key, read, now)

    def _worth_deciding_again(self, key: str, read: PlateRead, now: float) -> bool:
        """A vehicle still in view is decided again only where the answer may now differ: its read is
        now confident enough where the last one was not, or it was told to wait and has waited."""
        last = self._decided.get(key)
        if last is None:
            return False
        at, reason = last
        if reason == Reason.LOW_CONFIDENCE:
            return read.confidence >= self.cfg.decision.min_confidence
        if reason == Reason.FUZZY_LOW_CONFIDENCE:
            return read.confidence >= self.cfg.decision.fuzzy_min_confidence
        return reason in WAIT_REASONS and now - at >= self.cfg.decision.repeat_read_s

    def _override_waiting(self, plate: str) -> bool:
        try:
            return self.store.state.active_override(plate) is not None
        except StoreError:
            return False

    # ---------------------------------------------------------------- one vehicle

    def handle(self, read: PlateRead) -> Decision:
        self.metrics.reads.inc()
        snapshot = self._save_snapshot(read)
        try:
            decision = self.engine.decide(read)
        except StoreError as exc:
            log.error("decision_store_error", extra={"error": str(exc)})
            decision = Decision(False, Reason.STORE_UNAVAILABLE, read.text, confidence=read.confidence,
                                detail={"error": str(exc)})
        decision = self._commit(read, decision, snapshot)
        self.last_decision = decision
        self.metrics.decisions.labels(reason=str(decision.reason), allow=str(decision.allow).lower()).inc()
        self.board.show(decision_lines(decision.allow, decision.reason, decision.plate or read.text))
        self.listener("decision", decision.as_dict())
        if decision.allow:
            self._pass(decision)
        return decision

    def _save_snapshot(self, read: PlateRead) -> str | None:
        if not read.snapshot_jpeg:
            return None
        try:
            return self.store.snapshots.save(read.snapshot_jpeg)
        except StoreError as exc:
            self.metrics.store_faults.labels(kind="snapshot").inc()
            log.warning("snapshot_not_kept", extra={"error": str(exc)})
            return None

    def _commit(self, read: PlateRead, decision: Decision, snapshot: str | None) -> Decision:
        payload = decision.as_dict() | {"gate": self.gate.id, "read_ts": read.ts, "box": read.box,
                                        "source": read.source}
        try:
            with self.store.transaction() as conn:
                insert_event(conn, "decision", plate=decision.plate or read.text[:64], reason=str(decision.reason),
                             payload=payload, snapshot=snapshot)
                if decision.alert:
                    insert_event(conn, "alert", plate=decision.plate, reason="watchlist",
                                 payload={"alert": decision.alert, "gate": self.gate.id}, snapshot=snapshot)
                if decision.override:
                    GateState.use_override(conn, decision.override.id)
        except StoreError as exc:
            self.metrics.store_faults.labels(kind="event").inc()
            log.error("decision_not_recorded", extra={"error": str(exc), "plate": decision.plate})
            if decision.allow:
                return dataclasses.replace(decision, allow=False, reason=Reason.STORE_UNAVAILABLE,
                                           detail=decision.detail | {"error": str(exc)})
        return decision

    def _pass(self, decision: Decision) -> None:
        result = run_cycle(self.barrier, stop=self.stop)
        self.last_cycle = result
        self.metrics.barrier_cycles.inc()
        if result.fault:
            self.metrics.barrier_faults.labels(fault=result.fault).inc()
        queue_number = None
        try:
            with self.store.transaction() as conn:
                insert_event(conn, "barrier", plate=decision.plate, reason=result.fault or "cycle_ok",
                             payload={"passed": result.passed, "open_s": round(result.open_s, 3),
                                      "total_s": round(result.total_s, 3), "gate": self.gate.id})
                if result.passed and decision.plate:
                    GateState.record_passage(conn, decision.plate, decision.permit_id)
                    if self.gate.yard:
                        GateState.change_occupancy(conn, self.gate.yard, 1 if self.gate.direction == "in" else -1)
                    if self.gate.assigns_queue_number:
                        day = datetime.now(self.tz).date().isoformat()
                        queue_number = GateState.issue_queue_number(conn, decision.plate, decision.trip_id, day)
                    insert_event(conn, "passage", plate=decision.plate, reason=str(decision.reason),
                                 payload={"permit_id": decision.permit_id, "trip_id": decision.trip_id,
                                          "records": self.gate.records, "queue_number": queue_number,
                                          "gate": self.gate.id})
        except StoreError as exc:
            self.metrics.store_faults.labels(kind="event").inc()
            log.error("passage_not_recorded", extra={"error": str(exc), "plate": decision.plate})
        if queue_number is not None and decision.plate:
            self.board.show(queue_lines(queue_number, decision.plate))
        self.listener("cycle", {"plate": decision.plate, "passed": result.passed, "fault": result.fault,
                                "queue_number": queue_number, "total_s": round(result.total_s, 3)})
