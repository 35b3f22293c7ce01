"""Central service, the domain: registration, trips, the permit compiler and passages (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cloud_helpers import (  # noqa: F401  (fixtures)
    SITE,
    Cloud,
    audit_actions,
    bearer,
    db,
    event,
    fast_passwords,
    passage,
    pg_url,
    rows,
)

from cloud.store import schema


@pytest.fixture
def cloud(db) -> Cloud:  # noqa: F811
    return Cloud(db)


def test_company_registers_confirmed_at_once_and_declares_by_plate(cloud: Cloud) -> None:
    co = cloud.company("Công ty TNHH Xuất khẩu Lào Cai")
    # Registration is confirmed automatically: the returned token works straight away.
    me = cloud.client.get("/api/v1/me", headers=bearer(co["token"])).json()
    assert me == {"role": "company", "account_id": co["account_id"], "company_id": co["company_id"],
                  "username": me["username"]}
    trip = cloud.declare(co["token"], plate="29C-123.45", goods="Thanh long", driver_name="Nguyễn Văn A",
                         driver_id_number="001234567890", registered_load_t=25.5)
    assert trip["plate"] == "29C12345" and trip["plate_display"] == "29C-123.45"
    assert trip["status"] == "open" and trip["flow"] == "export"
    assert trip["goods"] == "Thanh long" and trip["driver_name"] == "Nguyễn Văn A"
    assert trip["registered_load_t"] == 25.5 and trip["confirmations"] == [] and trip["milestones"] == []
    # A Chinese plate is declared the same way.
    cn = cloud.declare(co["token"], plate="桂A 12345", flow="import")
    assert cn["plate"] == "桂A12345"
    listed = cloud.client.get("/api/v1/trips", headers=bearer(co["token"])).json()["trips"]
    assert {t["id"] for t in listed} == {trip["id"], cn["id"]}
    # Every agency sees the declaration at once (declare once, shared with all).
    by_plate = cloud.client.get("/api/v1/trips", params={"plate": "29c 123 45"},
                                headers=bearer(cloud.agency("customs"))).json()["trips"]
    assert [t["id"] for t in by_plate] == [trip["id"]]


def test_duplicate_registration_is_refused(cloud: Cloud) -> None:
    body = {"company_name": "Công ty A", "tax_code": "0101234567", "username": "congty-a",
            "password": "a long company password", "display_name": "A"}
    assert cloud.client.post("/api/v1/companies/register", json=body).status_code == 201
    again = cloud.client.post("/api/v1/companies/register", json=body | {"username": "congty-b"})
    assert again.status_code == 409
    assert len(rows(cloud.db, schema.companies)) == 1 and len(rows(cloud.db, schema.accounts)) == 1


def test_permit_appears_only_when_every_required_step_is_confirmed(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    assert all(cloud.permit_trips(g.id) == set() for g in SITE.gates)
    # barrier_2bc_in requires health_quarantine_2bc (conditional, not listed by this trip) and border_check_2bc.
    cloud.confirm(trip["id"], "border_check_2bc")
    assert cloud.permit_trips("barrier_2bc_in") == {trip["id"]}
    assert cloud.permit_trips("kb2_in") == {trip["id"]}
    # kb2_out needs transport permit, fee and customs clearance (read from the customs system).
    for step in ("transport_permit", "fee_paid"):
        cloud.confirm(trip["id"], step)
        assert cloud.permit_trips("kb2_out") == set()
    cloud.confirm(trip["id"], "customs_cleared")
    assert cloud.permit_trips("kb2_out") == {trip["id"]}
    assert cloud.permit_trips("export_waiting_in") == {trip["id"]}
    # No step of barrier No. 1 yet, and import-only gates never get an export trip.
    assert cloud.permit_trips("barrier1_out") == set()
    assert cloud.permit_trips("private_yard_a_in") == set()
    permit = cloud.pull("kb2_in")["upserts"][0]
    assert permit["permit_id"] == f"{trip['id']}:kb2_in" and permit["plate"] == "29C12345"
    assert permit["flow"] == "export" and permit["direction"] == "in" and permit["max_passes"] == 1
    assert permit["company"] == rows(cloud.db, schema.companies)[0].name


def test_conditional_steps_are_required_only_when_the_trip_lists_them(cloud: Cloud) -> None:
    co = cloud.company()
    plain = cloud.declare(co["token"], plate="29C11111")
    fruit = cloud.declare(co["token"], plate="29C22222", conditional_steps=["health_quarantine_2bc",
                                                                             "plant_quarantine"])
    for trip in (plain, fruit):
        for step in ("border_check_2bc", "transport_permit", "fee_paid", "customs_cleared"):
            cloud.confirm(trip["id"], step)
    assert cloud.permit_trips("barrier_2bc_in") == {plain["id"]}
    assert cloud.permit_trips("kb2_out") == {plain["id"]}
    cloud.confirm(fruit["id"], "health_quarantine_2bc")
    assert cloud.permit_trips("barrier_2bc_in") == {plain["id"], fruit["id"]}
    assert cloud.permit_trips("kb2_out") == {plain["id"]}
    cloud.confirm(fruit["id"], "plant_quarantine")
    assert cloud.permit_trips("kb2_out") == {plain["id"], fruit["id"]}
    # Animal quarantine was confirmed by nobody and is required by nobody here.
    assert not any(c["step"] == "animal_quarantine" for c in cloud.trip(co["token"], fruit["id"])["confirmations"])
    # A correction that adds a conditional step withdraws the permit until it is confirmed.
    r = cloud.client.patch(f"/api/v1/trips/{plain['id']}", json={"conditional_steps": ["animal_quarantine"]},
                           headers=bearer(co["token"]))
    assert r.status_code == 200 and r.json()["conditional_steps"] == ["animal_quarantine"]
    assert plain["id"] not in cloud.permit_trips("kb2_out")
    assert plain["id"] in cloud.permit_trips("barrier_2bc_in")
    # Only conditional steps of the site can be listed.
    bad = cloud.client.patch(f"/api/v1/trips/{plain['id']}", json={"conditional_steps": ["fee_paid"]},
                             headers=bearer(co["token"]))
    assert bad.status_code == 422 and "fee_paid" in bad.text
    assert cloud.client.post("/api/v1/trips", json={"plate": "29C33333", "flow": "export",
                                                    "conditional_steps": ["no_such_step"]},
                             headers=bearer(co["token"])).status_code == 422


def test_refusal_withdraws_the_permit_and_a_new_confirmation_restores_it(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    first = cloud.pull("kb2_in")
    assert [p["trip_id"] for p in first["upserts"]] == [trip["id"]]
    view = cloud.confirm(trip["id"], "border_check_2bc", "refused")
    assert [c["decision"] for c in view["confirmations"]] == ["confirmed", "refused"]
    delta = cloud.pull("kb2_in", first["cursor"])
    assert delta["full"] is False and delta["upserts"] == []
    assert delta["deletes"] == [f"{trip['id']}:kb2_in"] and delta["cursor"] > first["cursor"]
    assert cloud.permit_trips("kb2_in") == set() and cloud.permit_trips("barrier_2bc_in") == set()
    cloud.confirm(trip["id"], "border_check_2bc")
    again = cloud.pull("kb2_in", delta["cursor"])
    assert [p["trip_id"] for p in again["upserts"]] == [trip["id"]] and again["deletes"] == []
    # Nothing changed since: an empty delta that keeps the cursor.
    idle = cloud.pull("kb2_in", again["cursor"])
    assert idle == {"full": False, "cursor": again["cursor"], "more": False, "upserts": [], "deletes": [],
                    "watchlist": [], "yard": {"id": "kb2", "direction": "in", "occupancy": 0}}
    # Gates whose permits changed were told (live channel), the others not.
    assert {"kb2_in", "barrier_2bc_in"} in cloud.notices


def test_cancel_removes_every_permit_and_ends_the_trip(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    cloud.confirm(trip["id"], "border_entry_check")
    assert cloud.permit_trips("kb2_in") == cloud.permit_trips("barrier1_in") == {trip["id"]}
    r = cloud.client.post(f"/api/v1/trips/{trip['id']}/cancel", headers=bearer(co["token"]))
    assert r.status_code == 200 and r.json() == {"id": trip["id"], "status": "cancelled"}
    assert all(cloud.permit_trips(g.id) == set() for g in SITE.gates)
    assert cloud.trip(co["token"], trip["id"])["status"] == "cancelled"
    # A cancelled trip takes no more confirmations, corrections or cancels.
    r = cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": "fee_paid"},
                          headers=bearer(cloud.agency("service_centre")))
    assert r.status_code == 409
    assert cloud.client.patch(f"/api/v1/trips/{trip['id']}", json={"goods": "x"},
                              headers=bearer(co["token"])).status_code == 409
    assert cloud.client.post(f"/api/v1/trips/{trip['id']}/cancel",
                             headers=bearer(co["token"])).status_code == 409
    assert cloud.permit_trips("kb2_out") == set()
    # The management board may cancel too.
    other = cloud.declare(co["token"], plate="29C54321")
    assert cloud.client.post(f"/api/v1/trips/{other['id']}/cancel",
                             headers=bearer(cloud.admin)).status_code == 200


def test_passage_consumes_that_gates_permit_only(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    before = cloud.pull("barrier_2bc_in")
    ev = passage(1, trip, ts=datetime(2024, 5, 1, 1, 0, tzinfo=timezone.utc))
    assert cloud.push("barrier_2bc_in", [ev]) == {"stored": [ev["event_id"]], "new": 1}
    delta = cloud.pull("barrier_2bc_in", before["cursor"])
    assert delta["deletes"] == [f"{trip['id']}:barrier_2bc_in"] and delta["upserts"] == []
    assert cloud.permit_trips("kb2_in") == {trip["id"]}
    view = cloud.trip(co["token"], trip["id"])
    assert view["milestones"] == [{"milestone": "entered_border_zone", "gate_id": "barrier_2bc_in",
                                   "at": "2024-05-01T01:00:00+00:00"}]
    # A second confirmation of the same step does not bring a passed gate's permit back.
    cloud.confirm(trip["id"], "border_check_2bc")
    assert cloud.permit_trips("barrier_2bc_in") == set()
    assert {"barrier_2bc_in"} in cloud.notices


def test_passage_for_another_plate_or_no_trip_does_not_advance_a_trip(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    wrong = passage(1, trip) | {"plate": "29C99999"}
    override = event(2, "passage", plate="51D00001", payload={"override": True})
    assert cloud.push("kb2_in", [wrong, override])["new"] == 2
    assert cloud.trip(co["token"], trip["id"])["milestones"] == []
    assert cloud.permit_trips("kb2_in") == {trip["id"]}
    # Both are on record, and the yard counts both trucks in.
    assert len(rows(cloud.db, schema.gate_events)) == 2
    yards = {y["id"]: y for y in cloud.client.get("/api/v1/yards", headers=bearer(co["token"])).json()["yards"]}
    assert yards["kb2"]["occupancy"] == 2 and yards["kb2"]["capacity"] == 300


def test_yard_occupancy_follows_passages_and_never_goes_negative(cloud: Cloud) -> None:
    co = cloud.company()
    trips = [cloud.declare(co["token"], plate=f"29C1000{i}") for i in range(3)]
    for t in trips:
        cloud.confirm(t["id"], "border_check_2bc")
        for step in ("transport_permit", "fee_paid", "customs_cleared"):
            cloud.confirm(t["id"], step)

    def occupancy() -> dict[str, int]:
        ys = cloud.client.get("/api/v1/yards", headers=bearer(co["token"])).json()["yards"]
        return {y["id"]: y["occupancy"] for y in ys}

    assert occupancy()["kb2"] == 0
    cloud.push("kb2_in", [passage(i + 1, t) for i, t in enumerate(trips)])
    assert occupancy()["kb2"] == 3
    cloud.push("kb2_out", [passage(1, trips[0])])
    assert occupancy()["kb2"] == 2 and occupancy()["export_waiting"] == 0
    cloud.push("kb2_out", [event(2, "passage", plate="29C77777"), event(3, "passage", plate="29C77778"),
                           event(4, "passage", plate="29C77779")])
    assert occupancy()["kb2"] == 0
    assert cloud.permit_trips("kb2_out") == {trips[1]["id"], trips[2]["id"]}


def test_queue_number_at_export_waiting_in_is_recorded_on_the_site_day(cloud: Cloud) -> None:
    co = cloud.company()
    a, b = cloud.declare(co["token"], plate="29C20001"), cloud.declare(co["token"], plate="29C20002")
    for t in (a, b):
        for step in ("transport_permit", "fee_paid", "customs_cleared"):
            cloud.confirm(t["id"], step)
    # 20:00 UTC is 03:00 the next day in Lào Cai (UTC+7): the queue restarts on the site's day.
    late = datetime(2024, 5, 1, 20, 0, tzinfo=timezone.utc)
    cloud.push("export_waiting_in", [passage(1, a, queue_number=1, ts=late),
                                     passage(2, b, queue_number=2, ts=late)])
    q = sorted((r.day, r.number, r.trip_id, r.plate, r.gate_id) for r in rows(cloud.db, schema.queue_numbers))
    assert q == [("2024-05-02", 1, a["id"], "29C20001", "export_waiting_in"),
                 ("2024-05-02", 2, b["id"], "29C20002", "export_waiting_in")]
    assert cloud.trip(co["token"], a["id"])["milestones"][0]["milestone"] == "queued_export_waiting"
    assert cloud.permit_trips("export_waiting_in") == set()
    yards = cloud.client.get("/api/v1/yards", headers=bearer(co["token"])).json()["yards"]
    assert next(y for y in yards if y["id"] == "export_waiting")["occupancy"] == 2


def test_barrier1_out_frees_the_export_waiting_yard_for_export_trucks_only(cloud: Cloud) -> None:
    """The waiting yard has no exit gate of its own: the export truck called from it leaves Vietnam at
    barrier No. 1 (``frees.export`` in the site file). An import truck going home there frees nothing."""
    co = cloud.company()
    a, b = cloud.declare(co["token"], plate="29C30001"), cloud.declare(co["token"], plate="29C30002")
    imp = cloud.declare(co["token"], plate="桂A30003", flow="import")

    def waiting() -> int:
        ys = cloud.client.get("/api/v1/yards", headers=bearer(co["token"])).json()["yards"]
        return next(y for y in ys if y["id"] == "export_waiting")["occupancy"]

    start = waiting()
    cloud.push("export_waiting_in", [passage(1, a), passage(2, b)])
    assert waiting() == start + 2
    cloud.push("barrier1_out", [passage(1, imp)])
    assert waiting() == start + 2
    left = passage(2, a)
    cloud.push("barrier1_out", [left])
    assert waiting() == start + 1
    cloud.push("barrier1_out", [left])  # the same event again: stored once, freed once
    assert waiting() == start + 1


def test_export_trip_walks_the_whole_site_and_completes(cloud: Cloud) -> None:
    """Article 5 end to end: each gate's permit appears after its steps, the passage consumes it, the trip
    ends at barriers 2B/2C on the way out."""
    co = cloud.company()
    trip = cloud.declare(co["token"], goods="Linh kiện điện tử")
    route = ["barrier_2bc_in", "kb2_in", "kb2_out", "export_waiting_in", "barrier1_out", "barrier1_in", "kb1_in",
             "kb1_out", "barrier_2bc_out"]
    for seq, gate in enumerate(route, start=1):
        cloud.confirm_for(trip["id"], gate)
        assert trip["id"] in cloud.permit_trips(gate), gate
        cloud.push(gate, [passage(seq, trip, queue_number=1 if gate == "export_waiting_in" else None)])
        assert trip["id"] not in cloud.permit_trips(gate), gate
        assert cloud.trip(co["token"], trip["id"])["status"] == ("completed" if gate == "barrier_2bc_out" else "open")
    view = cloud.trip(co["token"], trip["id"])
    assert [m["gate_id"] for m in view["milestones"]] == route
    assert [m["milestone"] for m in view["milestones"]] == [SITE.gate(g).records[0] for g in route]
    assert all(cloud.permit_trips(g.id) == set() for g in SITE.gates)
    assert audit_actions(cloud.db, trip["id"])[-1] == "trip_completed"
    # A completed trip takes no more changes.
    assert cloud.client.post(f"/api/v1/trips/{trip['id']}/cancel", headers=bearer(co["token"])).status_code == 409


def test_import_trip_ends_when_the_empty_truck_leaves_through_barrier_1(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"], plate="桂A12345", flow="import", conditional_steps=["transport_exit"])
    cloud.confirm(trip["id"], "border_exit_check")
    assert cloud.permit_trips("barrier1_out") == set()  # transport_exit listed by the trip, not yet confirmed
    cloud.confirm(trip["id"], "transport_exit")
    assert cloud.permit_trips("barrier1_out") == {trip["id"]}
    cloud.confirm(trip["id"], "border_entry_check")
    assert cloud.permit_trips("barrier1_in") == {trip["id"]}
    cloud.push("barrier1_out", [passage(1, trip)])
    assert cloud.trip(co["token"], trip["id"])["status"] == "completed"
    assert all(cloud.permit_trips(g.id) == set() for g in SITE.gates)


def test_the_audit_log_records_every_change(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    patched = cloud.client.patch(f"/api/v1/trips/{trip['id']}", json={"goods": "Cao su", "driver_phone": "0912345678"},
                                 headers=bearer(co["token"]))
    assert patched.status_code == 200 and patched.json()["goods"] == "Cao su"
    guard_id, guard = cloud.account("agency", agency="border_guard")
    cloud.confirm(trip["id"], "border_check_2bc", token=guard)
    cloud.confirm(trip["id"], "border_check_2bc", "refused", token=guard)
    cloud.client.post(f"/api/v1/trips/{trip['id']}/cancel", headers=bearer(co["token"]))
    a = schema.audit_log
    log = rows(cloud.db, a, a.c.object == trip["id"])
    assert [r.action for r in log] == ["trip_declared", "trip_corrected", "step_confirmed", "step_refused",
                                       "trip_cancelled"]
    assert [r.account_id for r in log] == [co["account_id"]] * 2 + [guard_id] * 2 + [co["account_id"]]
    assert log[0].detail == {"plate": "29C12345", "flow": "export"}
    assert log[1].detail == {"changes": {"goods": "Cao su", "driver_phone": "0912345678"}}
    assert log[2].detail["step"] == "border_check_2bc"
    assert all(r.at is not None for r in log)
    # Registration, logins, board actions and trip completion are on record too.
    actions = audit_actions(cloud.db)
    assert actions[:2] == ["company_registered", "trip_declared"] and actions.count("login") == 1  # the guard's
    r = cloud.client.post("/api/v1/admin/watchlist", json={"plate": "29C-999.99", "reason": "stolen"},
                          headers=bearer(cloud.admin))
    assert r.status_code == 201
    cloud.gate("kb2_in")
    r = cloud.client.post("/api/v1/admin/accounts", headers=bearer(cloud.admin), json={
        "username": "customs.officer1", "password": "long enough pw", "role": "agency", "display_name": "HQ",
        "agency": "customs"})
    assert r.status_code == 201
    cloud.client.post(f"/api/v1/admin/accounts/{r.json()['account_id']}/revoke", headers=bearer(cloud.admin))
    cloud.client.post("/api/v1/admin/gates/kb2_in/revoke", headers=bearer(cloud.admin))
    tail = audit_actions(cloud.db)[len(actions):]
    assert tail == ["login", "watchlist_added", "gate_token_issued", "account_created", "account_revoked",
                    "gate_revoked"]


def test_watchlist_reaches_every_gate_with_its_permits(cloud: Cloud) -> None:
    r = cloud.client.post("/api/v1/admin/watchlist", json={"plate": "29c 999.99", "reason": "báo mất"},
                          headers=bearer(cloud.admin))
    assert r.status_code == 201 and r.json() == {"plate": "29C99999"}
    assert cloud.pull("kb1_in")["watchlist"] == [{"plate": "29C99999", "reason": "báo mất"}]
    assert cloud.notices[-1] == {g.id for g in SITE.gates}
    listed = cloud.client.get("/api/v1/admin/watchlist", headers=bearer(cloud.admin)).json()["watchlist"]
    assert [w["plate"] for w in listed] == ["29C99999"]
    assert datetime.fromisoformat(listed[0]["at"]).utcoffset() is not None  # an instant on both backends
    assert cloud.client.delete("/api/v1/admin/watchlist/29C-999.99", headers=bearer(cloud.admin)).status_code == 200
    assert cloud.pull("kb1_in")["watchlist"] == []
    assert cloud.client.delete("/api/v1/admin/watchlist/29C99999", headers=bearer(cloud.admin)).status_code == 404


def test_pull_pages_deltas_and_falls_back_to_a_full_snapshot(cloud: Cloud) -> None:
    co = cloud.company()
    cloud.confirm(cloud.declare(co["token"], plate="29C30009")["id"], "border_check_2bc")  # other gates' changes
    empty = cloud.pull("barrier1_in")
    assert empty["full"] is True and empty["upserts"] == [] and empty["cursor"] == 2
    trips = [cloud.declare(co["token"], plate=f"29C3000{i}") for i in range(5)]
    for t in trips:
        cloud.confirm(t["id"], "border_entry_check")
    full = cloud.pull("barrier1_in")
    assert full["full"] is True and {p["trip_id"] for p in full["upserts"]} == {t["id"] for t in trips}
    assert full["cursor"] == max(r.cursor for r in rows(cloud.db, schema.permits)) == 12
    # The delta since the first pull, in pages of two.
    start = empty["cursor"]
    seen, cursor, pages = [], start, 0
    while True:
        page = cloud.pull("barrier1_in", cursor, limit=2)
        assert page["full"] is False and page["cursor"] > cursor
        seen += [p["trip_id"] for p in page["upserts"]]
        cursor, pages = page["cursor"], pages + 1
        if not page["more"]:
            break
    assert seen == [t["id"] for t in trips] and pages == 3 and cursor == full["cursor"]
    # A cursor from the future (the service's database was restored) gets a full snapshot.
    future = cloud.pull("barrier1_in", full["cursor"] + 1000)
    assert future["full"] is True and len(future["upserts"]) == 5


def test_event_times_with_any_offset_are_kept_as_the_same_instant(cloud: Cloud) -> None:
    """A box (or a yard operator's own camera) may send local time with its offset: stored as that instant
    on both backends (SQLite keeps no offset, so the service stores UTC)."""
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    local = datetime.fromisoformat("2024-05-02T03:00:00+07:00")
    cloud.push("kb2_in", [passage(1, trip, ts=local), event(2, ts=datetime.fromisoformat("2024-05-01T21:00:00+00:00"))])
    guard = bearer(cloud.agency("border_guard"))
    found = cloud.client.get("/api/v1/events", headers=guard).json()["events"]
    assert [datetime.fromisoformat(e["ts"]) for e in found] == [datetime(2024, 5, 1, 21, tzinfo=timezone.utc),
                                                                 datetime(2024, 5, 1, 20, tzinfo=timezone.utc)]
    assert [datetime.fromisoformat(m["at"]) for m in cloud.trip(co["token"], trip["id"])["milestones"]] == [local]
    # The time filter works on instants too, whatever offset the caller writes.
    since = cloud.client.get("/api/v1/events", params={"since": "2024-05-02T03:30:00+07:00"}, headers=guard)
    assert [e["seq"] for e in since.json()["events"]] == [2]
    until = cloud.client.get("/api/v1/events", params={"until": "2024-05-01T20:30:00Z"}, headers=guard)
    assert [e["seq"] for e in until.json()["events"]] == [1]
