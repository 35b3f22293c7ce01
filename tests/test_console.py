"""The web console over the real central service (uvicorn on a free port, SQLite file): sessions, CSRF,
throttling, expiry, role checks on every page, escaping, and each actor's pages doing their work."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, update

from cloud.auth import SESSION_IDLE
from cloud.store import schema
from tests.cloudsvc import PASSWORD, CloudService, random_plate
from tests.console_helpers import (JPEG, Person, agency_person, declare, gate_event, push_events, push_snapshot,
                                   register_company, unique)

HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudService]:
    service = CloudService(tmp_path_factory.mktemp("console"))
    yield service
    service.close()


@pytest.fixture(scope="module")
def admin(svc: CloudService) -> Person:
    p = Person(svc)
    p.login("admin")
    return p


def trip_count(svc: CloudService) -> int:
    with svc.db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.trips)).scalar() or 0)


# ------------------------------------------------------------------------------------------ sessions


def test_login_sets_a_strict_httponly_session_and_logout_kills_the_token(svc: CloudService) -> None:
    p = Person(svc)
    r = p.login("admin")
    cookie = r.headers["set-cookie"]
    assert "gc_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert r.headers["location"] == "/"
    assert p.get("/", 303).headers["location"] == "/monitor"
    stolen = p.http.cookies.get("gc_session")
    p.post("/logout", {})
    assert p.get("/monitor", 303).headers["location"].startswith("/login")
    # The token itself is revoked: a copy of the cookie (e.g. stolen before logout) no longer works.
    thief = Person(svc)
    thief.http.cookies.set("gc_session", stolen)
    assert thief.get("/monitor", 303).headers["location"].startswith("/login")


def test_wrong_password_is_refused_and_throttled_even_with_the_right_one(svc: CloudService) -> None:
    company, username = register_company(svc)
    p = Person(svc)
    for _ in range(5):
        r = p.login(username, "wrong password!", expect=401)
        assert "Sai tên đăng nhập hoặc mật khẩu" in r.text
    r = p.login(username, PASSWORD, expect=429)  # the right password, but too many failures just before
    assert "thử lại sau 15 phút" in r.text
    assert "gc_session" not in p.http.cookies
    with svc.db.begin() as conn:
        a = schema.audit_log
        assert conn.execute(select(func.count()).where(a.c.action == "login_failed", a.c.object == username)).scalar() == 5


def test_an_expired_session_sends_back_to_login(svc: CloudService) -> None:
    p, _ = register_company(svc)
    assert p.get("/trips").status_code == 200
    with svc.db.begin() as conn:  # the session's expiry passes (as 12 hours later)
        conn.execute(update(schema.tokens).where(schema.tokens.c.token_hash == _digest(p.http.cookies["gc_session"]))
                     .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    r = p.get("/trips", 303)
    assert r.headers["location"] == "/login?next=/trips&expired=1"
    assert "hết hạn" in p.get(r.headers["location"]).text


def test_a_session_left_idle_sends_back_to_login(svc: CloudService) -> None:
    p, _ = register_company(svc)
    assert p.get("/trips").status_code == 200
    with svc.db.begin() as conn:  # nobody used it for half an hour (the office PC left signed in)
        conn.execute(update(schema.tokens).where(schema.tokens.c.token_hash == _digest(p.http.cookies["gc_session"]))
                     .values(last_used_at=datetime.now(timezone.utc) - SESSION_IDLE))
    r = p.get("/trips", 303)
    assert r.headers["location"] == "/login?next=/trips&expired=1"


def test_a_revoked_account_loses_its_console_session_at_once(svc: CloudService, admin: Person) -> None:
    officer = agency_person(svc, "customs")
    assert officer.get("/work").status_code == 200
    with svc.db.begin() as conn:
        a = schema.accounts
        account_id = conn.execute(select(a.c.id).where(a.c.role == "agency").order_by(a.c.id.desc())).scalar()
    admin.post(f"/admin/accounts/{account_id}/revoke", {}, form_page="/admin/accounts")
    assert officer.get("/work", 303).headers["location"].startswith("/login")


def test_a_gate_device_token_is_not_a_console_session(svc: CloudService) -> None:
    p = Person(svc)
    p.http.cookies.set("gc_session", svc.gate_token("kb1_in"))
    assert p.get("/yards", 303).headers["location"].startswith("/login")


def test_next_after_login_stays_on_this_site(svc: CloudService) -> None:
    for target, expected in (("/yards", "/yards"), ("//evil.example/x", "/"), ("https://evil.example", "/")):
        p = Person(svc)
        r = p.post("/login", {"username": "admin", "password": PASSWORD, "next": target}, form_page="/login")
        assert r.headers["location"] == expected


# ------------------------------------------------------------------------------------------ CSRF


def test_forms_without_the_right_csrf_token_are_refused(svc: CloudService) -> None:
    p, _ = register_company(svc)
    before = trip_count(svc)
    body = {"plate": random_plate(), "flow": "export"}
    assert p.post("/trips/new", body, 400, csrf="").status_code == 400  # no token
    assert p.post("/trips/new", body, 400, csrf="0" * 64).status_code == 400  # a guessed one
    other, _ = register_company(svc)  # another signed-in person's token does not fit this session
    assert p.post("/trips/new", body, 400, csrf=other.csrf("/trips/new")).status_code == 400
    # The right token, but posted from another site's page.
    assert p.post("/trips/new", body, 400, form_page="/trips/new",
                  headers={"Origin": "https://evil.example"}).status_code == 400
    assert trip_count(svc) == before
    # Anonymous forms: the login form's token must match the visitor's own cookie.
    stranger = Person(svc)
    assert stranger.post("/login", {"username": "admin", "password": PASSWORD}, 400, csrf="x" * 43).status_code == 400
    assert "gc_session" not in stranger.http.cookies
    # And the token that does fit works.
    p.post("/trips/new", body, form_page="/trips/new")
    assert trip_count(svc) == before + 1


# ------------------------------------------------------------------------------------------ roles


PAGES_GET = ["/trips", "/trips/new", "/work", "/yard", "/queue", "/events", "/events.csv", "/monitor",
             "/monitor/live", "/stats", "/admin/accounts", "/admin/gates", "/admin/watchlist", "/yards"]
ALLOWED = {
    "company": {"/trips", "/trips/new", "/yards"},
    "customs": {"/work", "/yards"},
    "border_guard": {"/work", "/queue", "/events", "/events.csv", "/yards"},
    "yard_operator": {"/work", "/yard", "/yards"},
    "admin": {"/queue", "/events", "/events.csv", "/monitor", "/monitor/live", "/stats", "/admin/accounts",
              "/admin/gates", "/admin/watchlist", "/yards"},
}


def test_every_page_checks_the_role(svc: CloudService, admin: Person) -> None:
    people = {"company": register_company(svc)[0], "customs": agency_person(svc, "customs"),
              "border_guard": agency_person(svc, "border_guard"),
              "yard_operator": agency_person(svc, yard="kb2"), "admin": admin}
    anonymous = Person(svc)
    for path in PAGES_GET:
        assert anonymous.get(path, 303).headers["location"].startswith("/login?next=")
        for role, p in people.items():
            status = p.get(path, None).status_code
            assert status == (200 if path in ALLOWED[role] else 403), (role, path, status)
    # Actions too: a company may not confirm, call the queue or administer; an agency may not declare.
    company, customs = people["company"], people["customs"]
    trip = declare(company, random_plate())
    company.post(f"/trips/{trip}/confirm", {"step": "transport_permit", "decision": "confirmed"}, 403)
    company.post("/queue/call-next", {}, 403)
    company.post("/admin/watchlist", {"plate": "29C12345", "reason": "x"}, 403)
    customs.post("/trips/new", {"plate": random_plate(), "flow": "export"}, 403)
    customs.post(f"/trips/{trip}/cancel", {}, 403)
    # An agency confirms only its own steps (customs may not give the border guard's check).
    customs.post(f"/trips/{trip}/confirm", {"step": "border_check_2bc", "decision": "confirmed"}, 403)
    people["yard_operator"].post(f"/trips/{trip}/confirm", {"step": "fee_paid"}, 403)
    for anon_post in ("/trips/new", "/queue/call-next", "/admin/watchlist", f"/trips/{trip}/cancel"):
        assert anonymous.post(anon_post, {}, 303, csrf="").headers["location"].startswith("/login")


def test_a_company_cannot_open_another_companys_trip_by_url(svc: CloudService) -> None:
    owner, _ = register_company(svc)
    other, _ = register_company(svc)
    trip = declare(owner, random_plate(), goods="sầu riêng")
    assert owner.get(f"/trips/{trip}").status_code == 200
    for path in (f"/trips/{trip}", f"/trips/{trip}/edit"):
        r = other.get(path, 404)
        assert "sầu riêng" not in r.text
    other.post(f"/trips/{trip}/edit", {"goods": "x"}, 404, form_page="/trips/new")
    other.post(f"/trips/{trip}/cancel", {}, 404)
    other.get("/trips/00000000-0000-0000-0000-000000000000", 404)  # the same answer as for a trip that exists
    assert "sầu riêng" in owner.get(f"/trips/{trip}").text  # untouched


# ------------------------------------------------------------------------------------------ company


def test_company_declares_corrects_follows_and_cancels_a_trip(svc: CloudService) -> None:
    p, _ = register_company(svc)
    plate = random_plate()
    bad = p.post("/trips/new", {"plate": "!!", "flow": "export", "driver_phone": "call me"}, 422, form_page="/trips/new")
    assert 'aria-invalid="true"' in bad.text or "alert" in bad.text
    trip = declare(p, plate, goods="vải thiều", driver_name="Trần Văn B", driver_phone="0912 345 678",
                   driver_id_number="001234567890", registered_load_t="15.5")
    page = p.get(f"/trips/{trip}").text
    assert "vải thiều" in page and "Trần Văn B" in page and "001234567890" in page
    assert "Barie 2B, 2C" in page and "Hoàn thành kiểm tra biên phòng tại Barie 2B, 2C" in page  # timeline steps
    assert plate in p.get("/trips").text
    # Correct: plant quarantine now required, goods changed.
    p.post(f"/trips/{trip}/edit", [("goods", "thanh long"), ("driver_name", "Trần Văn B"),
                                   ("conditional_steps[]", "plant_quarantine")], form_page=f"/trips/{trip}/edit")
    page = p.get(f"/trips/{trip}").text
    assert "thanh long" in page and "Hoàn thành kiểm dịch thực vật" in page
    p.post(f"/trips/{trip}/cancel", {}, form_page=f"/trips/{trip}")
    assert "Đã hủy" in p.get(f"/trips/{trip}").text
    p.post(f"/trips/{trip}/cancel", {}, 409, form_page=f"/trips/{trip}")  # already cancelled
    # The same trip through the API: one set of rules.
    api = svc.http(svc.company, "GET", f"/api/v1/trips?plate={plate}")
    assert api["trips"] == []  # another company's trip is invisible to the fixture's company


def test_registration_refuses_a_taken_username_and_weak_input(svc: CloudService) -> None:
    _, username = register_company(svc)
    p = Person(svc)
    r = p.post("/register", {"company_name": "Công ty X", "tax_code": "0101010101", "username": username,
                             "password": PASSWORD, "display_name": "X"}, 409, form_page="/register")
    assert "đã được đăng ký" in r.text
    r = p.post("/register", {"company_name": "Công ty Y", "tax_code": "12", "username": "A B",
                             "password": "short", "display_name": "Y"}, 422, form_page="/register")
    assert r.text.count('aria-invalid="true"') == 3


def test_yards_show_capacity_to_every_person(svc: CloudService) -> None:
    p, _ = register_company(svc)
    page = p.get("/yards").text
    for y in svc.site.yards:
        assert y.name in page and f'max="{y.capacity}"' in page


# ------------------------------------------------------------------------------------------ agencies


def test_agency_worklist_confirm_and_refuse_with_a_note(svc: CloudService) -> None:
    company, _ = register_company(svc)
    plate = random_plate()
    trip = declare(company, plate)
    guard = agency_person(svc, "border_guard")
    work = guard.get("/work?step=border_check_2bc").text
    assert plate in work
    guard.post(f"/trips/{trip}/confirm", {"step": "border_check_2bc", "decision": "refused", "note": "thiếu giấy tờ",
                                          "back": "work"}, form_page="/work")
    work = guard.get("/work?step=border_check_2bc").text
    assert plate in work and "thiếu giấy tờ" in work  # refused trips stay on the list, with the note
    r = guard.post(f"/trips/{trip}/confirm", {"step": "border_check_2bc", "decision": "confirmed", "back": "work"},
                   form_page="/work")
    assert r.headers["location"] == "/work?step=border_check_2bc"
    assert plate not in guard.get("/work?step=border_check_2bc").text
    page = company.get(f"/trips/{trip}").text
    assert "thiếu giấy tờ" in page and "Đủ điều kiện qua" in page  # kb2_in / 2B-2C now cleared
    # The permit exists for the gate (the permit compiler ran in the same transaction).
    assert trip in {p["trip_id"] for p in svc.http(svc.gate_token("kb2_in"), "GET", "/api/v1/gate/permits")["upserts"]}
    # A conditional step shows only for trips that need it.
    plant = agency_person(svc, "plant_quarantine")
    assert plate not in plant.get("/work").text
    guard.get("/work?step=fee_paid", 403)  # not the border guard's step


def test_customs_officer_sees_no_driver_id(svc: CloudService) -> None:
    company, _ = register_company(svc)
    trip = declare(company, random_plate(), driver_id_number="079123456789")
    customs = agency_person(svc, "customs")
    assert "079123456789" not in customs.get(f"/trips/{trip}").text
    assert "079123456789" in agency_person(svc, "border_guard").get(f"/trips/{trip}").text


def test_yard_operator_sees_expected_and_inside_trucks(svc: CloudService) -> None:
    company, _ = register_company(svc)
    guard = agency_person(svc, "border_guard")
    plates = [random_plate(), random_plate()]
    trips = [declare(company, p) for p in plates]
    for t in trips:
        guard.post(f"/trips/{t}/confirm", {"step": "border_check_2bc"}, form_page="/work")
    token = svc.gate_token("kb2_in")
    push_events(svc, token, [gate_event(1, "passage", plates[0], payload={"trip_id": trips[0]})])
    operator = agency_person(svc, yard="kb2")
    page = operator.get("/yard").text
    expected, inside = page.split("Xe trong bãi")
    assert plates[1] in expected and plates[0] not in expected
    assert plates[0] in inside and plates[1] not in inside
    assert re.search(r"Đang có: <strong>\d+</strong> / 300", page)


def test_border_guard_calls_the_queue_and_the_gate_gets_the_call(svc: CloudService) -> None:
    token = svc.gate_token("export_waiting_in")
    plates = [random_plate() for _ in range(3)]
    push_events(svc, token, [gate_event(i + 1, "passage", p, payload={"queue_number": 100 + i})
                             for i, p in enumerate(plates)])
    guard = agency_person(svc, "border_guard")
    page = guard.get("/queue").text
    assert all(p in page for p in plates)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    r = guard.post("/queue/call-next", {}, form_page="/queue")
    assert r.headers["location"] == "/queue?called=100"
    assert f"Đã gọi xe số 100, biển số {plates[0]}" in guard.get(r.headers["location"]).text
    guard.post("/queue/call-next", {}, form_page="/queue")
    calls = svc.http(token, "GET", "/api/v1/gate/queue-calls", params={"since": before.isoformat()})["calls"]
    assert [c["number"] for c in calls] == [100, 101]
    assert calls[0]["lines"][0] == "MỜI XE SỐ 100" and calls[0]["plate"] == plates[0]
    # Another gate's token sees none of them.
    assert svc.http(svc.gate_token("kb1_in"), "GET", "/api/v1/gate/queue-calls")["calls"] == []


# ------------------------------------------------------------------------------------------ central office


def test_monitor_search_snapshot_csv_and_stats(svc: CloudService, admin: Person) -> None:
    token = svc.gate_token("kb1_in")
    sha = push_snapshot(svc, token)
    plate = random_plate()
    push_events(svc, token, [
        gate_event(1, "decision", plate, reason="permit_ok", payload={"allow": True, "confidence": 0.93}, snapshot=sha),
        gate_event(2, "barrier", plate, reason="opened"),
        gate_event(3, "passage", plate, payload={}),
        gate_event(4, "decision", "=HYPERLINK(1)", reason="no_permit", payload={"allow": False, "confidence": 0.41}),
    ])
    monitor = admin.get("/monitor").text
    card = monitor.split('id="gate-kb1_in"')[1].split("</li>\n</ul>")[0]
    assert "Trực tuyến" in card and plate in card and f'src="/snapshots/{sha}"' in card and "opened" in card
    live = admin.get("/monitor/live").text
    assert plate in live and "<html" not in live
    img = admin.get(f"/snapshots/{sha}")
    assert img.content == JPEG and img.headers["content-type"] == "image/jpeg"
    found = admin.get(f"/events?plate={plate}&gate=kb1_in").text
    assert found.count(f"<td>{plate}</td>") == 3 and f"/snapshots/{sha}" in found
    elsewhere = admin.get(f"/events?plate={plate}&gate=kb2_in").text
    assert f"<td>{plate}</td>" not in elsewhere and "Không có kết quả" in elsewhere
    rows = list(csv.reader(io.StringIO(admin.get("/events.csv?gate=kb1_in").text)))
    assert rows[0][:4] == ["event_id", "gate_id", "seq", "ts"]
    assert {r[5] for r in rows[1:]} >= {plate, "'=HYPERLINK(1)"}  # a formula is defused
    stats = admin.get("/stats?days=2").text
    assert stats.count("<svg") == 5 and "Chưa đủ điều kiện" in stats  # denial by reason no_permit
    company, _ = register_company(svc)
    company.get(f"/snapshots/{sha}", 403)


def test_admin_manages_accounts_gates_and_watchlist(svc: CloudService, admin: Person) -> None:
    username = unique("hq.")
    admin.post("/admin/accounts", {"username": username, "display_name": "Hải quan", "password": PASSWORD,
                                   "role": "agency", "agency": "customs"}, form_page="/admin/accounts")
    assert username in admin.get("/admin/accounts?role=agency").text
    admin.post("/admin/accounts", {"username": unique("x."), "display_name": "X", "password": PASSWORD,
                                   "role": "agency", "agency": "no_such_agency"}, 422, form_page="/admin/accounts")
    officer = Person(svc)
    officer.login(username)
    assert officer.get("/work").status_code == 200
    r = admin.post("/admin/gates/kb2_out/token", {}, 200, form_page="/admin/gates")
    token = re.search(r'<code id="new-token">([^<]+)</code>', r.text).group(1)
    assert r.headers["cache-control"] == "no-store"
    assert svc.http(token, "GET", "/api/v1/gate/permits")["full"] is True
    admin.post("/admin/gates/kb2_out/revoke", {}, form_page="/admin/gates")
    assert requests.get(f"{svc.url}/api/v1/gate/permits", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 401
    admin.post("/admin/watchlist", {"plate": "29C-999.99", "reason": HOSTILE}, form_page="/admin/watchlist")
    page = admin.get("/admin/watchlist").text
    assert "29C99999" in page and "<script>alert" not in page and "&lt;script&gt;" in page
    assert any(w["plate"] == "29C99999" for w in svc.http(svc.admin, "GET", "/api/v1/admin/watchlist")["watchlist"])
    admin.post("/admin/watchlist/29C99999/remove", {}, form_page="/admin/watchlist")
    assert "29C99999" not in admin.get("/admin/watchlist").text


# ------------------------------------------------------------------------------------------ escaping, language


def test_hostile_text_is_escaped_on_every_page_it_reaches(svc: CloudService, admin: Person) -> None:
    company, _ = register_company(svc, name=HOSTILE[:150])
    plate = random_plate()
    trip = declare(company, plate, goods=HOSTILE[:200], driver_name=HOSTILE[:200])
    guard = agency_person(svc, "border_guard")
    guard.post(f"/trips/{trip}/confirm", {"step": "border_check_2bc", "decision": "refused", "note": HOSTILE},
               form_page="/work")
    token = svc.gate_token("barrier_2bc_in")
    push_events(svc, token, [gate_event(1, "decision", plate, reason="<b>bad</b>", payload={"confidence": "<i>"})])
    pages = [company.get(f"/trips/{trip}"), company.get("/trips"), guard.get("/work?step=border_check_2bc"),
             guard.get(f"/trips/{trip}"), admin.get("/monitor"), admin.get(f"/events?plate={plate}"),
             admin.get("/stats")]
    for r in pages:
        assert "<script>alert" not in r.text and "<img src=x" not in r.text and "<b>bad</b>" not in r.text, r.url
        assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "&lt;script&gt;" in pages[0].text and "&lt;b&gt;bad&lt;/b&gt;" in pages[5].text


def test_vietnamese_first_with_an_english_switch(svc: CloudService) -> None:
    p = Person(svc)
    page = p.get("/login").text
    assert '<html lang="vi">' in page and "Đăng nhập" in page
    r = p.get("/login?lang=en")
    assert '<html lang="en">' in r.text and "Log in" in r.text
    assert 'lang="en"' in p.get("/login").text  # remembered in a cookie
    r = p.get("/lang/vi?next=/login", 303)
    assert r.headers["location"] == "/login" and '<html lang="vi">' in p.get("/login").text
    assert p.get("/lang/vi?next=https://evil.example", 303).headers["location"] == "/"


def test_every_form_field_has_a_label(svc: CloudService, admin: Person) -> None:
    company, _ = register_company(svc)
    pages = [Person(svc).get("/login").text, Person(svc).get("/register").text, company.get("/trips/new").text,
             admin.get("/admin/accounts").text, admin.get("/admin/watchlist").text, admin.get("/events").text]
    for page in pages:
        ids = re.findall(r'<(?:input|select|textarea)\b(?![^>]*type="(?:hidden|checkbox|radio)")[^>]*\bid="([^"]+)"', page)
        fields = re.findall(r'<(?:input|select|textarea)\b(?![^>]*type="(?:hidden|checkbox|radio)")[^>]*>', page)
        assert len(ids) == len(fields) and ids, page[:200]
        for i in ids:
            assert f'for="{i}"' in page, i


def _digest(token: str) -> str:
    import hashlib
    return hashlib.sha256(token.encode()).hexdigest()


def test_static_files_are_served_and_small() -> None:
    static = Path(__file__).resolve().parent.parent / "cloud" / "web" / "static"
    sizes = {p.name: p.stat().st_size for p in static.iterdir()}
    assert set(sizes) == {"console.css", "monitor.js"} and sum(sizes.values()) < 12_000


def test_call_next_is_published_on_the_live_channel(tmp_path: Path) -> None:
    """With the MQTT live channel, the call reaches the gate's queue topic (real Mosquitto)."""
    import json
    import queue as q
    import socket

    import paho.mqtt.client as mqtt

    from cloud.live import queue_topic
    from tests.conftest import service_missing

    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
    except OSError:
        service_missing("no MQTT broker on 127.0.0.1:1883 (start mosquitto)")
    service = CloudService(tmp_path / "mqtt", mqtt=("127.0.0.1", 1883))
    try:
        assert service.publisher is not None
        service.service.announce = service.publisher.queue_call  # as `gate-cloud serve --mqtt` wires it
        got: q.Queue[bytes] = q.Queue()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        sub.on_message = lambda _c, _u, msg: got.put(msg.payload)
        subscribed = q.Queue()
        sub.on_subscribe = lambda *a: subscribed.put(True)
        sub.connect("127.0.0.1", 1883)
        sub.loop_start()
        sub.subscribe(queue_topic(service.site.id, "export_waiting_in"), qos=1)
        subscribed.get(timeout=5)
        plate = random_plate()
        push_events(service, service.gate_token("export_waiting_in"),
                    [gate_event(1, "passage", plate, payload={"queue_number": 7})])
        guard = Person(service)
        guard.login("bp.kimthanh")
        guard.post("/queue/call-next", {}, form_page="/queue")
        call = json.loads(got.get(timeout=5))
        assert call["number"] == 7 and call["plate"] == plate and call["lines"][0] == "MỜI XE SỐ 7"
        assert "Mời xe số 7" in call["speech"]
        sub.loop_stop()
        sub.disconnect()
    finally:
        service.close()
