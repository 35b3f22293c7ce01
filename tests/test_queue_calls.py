"""Queue calls, gate side, against the real central service over real HTTP: the border guard presses
"call next" on the console; the export waiting yard's box pulls the call in its sync round, and its
runtime shows it on the LED board and speaks it once — across repeated pulls, a restart of the box, paging,
a call committed out of stamp order — and records it in the outbox, which reaches the service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import edge.sync.callstore as callstore
import edge.sync.queuecalls as queuecalls
from cloud.store import schema
from edge.config.models import SyncConfig
from edge.ledboard.messages import queue_call_lines, queue_call_speech
from edge.sync import SyncClient
from tests.cloudsvc import CloudService, random_plate
from tests.console_helpers import Person, gate_event, push_events
from tests.test_gate_runtime import Gate

GATE = "export_waiting_in"  # gives queue numbers; its board and loudspeaker carry the calls


class Speaker:
    """Records what the loudspeaker is asked to say (the espeak driver has its own tests)."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def announce(self, text: str) -> None:
        self.said.append(text)

    def release(self) -> None:
        """Nothing to free."""


@pytest.fixture
def cloud(tmp_path: Path):
    """A service per test: a new box pulls the calls of the last minutes, which must be this test's only."""
    svc = CloudService(tmp_path / "cloud")
    yield svc
    svc.close()


@pytest.fixture
def guard(cloud: CloudService) -> Person:
    p = Person(cloud)
    p.login("bp.kimthanh")
    return p


class Box:
    """The waiting yard's box: runtime (LED board, speaker) and sync client over one store on disk."""

    def __init__(self, folder: Path, cloud: CloudService, token: str):
        self.gate = Gate(folder, GATE)
        self.speaker = Speaker()
        self.gate.rt.speaker = self.speaker
        cfg = SyncConfig(endpoint=cloud.url, timeout_s=5, retry_max_s=0.05)
        self.client = SyncClient(cfg, self.gate.store, cloud.site.id, GATE, token)

    def sync(self) -> int:
        result = self.client.sync_once()
        assert result.ok, result.as_dict()
        return result.pull.queue_calls

    def show(self) -> int:
        return self.gate.rt.announce_calls(force=True)

    def call_events(self) -> list[Any]:
        return [e for e in self.gate.store.outbox.tail(1000) if e.type == "system" and (e.reason or "").startswith("queue_call")]

    def close(self) -> None:
        self.client.close()
        self.gate.close()


_seq = iter(range(1, 10**9))


def queued(cloud: CloudService, token: str, n: int) -> list[tuple[int, str]]:
    """n trucks entered the waiting yard today (passages with queue numbers, as the box pushes them)."""
    with cloud.db.begin() as conn:
        top = conn.execute(select(schema.queue_numbers.c.number).order_by(schema.queue_numbers.c.number.desc())).first()
    first = (top[0] if top else 0) + 1
    trucks = [(first + i, random_plate()) for i in range(n)]
    push_events(cloud, token, [gate_event(next(_seq), "passage", plate, payload={"queue_number": number})
                               for number, plate in trucks])
    return trucks


def call_next(guard: Person, number: int) -> None:
    r = guard.post("/queue/call-next", {}, form_page="/queue")
    assert r.headers["location"] == f"/queue?called={number}"


def test_a_call_is_shown_spoken_and_recorded_once(cloud, guard, tmp_path) -> None:
    token = cloud.gate_token(GATE)
    trucks = queued(cloud, token, 3)
    box = Box(tmp_path / "box", cloud, token)
    try:
        for number, _ in trucks[:2]:
            call_next(guard, number)
        assert box.sync() == 2
        assert box.show() == 2
        (n1, p1), (n2, p2) = trucks[:2]
        assert box.gate.board.last == queue_call_lines(n2, p2)
        assert box.gate.board.last[0] == f"MỜI XE SỐ {n2}" and box.gate.board.last[2] == "VÀO BARIE SỐ 1"
        assert box.speaker.said == [queue_call_speech(n1, p1), queue_call_speech(n2, p2)]
        events = box.call_events()
        assert [(e.reason, e.plate, e.payload["number"], e.payload["shown"]) for e in events] == [
            ("queue_call", p1, n1, True), ("queue_call", p2, n2, True)]
        assert all(e.payload["gate"] == GATE for e in events)

        # The next rounds fetch the same calls again (the overlap): nothing new, nothing shown again.
        assert box.sync() == 0 and box.sync() == 0
        assert box.show() == 0
        assert len(box.speaker.said) == 2 and len(box.call_events()) == 2

        # The events went to the service with the round's push.
        ids = {e.event_id for e in events}
        assert ids <= set(cloud.event_ids(GATE))

        # The third call, through the runtime's own loop (step), as the daemon runs it.
        call_next(guard, trucks[2][0])
        assert box.sync() == 1
        box.gate.run_until(lambda: len(box.speaker.said) == 3)
        assert box.gate.board.last == queue_call_lines(*trucks[2])
    finally:
        box.close()


def test_each_call_is_shown_once_across_a_restart_of_the_box(cloud, guard, tmp_path) -> None:
    token = cloud.gate_token(GATE)
    trucks = queued(cloud, token, 2)
    box = Box(tmp_path / "box", cloud, token)
    call_next(guard, trucks[0][0])
    assert box.sync() == 1 and box.show() == 1
    call_next(guard, trucks[1][0])
    assert box.sync() == 1  # received, and the box stops before showing it
    box.close()

    again = Box(tmp_path / "box", cloud, token)  # same store on disk
    try:
        assert again.gate.store.db.query("SELECT value FROM sync_state WHERE key = 'queue_calls_cursor'")
        assert again.sync() == 0  # both held already
        assert again.show() == 1  # only the one not shown before the restart
        assert again.speaker.said == [queue_call_speech(*trucks[1])]
        assert [e.payload["number"] for e in again.call_events()] == [trucks[0][0], trucks[1][0]]
    finally:
        again.close()


def test_calls_committed_out_of_stamp_order_and_full_pages_all_arrive(cloud, guard, tmp_path, monkeypatch) -> None:
    token = cloud.gate_token(GATE)
    trucks = queued(cloud, token, 6)
    box = Box(tmp_path / "box", cloud, token)
    try:
        call_next(guard, trucks[0][0])
        assert box.sync() == 1
        cursor = callstore.as_utc(box.client.calls.cursor() or "")
        # A second instance stamped this call 30 s before the box's cursor but committed it only now.
        call_next(guard, trucks[1][0])
        q = schema.queue_numbers
        with cloud.db.begin() as conn:
            conn.execute(update(q).where(q.c.number == trucks[1][0], q.c.gate_id == GATE)
                         .values(called_at=cursor - timedelta(seconds=30)))
        assert box.sync() == 1

        # Four more calls, pulled two per page (the page loop, and repeats at page edges dropped).
        monkeypatch.setattr(queuecalls, "PAGE_LIMIT", 2)
        for number, _ in trucks[2:]:
            call_next(guard, number)
        assert box.sync() == 4
        assert box.show() == 6
        assert sorted(e.payload["number"] for e in box.call_events()) == [n for n, _ in trucks]
    finally:
        box.close()


def test_a_call_too_old_to_matter_is_recorded_and_not_shown(cloud, guard, tmp_path, monkeypatch) -> None:
    token = cloud.gate_token(GATE)
    trucks = queued(cloud, token, 1)
    box = Box(tmp_path / "box", cloud, token)
    try:
        call_next(guard, trucks[0][0])
        assert box.sync() == 1
        before = list(box.gate.board.last)
        monkeypatch.setattr(callstore, "MAX_AGE_S", 0.0)  # as if the box got to it ten minutes late
        assert box.show() == 0
        assert box.speaker.said == [] and box.gate.board.last == before
        (event,) = box.call_events()
        assert event.reason == "queue_call_stale" and event.payload["shown"] is False
        assert box.gate.rt.calls.outcomes()[(event.payload["day"], trucks[0][0])] == "stale"
        assert box.show() == 0 and len(box.call_events()) == 1
    finally:
        box.close()


def test_another_gate_gets_no_calls(cloud, guard, tmp_path) -> None:
    token = cloud.gate_token(GATE)
    trucks = queued(cloud, token, 1)
    call_next(guard, trucks[0][0])
    kb2 = Gate(tmp_path / "kb2", "kb2_in")
    other = SyncClient(SyncConfig(endpoint=cloud.url, timeout_s=5, retry_max_s=0.05), kb2.store, cloud.site.id,
                       "kb2_in", cloud.gate_token("kb2_in"))
    try:
        result = other.sync_once()
        assert result.ok and result.pull.queue_calls == 0
        assert other.calls.pending() == [] and kb2.rt.announce_calls(force=True) == 0
    finally:
        other.close()
        kb2.close()
