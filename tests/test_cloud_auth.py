"""Central service, authorisation: tokens, revocation, need-to-know access per role (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

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

from cloud.auth import issue_token
from cloud.store import schema

OPEN = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/companies/register"), ("GET", "/healthz")}
SAMPLE = {"trip_id": str(uuid.uuid4()), "gate_id": "kb2_in", "account_id": "1", "sha256": "a" * 64,
          "plate": "29C12345"}


@pytest.fixture
def cloud(db) -> Cloud:  # noqa: F811
    return Cloud(db)


def endpoints(cloud: Cloud) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the API as its OpenAPI description lists it, path parameters filled."""
    out = []
    for path, ops in cloud.app.openapi()["paths"].items():
        for method in ops:
            out.append((method.upper(), path.format(**SAMPLE)))
    return sorted(out)


def call(cloud: Cloud, method: str, path: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return cloud.client.request(method, path, json=body, headers=headers or {})


def test_every_endpoint_but_login_registration_and_health_needs_a_valid_token(cloud: Cloud) -> None:
    guarded = [(m, p) for m, p in endpoints(cloud) if (m, p) not in OPEN]
    assert len(guarded) >= 20  # trips, confirmations, admin, gate: a new endpoint joins this list by itself
    assert {("GET", "/api/v1/gate/permits"), ("POST", "/api/v1/gate/events"),
            ("POST", "/api/v1/admin/accounts"), ("GET", "/api/v1/me")} <= set(guarded)
    for method, path in guarded:
        for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
            r = call(cloud, method, path, headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
    assert cloud.client.get("/healthz").status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(cloud: Cloud) -> None:
    cloud.account("agency", agency="customs", password="the right password")
    username = rows(cloud.db, schema.accounts)[0].username
    wrong = cloud.client.post("/api/v1/auth/login", json={"username": username, "password": "the wrong password"})
    nobody = cloud.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "the wrong password"})
    assert wrong.status_code == nobody.status_code == 401 and wrong.json() == nobody.json()


def test_tokens_are_stored_hashed_and_expire(cloud: Cloud) -> None:
    account_id, token = cloud.account("agency", agency="customs")
    stored = [r.token_hash for r in rows(cloud.db, schema.tokens)]
    assert token not in stored and all(len(h) == 64 for h in stored)
    with cloud.db.begin() as conn:
        expired = issue_token(conn, account_id=account_id, ttl=timedelta(seconds=-1))
    assert cloud.client.get("/api/v1/me", headers=bearer(expired)).status_code == 401
    assert cloud.client.get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_a_session_left_idle_ends_and_one_in_use_lives_on(cloud: Cloud) -> None:
    """Idle timeout of a person's session (SESSION_IDLE); a gate's device token has none."""
    from cloud.auth import SESSION_IDLE, SESSION_TOUCH, _digest, principal_for
    from cloud.store.db import utcnow

    account_id, _ = cloud.account("agency", agency="customs")
    gate_token = cloud.gate("kb2_in")
    t0 = utcnow()
    with cloud.db.begin() as conn:
        busy = issue_token(conn, account_id=account_id, ttl=timedelta(hours=12))
        idle = issue_token(conn, account_id=account_id, ttl=timedelta(hours=12))
    step = SESSION_IDLE - timedelta(minutes=5)
    for k in range(1, 4):  # used every 25 minutes: still valid 75 minutes after it was issued
        with cloud.db.begin() as conn:
            assert principal_for(conn, busy, now=t0 + k * step) is not None
    with cloud.db.begin() as conn:
        assert principal_for(conn, idle, now=t0 + SESSION_IDLE - timedelta(seconds=1)) is not None
        assert principal_for(conn, idle, now=t0 + 2 * SESSION_IDLE) is None  # 30 minutes after its last use
        assert principal_for(conn, gate_token, now=t0 + timedelta(days=10)) is not None
    # Use is written at most once a minute.
    last = {r.token_hash: r.last_used_at for r in rows(cloud.db, schema.tokens)}[_digest(busy)]
    with cloud.db.begin() as conn:
        assert principal_for(conn, busy, now=t0 + 3 * step + SESSION_TOUCH / 2) is not None
    assert {r.token_hash: r.last_used_at for r in rows(cloud.db, schema.tokens)}[_digest(busy)] == last
    # Over the API: a session idle for too long is refused like an expired one.
    with cloud.db.begin() as conn:
        conn.execute(schema.tokens.update().where(schema.tokens.c.token_hash == _digest(busy))
                     .values(last_used_at=utcnow() - SESSION_IDLE - timedelta(seconds=1)))
    assert cloud.client.get("/api/v1/me", headers=bearer(busy)).status_code == 401


def test_account_revocation_takes_effect_on_the_next_request(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    account_id, guard = cloud.account("agency", agency="border_guard", password="guard password 1")
    with cloud.db.begin() as conn:
        second_session = issue_token(conn, account_id=account_id)
    assert cloud.client.get(f"/api/v1/trips/{trip['id']}", headers=bearer(guard)).status_code == 200
    r = cloud.client.post(f"/api/v1/admin/accounts/{account_id}/revoke", headers=bearer(cloud.admin))
    assert r.status_code == 200 and r.json() == {"account_id": account_id, "active": False}
    for token in (guard, second_session):
        assert cloud.client.get(f"/api/v1/trips/{trip['id']}", headers=bearer(token)).status_code == 401
        r = cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": "border_check_2bc"},
                              headers=bearer(token))
        assert r.status_code == 401
    username = next(r.username for r in rows(cloud.db, schema.accounts) if r.id == account_id)
    relog = cloud.client.post("/api/v1/auth/login", json={"username": username, "password": "guard password 1"})
    assert relog.status_code == 401
    assert rows(cloud.db, schema.confirmations) == []
    # Company accounts are revoked the same way.
    cloud.client.post(f"/api/v1/admin/accounts/{co['account_id']}/revoke", headers=bearer(cloud.admin))
    assert cloud.client.get("/api/v1/trips", headers=bearer(co["token"])).status_code == 401


def test_gate_token_revocation_and_reissue_take_effect_on_the_next_request(cloud: Cloud) -> None:
    old = cloud.gate("kb2_in")
    assert cloud.client.get("/api/v1/gate/permits", headers=bearer(old)).status_code == 200
    r = cloud.client.post("/api/v1/admin/gates/kb2_in/token", headers=bearer(cloud.admin))
    assert r.status_code == 201 and r.json()["revoked"] == 1
    new = r.json()["token"]
    assert cloud.client.get("/api/v1/gate/permits", headers=bearer(old)).status_code == 401
    assert cloud.client.get("/api/v1/gate/permits", headers=bearer(new)).status_code == 200
    r = cloud.client.post("/api/v1/admin/gates/kb2_in/revoke", headers=bearer(cloud.admin))
    assert r.json() == {"gate_id": "kb2_in", "revoked": 1}
    batch = {"events": [event(1)]}
    assert cloud.client.post("/api/v1/gate/events", json=batch, headers=bearer(new)).status_code == 401
    assert rows(cloud.db, schema.gate_events) == []
    # Only gates of the site get tokens.
    assert cloud.client.post("/api/v1/admin/gates/no_such_gate/token", headers=bearer(cloud.admin)).status_code == 404


def test_a_company_cannot_see_change_or_cancel_another_companys_trip(cloud: Cloud) -> None:
    a, b = cloud.company("Công ty A"), cloud.company("Công ty B")
    trip = cloud.declare(a["token"], plate="29C-555.55", driver_id_number="001122334455")
    missing = str(uuid.uuid4())
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"goods": "stolen"}), ("POST", "/cancel", None)):
        theirs = cloud.client.request(method, f"/api/v1/trips/{trip['id']}{suffix}", json=body,
                                      headers=bearer(b["token"]))
        absent = cloud.client.request(method, f"/api/v1/trips/{missing}{suffix}", json=body, headers=bearer(b["token"]))
        assert theirs.status_code == absent.status_code == 404, (method, suffix)
        assert theirs.json() == absent.json() and theirs.headers.get("content-length") == absent.headers.get(
            "content-length")
    # Not in B's list, not even by plate; A's trip is untouched.
    assert cloud.client.get("/api/v1/trips", headers=bearer(b["token"])).json()["trips"] == []
    assert cloud.client.get("/api/v1/trips", params={"plate": "29C55555"},
                            headers=bearer(b["token"])).json()["trips"] == []
    mine = cloud.trip(a["token"], trip["id"])
    assert mine["status"] == "open" and mine["goods"] is None
    # A company confirms nothing (403 whether or not the trip exists: the check comes before the lookup).
    for tid in (trip["id"], missing):
        r = cloud.client.post(f"/api/v1/trips/{tid}/confirmations", json={"step": "fee_paid"},
                              headers=bearer(b["token"]))
        assert r.status_code == 403
    assert rows(cloud.db, schema.confirmations) == []


def test_an_agency_confirms_only_its_own_steps(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    customs = cloud.agency("customs")
    for step in ("border_check_2bc", "fee_paid", "plant_quarantine"):
        r = cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": step},
                              headers=bearer(customs))
        assert r.status_code == 403 and "customs" not in r.json()["detail"].split(" by ")[-1]
    assert cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": "customs_cleared"},
                             headers=bearer(customs)).status_code == 201
    assert cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": "no_such_step"},
                             headers=bearer(customs)).status_code == 404
    # The management board does not confirm agencies' steps either.
    assert cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", json={"step": "customs_cleared"},
                             headers=bearer(cloud.admin)).status_code == 403
    assert [(c.step, c.agency) for c in rows(cloud.db, schema.confirmations)] == [("customs_cleared", "customs")]
    # Agencies neither declare, correct nor cancel trips.
    assert cloud.client.post("/api/v1/trips", json={"plate": "29C12346", "flow": "export"},
                             headers=bearer(customs)).status_code == 403
    assert cloud.client.patch(f"/api/v1/trips/{trip['id']}", json={"goods": "x"},
                              headers=bearer(customs)).status_code == 403
    assert cloud.client.post(f"/api/v1/trips/{trip['id']}/cancel", headers=bearer(customs)).status_code == 403
    # An agency's worklist is for its own steps.
    assert cloud.client.get("/api/v1/trips", params={"waiting_for": "border_check_2bc"},
                            headers=bearer(customs)).status_code == 403
    waiting = cloud.client.get("/api/v1/trips", params={"waiting_for": "customs_export_eligible"},
                               headers=bearer(customs)).json()["trips"]
    assert [t["id"] for t in waiting] == [trip["id"]]
    assert cloud.client.get("/api/v1/trips", params={"waiting_for": "customs_cleared"},
                            headers=bearer(customs)).json()["trips"] == []


def test_only_the_border_guard_among_agencies_sees_the_drivers_id_number(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"], driver_name="Trần Văn B", driver_phone="+84 912 345 678",
                         driver_id_number="079123456789")
    personal = {"driver_name": "Trần Văn B", "driver_phone": "+84 912 345 678", "driver_id_number": "079123456789"}
    _, yard = cloud.account("yard_operator", yard="private_yard_a")
    for token, sees in ((co["token"], True), (cloud.admin, True), (cloud.agency("border_guard"), True),
                        (cloud.agency("customs"), False), (cloud.agency("plant_quarantine"), False),
                        (cloud.agency("service_centre"), False), (yard, False)):
        one = cloud.trip(token, trip["id"])
        listed = next(t for t in cloud.client.get("/api/v1/trips", headers=bearer(token)).json()["trips"]
                      if t["id"] == trip["id"])
        for view in (one, listed):
            assert view["plate"] == "29C12345"
            if sees:
                assert {k: view[k] for k in personal} == personal
            else:
                assert not set(personal) & set(view), view
                assert "079123456789" not in str(view)
    # The event search (with its plates and payloads) is for the board and the border guard only.
    assert cloud.client.get("/api/v1/events", headers=bearer(cloud.agency("border_guard"))).status_code == 200
    assert cloud.client.get("/api/v1/events", headers=bearer(cloud.admin)).status_code == 200
    for token in (co["token"], cloud.agency("customs"), yard):
        assert cloud.client.get("/api/v1/events", headers=bearer(token)).status_code == 403


def test_a_gate_token_works_only_on_the_gate_api(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    gate = cloud.gate("kb2_in")
    outside = [(m, p) for m, p in endpoints(cloud)
               if not p.startswith("/api/v1/gate/") and (m, p) not in OPEN]
    for method, path in outside:
        r = call(cloud, method, path.replace(SAMPLE["trip_id"], trip["id"]), bearer(gate))
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert cloud.client.get("/api/v1/gate/permits", headers=bearer(gate)).status_code == 200
    # And people's tokens do not work on the gate API.
    for token in (co["token"], cloud.agency("border_guard"), cloud.admin):
        for method, path in (("GET", "/api/v1/gate/permits"), ("POST", "/api/v1/gate/events"),
                             ("PUT", f"/api/v1/gate/snapshots/{'a' * 64}"), ("GET", f"/api/v1/gate/snapshots/{'a' * 64}")):
            assert call(cloud, method, path, bearer(token)).status_code == 403, (method, path)
    assert cloud.trip(co["token"], trip["id"])["status"] == "open"


def test_a_gate_ingests_only_as_itself(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"])
    cloud.confirm(trip["id"], "border_check_2bc")
    mine = event(1, plate="29C12345", reason="permit")
    assert cloud.push("kb2_in", [mine]) == {"stored": [mine["event_id"]], "new": 1}
    # barrier_2bc_in re-sends kb2_in's event id (with other content) next to one of its own: the foreign id is
    # not confirmed to it, and the stored event stays kb2_in's.
    forged = passage(7, trip, event_id=mine["event_id"])
    own = event(8, plate="29C12345")
    out = cloud.push("barrier_2bc_in", [forged, own])
    assert out == {"stored": [own["event_id"]], "new": 1}
    stored = {r.event_id: r for r in rows(cloud.db, schema.gate_events)}
    assert stored[mine["event_id"]].gate_id == "kb2_in" and stored[mine["event_id"]].type == "decision"
    assert stored[own["event_id"]].gate_id == "barrier_2bc_in"
    assert cloud.trip(co["token"], trip["id"])["milestones"] == []  # the forged passage advanced nothing
    # A passage is recorded at the gate of the token, whatever its payload says.
    claimed = passage(9, trip) | {"payload": {"trip_id": trip["id"], "gate": "barrier1_out"}}
    cloud.push("kb2_in", [claimed])
    assert [(m["gate_id"], m["milestone"]) for m in cloud.trip(co["token"], trip["id"])["milestones"]] == [
        ("kb2_in", "arrived_kb2")]
    # Each gate pulls only its own permits.
    assert {p["permit_id"].split(":")[1] for p in cloud.pull("barrier_2bc_in")["upserts"]} == {"barrier_2bc_in"}
    assert cloud.pull("kb2_in")["upserts"] == []


def test_admin_endpoints_need_the_management_board(cloud: Cloud) -> None:
    co = cloud.company()
    _, yard = cloud.account("yard_operator", yard="kb1")
    admin_routes = [(m, p) for m, p in endpoints(cloud) if p.startswith("/api/v1/admin/")]
    assert len(admin_routes) == 7
    for token in (co["token"], cloud.agency("border_guard"), yard, cloud.gate("kb1_in")):
        for method, path in admin_routes:
            assert call(cloud, method, path, bearer(token)).status_code == 403, (method, path)
    # Nothing happened: no new account, gate token, revocation or watchlist entry.
    assert len(rows(cloud.db, schema.accounts)) == 4
    assert rows(cloud.db, schema.watchlist) == []
    assert all(r.revoked_at is None for r in rows(cloud.db, schema.tokens))
    # Companies register themselves; the board alone makes agency, yard and admin accounts.
    r = cloud.client.post("/api/v1/admin/accounts", headers=bearer(cloud.admin), json={
        "username": "kiem-dich.tv", "password": "long enough pw", "role": "agency", "display_name": "KDTV",
        "agency": "plant_quarantine"})
    assert r.status_code == 201
    dup = cloud.client.post("/api/v1/admin/accounts", headers=bearer(cloud.admin), json={
        "username": "kiem-dich.tv", "password": "long enough pw", "role": "agency", "display_name": "KDTV",
        "agency": "plant_quarantine"})
    assert dup.status_code == 409
    for bad in ({"role": "agency", "agency": "cia"}, {"role": "yard_operator", "yard": "nowhere"},
                {"role": "company"}):
        r = cloud.client.post("/api/v1/admin/accounts", headers=bearer(cloud.admin), json={
            "username": "someone", "password": "long enough pw", "display_name": "X"} | bad)
        assert r.status_code == 422, bad


def test_a_yard_operator_confirms_its_yard_steps_and_nothing_else(cloud: Cloud) -> None:
    co = cloud.company()
    trip = cloud.declare(co["token"], plate="30A-111.22", flow="import")
    _, yard = cloud.account("yard_operator", yard="private_yard_a")
    ok = cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", headers=bearer(yard),
                           json={"step": "arrived_private_yard", "note": "xe vào bãi"})
    assert ok.status_code == 201
    [c] = [c for c in ok.json()["confirmations"] if c["step"] == "arrived_private_yard"]
    assert c["agency"] == "yard_operator" and c["decision"] == "confirmed"
    other = cloud.client.post(f"/api/v1/trips/{trip['id']}/confirmations", headers=bearer(yard),
                              json={"step": "fee_paid"})
    assert other.status_code == 403
