"""Central service, bad input at the boundary: malformed and oversized bodies, replays, hostile strings."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime

import pytest
from cloud_helpers import (  # noqa: F401  (fixtures)
    Cloud,
    bearer,
    db,
    event,
    fast_passwords,
    passage,
    pg_url,
    rows,
)
from sqlalchemy import inspect

from cloud.store import schema

LIMIT = 64 * 1024


@pytest.fixture
def cloud(db) -> Cloud:  # noqa: F811
    return Cloud(db, max_body_bytes=LIMIT)


def post_events(cloud: Cloud, body: bytes, gate: str = "kb2_in", **headers: str):  # type: ignore[no-untyped-def]
    return cloud.client.post("/api/v1/gate/events", content=body,
                             headers=bearer(cloud.gate(gate)) | {"Content-Type": "application/json"} | headers)


def locs(r) -> list[list]:  # type: ignore[no-untyped-def]
    return [e["loc"] for e in r.json()["detail"]]


def test_malformed_json_is_422_and_names_the_field(cloud: Cloud) -> None:
    r = post_events(cloud, b'{"events": [')
    assert r.status_code == 422 and locs(r) == [["body"]] and r.json()["detail"][0]["type"] == "json_invalid"
    assert post_events(cloud, b"\xff\xfe not utf-8").status_code == 422
    assert post_events(cloud, b'{"events": ' + b"[" * 50_000).status_code == 422  # nesting deeper than the parser goes
    ev = event(1)
    cases = {
        "seq": ({**ev, "seq": 0}, ["body", "events", 0, "seq"]),
        "event_id": ({**ev, "event_id": "1; DROP TABLE gate_events"}, ["body", "events", 0, "event_id"]),
        "type": ({**ev, "type": "teleport"}, ["body", "events", 0, "type"]),
        "snapshot": ({**ev, "snapshot": "../../etc/passwd"}, ["body", "events", 0, "snapshot"]),
        "extra": ({**ev, "gate_id": "barrier1_out"}, ["body", "events", 0, "gate_id"]),
        "missing": ({k: v for k, v in ev.items() if k != "ts"}, ["body", "events", 0, "ts"]),
    }
    for name, (bad, loc) in cases.items():
        r = post_events(cloud, json.dumps({"events": [event(1), bad]}).encode())
        assert r.status_code == 422, name
        assert [(l[:2] + [l[2] - 1] + l[3:]) for l in locs(r)] == [loc], name  # the second event of the batch
    assert post_events(cloud, b'{"events": {"not": "a list"}}').status_code == 422
    assert post_events(cloud, b'[]').status_code == 422
    assert rows(cloud.db, schema.gate_events) == []  # an invalid batch stores nothing, not even its valid events
    # People's API: FastAPI's own validation names the field the same way.
    co = cloud.company()
    r = cloud.client.post("/api/v1/trips", json={"plate": "29C12345", "flow": "sideways"}, headers=bearer(co["token"]))
    assert r.status_code == 422 and locs(r) == [["body", "flow"]]
    r = cloud.client.post("/api/v1/trips", content=b'{"plate": "29C12345", "flow": ', headers=bearer(co["token"])
                          | {"Content-Type": "application/json"})
    assert r.status_code == 422 and locs(r)[0][0] == "body"
    r = cloud.client.post("/api/v1/trips", json={"plate": "29C12345", "flow": "export", "company_id": 1},
                          headers=bearer(co["token"]))
    assert r.status_code == 422 and locs(r) == [["body", "company_id"]]
    r = cloud.client.post("/api/v1/trips", json={"plate": "29C12345", "flow": "export", "registered_load_t": -3},
                          headers=bearer(co["token"]))
    assert r.status_code == 422 and locs(r) == [["body", "registered_load_t"]]
    r = cloud.client.post("/api/v1/companies/register", json={
        "company_name": "X Co", "tax_code": "12345", "username": "xco", "password": "long password x",
        "display_name": "X"})
    assert r.status_code == 422 and locs(r) == [["body", "tax_code"]]
    assert rows(cloud.db, schema.trips) == []


def test_naive_timestamps_in_events_are_422(cloud: Cloud) -> None:
    naive = event(1) | {"ts": datetime(2024, 5, 1, 8, 0).isoformat()}
    r = post_events(cloud, json.dumps({"events": [naive]}).encode())
    assert r.status_code == 422 and locs(r) == [["body", "events", 0, "ts"]]
    assert "timezone" in r.json()["detail"][0]["msg"]
    ok = event(1) | {"ts": "2024-05-01T08:00:00+07:00"}
    assert post_events(cloud, json.dumps({"events": [ok]}).encode()).status_code == 200
    assert rows(cloud.db, schema.gate_events)[0].seq == 1


def test_oversized_bodies_are_413(cloud: Cloud) -> None:
    big = json.dumps({"events": [event(i, reason="x" * 60) for i in range(1, 1000)]}).encode()
    assert len(big) > LIMIT
    assert post_events(cloud, big).status_code == 413
    # Without a Content-Length (chunked), the stream is cut off at the limit just the same.
    r = cloud.client.post("/api/v1/gate/events", content=iter([big[i:i + 4096] for i in range(0, len(big), 4096)]),
                          headers=bearer(cloud.gate("kb2_in")) | {"Content-Type": "application/json"})
    assert r.status_code == 413
    # A snapshot over the limit.
    blob = b"\xff" * (LIMIT + 1)
    r = cloud.client.put(f"/api/v1/gate/snapshots/{hashlib.sha256(blob).hexdigest()}", content=blob,
                         headers=bearer(cloud.gate("kb2_in")))
    assert r.status_code == 413
    # People's API too (registration and login take no token: the limit is all that stands in the way).
    filler = "x" * (LIMIT + 10)
    r = cloud.client.post("/api/v1/auth/login", json={"username": "a", "password": "b", "pad": filler})
    assert r.status_code == 413
    r = cloud.client.post("/api/v1/auth/login", content=iter([b'{"username": "', filler.encode(), b'"}']),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert rows(cloud.db, schema.gate_events) == [] and rows(cloud.db, schema.snapshots) == []


def test_gzip_bodies_are_accepted_and_a_gzip_bomb_is_413(cloud: Cloud) -> None:
    batch = {"events": [event(i) for i in range(1, 6)]}
    r = post_events(cloud, gzip.compress(json.dumps(batch).encode()), **{"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["new"] == 5
    # 50 MB of JSON whitespace compresses to ~50 kB (under the limit) and must not be inflated past the limit.
    bomb = gzip.compress(b'{"events": [' + b" " * (50 * 1024 * 1024) + b"]}", compresslevel=9)
    assert len(bomb) < LIMIT
    r = post_events(cloud, bomb, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["detail"]
    assert post_events(cloud, b"not gzip at all", **{"Content-Encoding": "gzip"}).status_code == 400
    assert len(rows(cloud.db, schema.gate_events)) == 5


def test_a_replayed_batch_is_stored_once_and_confirmed_both_times(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    batch = [event(1, reason="permit"), passage(2, trip), event(3, "barrier", reason="closed")]
    ids = [e["event_id"] for e in batch]
    first = cloud.push("kb2_in", batch)
    second = cloud.push("kb2_in", batch)
    assert first == {"stored": ids, "new": 3} and second == {"stored": ids, "new": 0}
    # A partly new retry: the old ids are confirmed again, the new one stored.
    extra = event(4)
    third = cloud.push("kb2_in", [batch[2], extra])
    assert third == {"stored": [ids[2], extra["event_id"]], "new": 1}
    assert sorted(r.event_id for r in rows(cloud.db, schema.gate_events)) == sorted(ids + [extra["event_id"]])
    # The passage in it counted once: one milestone, one truck in the yard.
    assert len(cloud.trip(co["token"], trip["id"])["milestones"]) == 1
    assert rows(cloud.db, schema.yards, schema.yards.c.id == "kb2")[0].occupancy == 1
    # Duplicates inside one batch are harmless as well.
    dup = event(5)
    assert cloud.push("kb2_in", [dup, dup]) == {"stored": [dup["event_id"], dup["event_id"]], "new": 1}
    other = cloud.declare(co["token"], plate="29C67890")
    cloud.confirm(other["id"], "border_check_2bc")
    twice = passage(6, other)
    assert cloud.push("kb2_in", [twice, twice])["new"] == 1
    assert rows(cloud.db, schema.yards, schema.yards.c.id == "kb2")[0].occupancy == 2
    assert cloud.push("kb2_in", []) == {"stored": [], "new": 0}


def test_odd_payload_values_are_stored_not_acted_on(cloud: Cloud) -> None:
    """The payload is the box's free-form record: a value of the wrong shape must not fail the batch (a gate
    would resend it forever, its outbox stuck behind it); it is stored and simply not acted on."""
    odd = [{"trip_id": {"x": 1}}, {"trip_id": ["a"]}, {"trip_id": 5}, {"trip_id": "x" * 300},
           {"queue_number": "abc"}, {"queue_number": 10**30}, {"queue_number": -1}, {"queue_number": True},
           {"queue_number": 1.5}, {"queue_number": None, "trip_id": None}]
    batch = [event(i + 1, "passage", plate="29C12345", payload=p) for i, p in enumerate(odd)]
    batch.append(event(len(odd) + 1, "passage", plate="X" * 64, payload={"queue_number": 7}))
    out = cloud.push("export_waiting_in", batch)
    assert out == {"stored": [e["event_id"] for e in batch], "new": len(batch)}
    stored = {r.event_id: r.payload for r in rows(cloud.db, schema.gate_events)}
    assert [stored[e["event_id"]] for e in batch] == [e["payload"] for e in batch]
    assert rows(cloud.db, schema.queue_numbers) == [] and rows(cloud.db, schema.milestones) == []
    assert rows(cloud.db, schema.yards, schema.yards.c.id == "export_waiting")[0].occupancy == len(batch)


def test_sql_shaped_strings_are_stored_and_returned_verbatim(cloud: Cloud) -> None:
    co = cloud.company("Robert'); DROP TABLE companies;--")
    nasty = {"goods": "'; DROP TABLE trips; --", "driver_name": "x' OR '1'='1", "driver_phone": "0912 345 678"}
    trip = cloud.declare(co["token"], **nasty)
    assert {k: trip[k] for k in nasty} == nasty
    assert {k: cloud.trip(co["token"], trip["id"])[k] for k in nasty} == nasty
    assert rows(cloud.db, schema.trips)[0].goods == nasty["goods"]
    note = "1); DELETE FROM confirmations; --"
    r = cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": "border_check_2bc", "note": note},
                          headers=bearer(cloud.agency("border_guard")))
    assert r.status_code == 201 and r.json()["confirmations"][0]["note"] == note
    # The company name travels to the gates in the permit, verbatim.
    assert cloud.pull("kb2_in")["upserts"][0]["company"] == "Robert'); DROP TABLE companies;--"
    ev = event(1, reason="'; DROP TABLE gate_events;--", payload={"note": "\" OR 1=1 --", "n": [1, {"a": None}]})
    cloud.push("kb2_in", [ev])
    guard = bearer(cloud.agency("border_guard"))
    found = cloud.client.get("/api/v1/events", params={"gate": "kb2_in"}, headers=guard).json()["events"]
    assert found[0]["reason"] == ev["reason"] and found[0]["payload"] == ev["payload"]
    # Injection through query parameters finds nothing and breaks nothing.
    r = cloud.client.get("/api/v1/events", params={"plate": "' OR '1'='1", "gate": "x' OR 1=1 --"}, headers=guard)
    assert r.status_code == 200 and r.json()["events"] == []
    assert cloud.client.get("/api/v1/trips", params={"plate": "29C' OR 1=1"}, headers=guard).status_code == 422
    assert set(inspect(cloud.db.engine).get_table_names()) >= {"trips", "companies", "confirmations", "gate_events"}
    assert len(rows(cloud.db, schema.trips)) == 1 and len(rows(cloud.db, schema.confirmations)) == 1


JUNK_PLATES = ["29C;DROP", "ß1234567", "29C-123.45'--", "", "   ", "29", "A" * 40, "29C\u200b12345",
               "２９Ｃ１２３４５６７８９０１２", "29C\n12345", None, 29012345]


def test_junk_plates_are_422(cloud: Cloud) -> None:
    co = cloud.company()
    for plate in JUNK_PLATES:
        r = cloud.client.post("/api/v1/trips", json={"plate": plate, "flow": "export"}, headers=bearer(co["token"]))
        assert r.status_code == 422 and locs(r) == [["body", "plate"]], plate
    assert rows(cloud.db, schema.trips) == []
    assert cloud.client.post("/api/v1/admin/watchlist", json={"plate": "29C;DROP", "reason": "x"},
                             headers=bearer(cloud.admin)).status_code == 422


def test_snapshots_are_content_addressed(cloud: Cloud) -> None:
    gate = bearer(cloud.gate("kb2_in"))
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 10
    sha = hashlib.sha256(jpeg).hexdigest()
    assert cloud.client.get(f"/api/v1/gate/snapshots/{sha}", headers=gate).status_code == 404
    wrong = cloud.client.put(f"/api/v1/gate/snapshots/{'0' * 64}", content=jpeg, headers=gate)
    assert wrong.status_code == 422 and "sha256" in wrong.json()["detail"]
    assert cloud.client.put(f"/api/v1/gate/snapshots/{sha.upper()}", content=jpeg, headers=gate).status_code == 422
    assert cloud.client.put("/api/v1/gate/snapshots/..%2F..%2Fetc", content=jpeg, headers=gate).status_code in (404, 422)
    for _ in range(2):  # idempotent
        assert cloud.client.put(f"/api/v1/gate/snapshots/{sha}", content=jpeg, headers=gate).status_code == 204
    assert cloud.client.get(f"/api/v1/gate/snapshots/{sha}", headers=gate).status_code == 204
    stored = rows(cloud.db, schema.snapshots)
    assert [(r.sha256, r.size, bytes(r.data), r.gate_id) for r in stored] == [(sha, len(jpeg), jpeg, "kb2_in")]


def test_health_and_openapi_are_open(cloud: Cloud) -> None:
    r = cloud.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "site": "kim-thanh"}
    doc = cloud.client.get("/api/openapi.json")
    assert doc.status_code == 200
    spec = doc.json()
    assert spec["info"]["title"] == "Border gate central service"
    assert {"/api/v1/trips", "/api/v1/trips/{trip_id}/confirmations", "/api/v1/gate/events",
            "/api/v1/gate/permits", "/api/v1/admin/accounts", "/healthz"} <= set(spec["paths"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert cloud.client.get("/api/docs").status_code == 200
