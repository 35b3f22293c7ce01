"""The gate pipeline: frame → read → decision → event committed → barrier passage → passage recorded.

The decision's event is committed (fsynced) before the barrier is asked to move; when it cannot be
committed, the barrier stays closed. The barrier itself is run by its own thread
(:class:`~edge.barrier.safety.BarrierController`); its events come back through a queue and are
recorded here, on the loop's thread, together with the LED board and speaker output.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.barrier.base import Barrier
from edge.barrier.safety import BarrierController
from edge.camera.base import FrameSource
from edge.config.models import GateConfig, SiteConfig
from edge.decision import Decision, DecisionEngine, Reason
from edge.barrier.commands import CommandQueue
from edge.ledboard.base import LedBoard, LedBoardError
from edge.ledboard.messages import (decision_lines, queue_call_lines, queue_call_speech, queue_lines,
                                    queue_speech)
from edge.ledboard.speaker import NullSpeaker, Speaker
from edge.localstore import LocalStore, StoreError
from edge.localstore.gatestate import GateState
from edge.localstore.outbox import insert_event
from edge.metrics import GateMetrics
from edge.plate.reader import PlateReader
from edge.plate.text import InvalidPlate, normalize
from edge.plate.types import PlateRead
from edge.sync.callstore import QueueCalls

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]

#: Refusals that mean "wait here", not "go away": the truck is decided again once per repeat_read_s.
RETRY_REASONS = frozenset({Reason.YARD_FULL, Reason.STORE_UNAVAILABLE})
#: Barrier events recorded in the outbox (the rest are internal bookkeeping).
RECORDED = frozenset({"power_up", "opened", "reversed", "tailgate", "closed", "no_vehicle", "fault", "fault_cleared",
                      "device_back", "manual_open", "manual_close"})
#: How often the loop looks for queue calls the sync received (one indexed read when there are none).
QUEUE_CALL_POLL_S = 0.25
MAX_UNRECORDED = 10_000


class GateRuntime:
    def __init__(self, cfg: GateConfig, site: SiteConfig, store: LocalStore, camera: FrameSource,
                 reader: PlateReader, barrier: Barrier, board: LedBoard, metrics: GateMetrics,
                 listener: Listener | None = None, stop: Callable[[], bool] = lambda: False,
                 speaker: Speaker | None = None):
        self.cfg = cfg
        self.site = site
        self.gate = site.gate(cfg.gate_id)
        self.store = store
        self.camera = camera
        self.reader = reader
        self.board = board
        self.speaker = speaker or NullSpeaker()
        self.metrics = metrics
        self.engine = DecisionEngine(store, self.gate, cfg.decision)
        self.listener = listener or (lambda kind, data: None)
        self.stop = stop
        self.tz = ZoneInfo(site.timezone)
        self.heartbeat = time.monotonic()
        self.last_decision: Decision | None = None
        self._barrier_events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        #: Barrier events that happened but could not be written (disk full, store fault): kept in order
        #: and written, late, as soon as the store takes writes again. Bounded, as memory is.
        self._unrecorded: deque[tuple[str, dict[str, Any]]] = deque()
        self._retry_held_at = 0.0
        self.controller = BarrierController(barrier, cfg.safety, on_event=lambda k, d: self._barrier_events.put((k, d)))
        self.commands = CommandQueue(store, self.controller)
        self._recent: dict[str, tuple[float, float, Reason]] = {}  # plate → (last seen, decided at, reason)
        self._last_frame_ts = 0.0
        self._loop_before = False
        self._board_down = False
        self.calls = QueueCalls(store.db)
        self._calls_due_at = 0.0
        self._calls_down = False

    def start(self) -> None:
        self.controller.start()
        self.drain()  # the power-up event first

    def shutdown(self) -> None:
        self.controller.stop()
        self.drain()
        if self._unrecorded:
            log.error("events_not_recorded_at_shutdown", extra={"count": len(self._unrecorded)})

    # ---------------------------------------------------------------- loop body

    def step(self) -> Decision | None:
        """One turn of the loop: record barrier events, run technician commands, act on a new vehicle."""
        self.heartbeat = time.monotonic()
        self.drain()
        self.commands.poll()
        self.announce_calls()
        if self.controller.busy:
            self._loop_before = True  # the loop is the passing truck's until the arm is down again
            return None  # one truck at a time through one barrier; the next is read when the arm is down
        self._watch_loop()
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
        return self.handle(read)

    def _watch_loop(self) -> None:
        """A vehicle pulling onto the loop at the closed barrier triggers a reader that can take it."""
        loop = self.controller.loop
        if loop and not self._loop_before:
            trigger = getattr(self.reader, "trigger", None)
            if trigger is not None:
                trigger(time.time())
                log.info("loop_trigger", extra={"gate": self.cfg.gate_id})
        self._loop_before = loop

    def settle(self, timeout: float = 10.0) -> bool:
        """Step until the barrier is idle and its events are recorded (tests, demo, shutdown)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.drain()
            if not self.controller.busy and self._barrier_events.empty():
                return True
            time.sleep(0.005)
        return False

    def _repeat(self, read: PlateRead) -> bool:
        """A read of a vehicle already decided: not decided again, unless a retry is due.

        A plate seen within ``repeat_read_s`` of its last sighting is the same vehicle. It is decided
        again only when an override now waits for it, when its refusal meant "wait" (yard full, store
        unavailable) and ``repeat_read_s`` has passed since, or when it was refused for a blurred read
        and this read is confident enough.
        """
        try:
            key = normalize(read.text).text
        except InvalidPlate:
            key = read.text
        now = time.monotonic()
        window = self.cfg.decision.repeat_read_s
        self._recent = {k: v for k, v in self._recent.items() if now - v[0] < window}
        seen = self._recent.get(key)
        if seen is None:
            self._recent[key] = (now, now, Reason.NO_PERMIT)
            return False
        _, decided_at, reason = seen
        self._recent[key] = (now, decided_at, reason)
        if self._override_waiting(key):
            return False
        if reason == Reason.LOW_CONFIDENCE:
            return read.confidence < self.cfg.decision.min_confidence
        if reason == Reason.FUZZY_LOW_CONFIDENCE:
            return read.confidence < self.cfg.decision.fuzzy_min_confidence
        return not (reason in RETRY_REASONS and now - decided_at >= window)

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
        decision, seq = self._commit(read, decision, snapshot)
        self._remember(read, decision)
        self.last_decision = decision
        self.metrics.decisions.labels(reason=str(decision.reason), allow=str(decision.allow).lower()).inc()
        self._show(decision_lines(decision.allow, decision.reason, decision.plate or read.text))
        self.listener("decision", decision.as_dict())
        if decision.allow:
            self.controller.request_passage(plate=decision.plate, permit_id=decision.permit_id,
                                            trip_id=decision.trip_id, reason=str(decision.reason), decision_seq=seq)
        return decision

    def _remember(self, read: PlateRead, decision: Decision) -> None:
        now = time.monotonic()
        for text in {read.text, decision.plate or read.text}:
            try:
                key = normalize(text).text
            except InvalidPlate:
                key = text
            self._recent[key] = (now, now, decision.reason)

    def _save_snapshot(self, read: PlateRead) -> str | None:
        if not read.snapshot_jpeg:
            return None
        try:
            return self.store.snapshots.save(read.snapshot_jpeg)
        except StoreError as exc:
            self.metrics.store_faults.labels(kind="snapshot").inc()
            log.warning("snapshot_not_kept", extra={"error": str(exc)})
            return None

    def _commit(self, read: PlateRead, decision: Decision, snapshot: str | None) -> tuple[Decision, int | None]:
        payload = decision.as_dict() | {"gate": self.gate.id, "read_ts": read.ts, "box": read.box,
                                        "source": read.source}
        try:
            with self.store.transaction() as conn:
                event = insert_event(conn, "decision", plate=decision.plate or read.text[:64],
                                     reason=str(decision.reason), payload=payload, snapshot=snapshot)
                if decision.alert:
                    insert_event(conn, "alert", plate=decision.plate, reason="watchlist",
                                 payload={"alert": decision.alert, "gate": self.gate.id}, snapshot=snapshot)
                if decision.override:
                    GateState.use_override(conn, decision.override.id)
            return decision, event.seq
        except StoreError as exc:
            self.metrics.store_faults.labels(kind="event").inc()
            log.error("decision_not_recorded", extra={"error": str(exc), "plate": decision.plate})
            if decision.allow:
                decision = dataclasses.replace(decision, allow=False, reason=Reason.STORE_UNAVAILABLE,
                                               detail=decision.detail | {"error": str(exc)})
            return decision, None

    # ---------------------------------------------------------------- barrier events

    def drain(self) -> None:
        self._record_held()
        while True:
            try:
                kind, data = self._barrier_events.get_nowait()
            except queue.Empty:
                return
            self._on_barrier(kind, data)

    @property
    def unrecorded(self) -> int:
        """Barrier events held in memory because the store refused them (disk full, fault)."""
        return len(self._unrecorded)

    def _on_barrier(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "fault":
            self.metrics.barrier_faults.labels(fault=data.get("fault", "unknown")).inc()
        if kind == "closed" and data.get("decision_seq") is not None:
            self.metrics.barrier_cycles.inc()
        if kind == "request_done":
            self.commands.done(data)
            self.listener("cycle", data)
            return
        if kind not in RECORDED and kind != "passed":
            return
        held = data | {"occurred_at": datetime.now(self.tz).isoformat()}
        ok, number = (False, None) if self._unrecorded else self._record(kind, data)
        if not ok:  # older events wait too: the outbox keeps the order things happened in
            self._hold(kind, held)
        if kind == "passed":
            self.listener("passage", data | {"queue_number": number})

    def _record(self, kind: str, data: dict[str, Any]) -> tuple[bool, int | None]:
        """Write one barrier event (and, for a passage, its state change) in one transaction."""
        queue_number = None
        try:
            with self.store.transaction() as conn:
                if kind in RECORDED:
                    insert_event(conn, "barrier", plate=data.get("plate"), reason=kind,
                                 payload=data | {"gate": self.gate.id})
                if kind == "passed":
                    queue_number = self._record_passage(conn, data)
        except StoreError as exc:
            self.metrics.store_faults.labels(kind="event").inc()
            if not self._unrecorded:
                log.error("barrier_event_not_recorded", extra={"error": str(exc), "kind": kind})
            return False, None
        if queue_number is not None and data.get("plate"):
            self._show(queue_lines(queue_number, data["plate"]))
            self.speaker.announce(queue_speech(queue_number, data["plate"]))
        return True, queue_number

    def _hold(self, kind: str, data: dict[str, Any]) -> None:
        if len(self._unrecorded) >= MAX_UNRECORDED:
            log.error("barrier_event_dropped", extra={"kind": kind, "held": len(self._unrecorded)})
            return
        self._unrecorded.append((kind, data))

    def _record_held(self) -> None:
        """Write held events, oldest first, while the store takes them (tried once a second)."""
        if not self._unrecorded or time.monotonic() < self._retry_held_at:
            return
        self._retry_held_at = time.monotonic() + 1.0
        written = 0
        while self._unrecorded:
            kind, data = self._unrecorded[0]
            if not self._record(kind, data | {"recorded_late": True})[0]:
                return
            self._unrecorded.popleft()
            written += 1
        if written:
            log.info("held_events_recorded", extra={"count": written})

    def _record_passage(self, conn: Any, data: dict[str, Any]) -> int | None:
        plate = data.get("plate")
        if not plate:
            return None
        GateState.record_passage(conn, plate, data.get("permit_id"))
        if self.gate.yard:
            GateState.change_occupancy(conn, self.gate.yard, 1 if self.gate.direction == "in" else -1)
        number = None
        if self.gate.assigns_queue_number:
            day = datetime.now(self.tz).date().isoformat()
            number = GateState.issue_queue_number(conn, plate, data.get("trip_id"), day)
        payload = {"permit_id": data.get("permit_id"), "trip_id": data.get("trip_id"),
                   "records": self.gate.records, "queue_number": number, "gate": self.gate.id}
        if data.get("recorded_late"):  # written after a store fault: say when it really happened
            payload |= {"occurred_at": data.get("occurred_at"), "recorded_late": True}
        insert_event(conn, "passage", plate=plate, reason=data.get("reason"), payload=payload)
        return number

    # ---------------------------------------------------------------- queue calls

    def announce_calls(self, *, force: bool = False) -> int:
        """Show and speak the border guard's queue calls the sync received, each once (recorded as an
        event before it is shown; a call too old to matter is recorded and not shown). Returns how many
        were shown."""
        now = time.monotonic()
        if not force and now < self._calls_due_at:
            return 0
        self._calls_due_at = now + QUEUE_CALL_POLL_S
        try:
            taken = self.calls.take_due(self.gate.id)
        except StoreError as exc:
            if not self._calls_down:  # logged once, not every 250 ms while the store is down
                self._calls_down = True
                log.error("queue_calls_unavailable", extra={"error": str(exc)})
            return 0
        self._calls_down = False
        shown = 0
        for call, show in taken:
            if show:
                self._show(queue_call_lines(call.number, call.plate, call.barrier))
                self.speaker.announce(queue_call_speech(call.number, call.plate, call.barrier))
                shown += 1
            else:
                log.warning("queue_call_stale", extra={"day": call.day, "number": call.number,
                                                       "called_at": call.called_at})
            self.listener("queue_call", call.as_dict() | {"shown": show})
        return shown

    def _show(self, lines: list[str]) -> None:
        try:
            self.board.show(lines)
        except LedBoardError as exc:
            self.metrics.board_faults.inc()
            if not self._board_down:
                self._board_down = True
                log.error("ledboard_unavailable", extra={"error": str(exc)})
                self._fault_event("ledboard_unavailable", str(exc))
            return
        if self._board_down:
            self._board_down = False
            log.info("ledboard_back")
            self._fault_event("ledboard_back", "")

    def _fault_event(self, reason: str, detail: str) -> None:
        try:
            self.store.outbox.append("fault", reason=reason, payload={"detail": detail, "gate": self.gate.id})
        except StoreError as exc:
            log.error("fault_not_recorded", extra={"error": str(exc), "reason": reason})
