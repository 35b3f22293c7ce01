"""Central service, scale-out: two app instances (two Database objects, two TestClients) on ONE PostgreSQL
database, hit concurrently from threads, as behind a load balancer."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cloud_helpers import (  # noqa: F401  (fixtures)
    Cloud,
    bearer,
    event,
    fast_passwords,
    passage,
    pg_db,
    pg_url,
    rows,
)
from fastapi.testclient import TestClient

import cloud.compiler
from cloud.store import schema
from cloud.store.db import Database


@pytest.fixture
def pair(pg_db: Database, pg_url: str) -> Iterator[tuple[Cloud, Cloud]]:  # noqa: F811
    a = Cloud(pg_db)
    second = Database(pg_url)
    try:
        yield a, a.sibling(second)
    finally:
        second.dispose()


@pytest.fixture
def slow_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every permit cursor handed out is recorded, and its transaction dawdles a little before it commits: a
    cursor taken out of commit order would then surely be overtaken by a later one."""
    taken: list[int] = []
    lock = threading.Lock()
    real = cloud.compiler.next_value

    def next_value(conn, name):  # type: ignore[no-untyped-def]
        value = real(conn, name)
        with lock:
            taken.append(value)
        time.sleep(random.uniform(0, 0.004))
        return value

    monkeypatch.setattr(cloud.compiler, "next_value", next_value)
    return taken


def parallel(jobs: list[Any]) -> list[Any]:
    """Run callables at once (released together), re-raising the first error."""
    start = threading.Barrier(len(jobs))

    def run(job):  # type: ignore[no-untyped-def]
        start.wait()
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return [f.result() for f in [pool.submit(run, j) for j in jobs]]


def test_concurrent_confirmations_keep_cursors_ordered_and_a_puller_misses_nothing(
        pair: tuple[Cloud, Cloud], slow_commits: list[int]) -> None:
    a, b = pair
    co = a.company()
    trips = [a.declare(co["token"], plate=f"29C{40000 + i}") for i in range(32)]
    guard, gate = a.agency("border_guard"), a.gate("kb2_in")
    refused = {t["id"] for t in trips[::3]}
    done = threading.Event()

    def worker(k: int) -> int:
        client = TestClient((a, b)[k % 2].app)  # half the agencies' calls land on each instance
        n = 0
        for t in trips[k::4]:
            decisions = ["confirmed", "refused"] if t["id"] in refused else ["confirmed"]
            for d in decisions:
                r = client.post(f"/api/v1/trips/{t['id']}/confirmations", json={"step": "border_check_2bc",
                                                                                   "decision": d},
                                headers=bearer(guard))
                assert r.status_code == 201, r.text
                n += 1
        return n

    def puller() -> dict[str, Any]:
        clients = [TestClient(a.app), TestClient(b.app)]
        held: dict[str, dict[str, Any]] = {}
        cursor, pulls, busy = 0, 0, 0
        while True:
            last = done.is_set()
            r = clients[pulls % 2].get("/api/v1/gate/permits", params={"cursor": cursor}, headers=bearer(gate))
            assert r.status_code == 200, r.text
            page = r.json()
            assert page["cursor"] >= cursor
            if page["full"]:
                held = {}
            for p in page["upserts"]:
                held[p["permit_id"]] = p
            for pid in page["deletes"]:
                held.pop(pid, None)
            busy += bool(page["upserts"] or page["deletes"])
            cursor, pulls = page["cursor"], pulls + 1
            if last and not page["more"]:
                return {"held": held, "pulls": pulls, "busy": busy, "cursor": cursor}

    with ThreadPoolExecutor(5) as pool:
        pulling = pool.submit(puller)
        workers = [pool.submit(worker, k) for k in range(4)]
        assert sum(w.result() for w in workers) == len(trips) + len(refused)
        done.set()
        seen = pulling.result()

    # Each confirmation changed kb2_in and barrier_2bc_in: one cursor per change, none twice, none skipped.
    assert len(slow_commits) == 2 * (len(trips) + len(refused))
    assert sorted(slow_commits) == list(range(1, len(slow_commits) + 1))
    permits = rows(a.db, schema.permits)
    assert len({p.cursor for p in permits}) == len(permits) == 2 * len(trips)
    # The gate, pulling deltas while the changes committed, ends with exactly what the database holds.
    in_db = {p.permit_id for p in permits if p.gate_id == "kb2_in" and not p.deleted}
    expected = {f"{t['id']}:kb2_in" for t in trips if t["id"] not in refused}
    assert set(seen["held"]) == in_db == expected
    assert seen["cursor"] == max(slow_commits)
    assert seen["busy"] >= 2, seen  # it really pulled while the changes were being made


def test_concurrent_confirmations_of_one_trip_on_two_instances_are_all_compiled(
        pair: tuple[Cloud, Cloud], slow_commits: list[int]) -> None:
    """Barrier No. 1 (exit) needs customs and the border guard: when both confirm at the same moment, through
    different instances, the permit must exist afterwards (neither transaction may compile from a stale view)."""
    a, b = pair
    co = a.company()
    trips = [a.declare(co["token"], plate=f"29C{50000 + i}") for i in range(12)]
    customs, guard = a.agency("customs"), a.agency("border_guard")
    clients = [TestClient(a.app), TestClient(b.app)]

    def confirm(client: TestClient, trip_id: str, step: str, token: str):  # type: ignore[no-untyped-def]
        return lambda: client.post(f"/api/v1/trips/{trip_id}/confirmations", json={"step": step},
                                   headers=bearer(token)).status_code

    for t in trips:
        codes = parallel([confirm(clients[0], t["id"], "customs_export_eligible", customs),
                          confirm(clients[1], t["id"], "border_exit_check", guard)])
        assert codes == [201, 201]
    assert a.permit_trips("barrier1_out") == {t["id"] for t in trips}
    assert b.permit_trips("barrier1_out") == {t["id"] for t in trips}


def test_overlapping_batches_through_two_instances_store_each_event_once(pair: tuple[Cloud, Cloud]) -> None:
    a, b = pair
    co = a.company()
    trips = [a.declare(co["token"], plate=f"29C{60000 + i}") for i in range(8)]
    for t in trips:
        a.confirm_for(t["id"], "export_waiting_in")
    gate = a.gate("export_waiting_in")
    # 96 events of the waiting-yard gate: every third a passage with the next queue number, eight of them for
    # declared trips, the others for trucks let in by hand.
    events, number = [], 0
    for seq in range(1, 97):
        if seq % 3 == 0:
            number += 1
            if number <= len(trips):
                events.append(passage(seq, trips[number - 1], queue_number=number))
            else:
                events.append(event(seq, "passage", plate=f"29D{number:05d}", payload={"queue_number": number}))
        else:
            events.append(event(seq, reason="permit"))
    ids = [e["event_id"] for e in events]

    def push(client: TestClient, batch: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        def go() -> dict[str, Any]:
            r = client.post("/api/v1/gate/events", json={"events": batch}, headers=bearer(gate))
            assert r.status_code == 200, r.text
            return r.json() | {"sent": [e["event_id"] for e in batch]}
        return go

    ca, cb = TestClient(a.app), TestClient(b.app)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    jobs = [push(ca, events[i:i + 16]) for i in range(0, 64, 16)]  # instance A: events 1-64
    jobs += [push(cb, events[i:i + 16]) for i in range(32, 96, 16)]  # instance B: events 33-96
    jobs += [push(cb, shuffled[:48]), push(ca, shuffled[48:])]  # a retry of everything, in another order
    answers = parallel(jobs)
    for ans in answers:
        assert ans["stored"] == ans["sent"]  # every id sent is confirmed, new or not
    assert sum(ans["new"] for ans in answers) == 96

    stored = rows(a.db, schema.gate_events)
    assert sorted(r.event_id for r in stored) == sorted(ids)
    assert {r.gate_id for r in stored} == {"export_waiting_in"}
    queue = rows(a.db, schema.queue_numbers)
    assert sorted(q.number for q in queue) == list(range(1, 33))  # unique per day by construction, all there
    assert len({q.event_id for q in queue}) == 32 and len({(q.day, q.number) for q in queue}) == 32
    assert {q.trip_id for q in queue if q.trip_id} == {t["id"] for t in trips}
    # Each passage advanced its trip once and counted once in the yard.
    milestones = rows(a.db, schema.milestones)
    assert sorted(m.trip_id for m in milestones) == sorted(t["id"] for t in trips)
    assert rows(a.db, schema.yards, schema.yards.c.id == "export_waiting")[0].occupancy == 32
    assert a.permit_trips("export_waiting_in") == set()
    assert b.permit_trips("kb2_out") == {t["id"] for t in trips}  # other gates' permits untouched


def test_passages_and_confirmations_of_the_same_trips_at_once_on_two_instances(
        pair: tuple[Cloud, Cloud], slow_commits: list[int]) -> None:
    """A gate's batches of passages (instance A) and agencies' confirmations of the same trips (instance B)
    interleave without deadlock, and the permits end as if they had come one after the other."""
    a, b = pair
    co = a.company()
    trips = [a.declare(co["token"], plate=f"29C{70000 + i}") for i in range(12)]
    for t in trips:
        a.confirm(t["id"], "border_check_2bc")
    kb2_in, staff = a.gate("kb2_in"), {s: a.agency(s) for s in ("transport_station", "service_centre", "customs")}
    steps = [("transport_permit", "transport_station"), ("fee_paid", "service_centre"), ("customs_cleared", "customs")]

    def passages(chunk: list[dict[str, Any]], first_seq: int):  # type: ignore[no-untyped-def]
        client = TestClient(a.app)

        def go() -> int:
            batch = [passage(first_seq + i, t) for i, t in enumerate(chunk)]
            return client.post("/api/v1/gate/events", json={"events": batch}, headers=bearer(kb2_in)).status_code
        return go

    def confirmations(order: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
        client = TestClient(b.app)

        def go() -> list[int]:
            return [client.post(f"/api/v1/trips/{t['id']}/confirmations", json={"step": step},
                                headers=bearer(staff[agency])).status_code
                    for t in order for step, agency in steps]
        return go

    backwards = trips[::-1]
    codes = parallel([passages(backwards[:6], 1), passages(backwards[6:], 7), passages(trips[3:9], 13),
                      confirmations(trips), confirmations(backwards)])
    assert codes[:3] == [200, 200, 200]
    assert codes[3] == codes[4] == [201] * 36
    ids = {t["id"] for t in trips}
    assert a.permit_trips("kb2_in") == set()  # every trip passed (trips 3-8 twice: one milestone each)
    assert b.permit_trips("kb2_out") == ids == a.permit_trips("export_waiting_in")
    assert sorted(m.trip_id for m in rows(a.db, schema.milestones)) == sorted(ids)
    assert rows(a.db, schema.yards, schema.yards.c.id == "kb2")[0].occupancy == 18  # 18 passage events
