"""Gate monitor "online" from the gates' MQTT status (retained "online", last will "offline") over the real
Mosquitto broker (127.0.0.1:1883) and the real central service; the event-window fallback without MQTT or
with the service's broker link down; the presence records on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cloud_helpers import SITE, db, fast_passwords, pg_url  # noqa: F401  (fixtures)
from sqlalchemy import insert, update

from cloud import presence
from cloud.live import StatusListener, listen_status, status_topic
from cloud.reports import monitor
from cloud.store import schema
from cloud.store.db import Database
from tests.cloudsvc import CloudService, random_plate
from tests.conftest import REPO, service_missing
from tests.console_helpers import Person, gate_event, push_events

BROKER = ("127.0.0.1", 1883)
GATE = "kb2_in"


def _need_broker() -> None:
    try:
        socket.create_connection(BROKER, timeout=1).close()
    except OSError:
        service_missing("no MQTT broker on 127.0.0.1:1883 (start mosquitto)")


def card(page: str, gate: str) -> str:
    return page.split(f'id="gate-{gate}"')[1].split("</li>\n")[0]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.1)
    return time.monotonic() - t0


def clear_retained(site_id: str, gate: str) -> None:
    """Leave no retained status of this test's site on the shared broker."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"clear-{uuid.uuid4().hex[:8]}")
    c.connect(*BROKER)
    c.loop_start()
    c.publish(status_topic(site_id, gate), b"", qos=1, retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[CloudService, StatusListener]]:
    _need_broker()
    svc = CloudService(tmp_path / "cloud", mqtt=BROKER)
    listener = listen_status(svc.service, *BROKER, client_id=f"status-{uuid.uuid4().hex[:8]}")  # as serve --mqtt
    try:
        assert listener.connected.wait(5)
        yield svc, listener
    finally:
        listener.close()
        svc.close()
        clear_retained(svc.site.id, GATE)


def test_monitor_shows_a_gate_online_by_its_live_channel_and_offline_by_its_last_will(cloud) -> None:
    svc, listener = cloud
    svc.gate_token(GATE)  # registered and active, never synced
    admin = Person(svc)
    admin.login("admin")
    page = admin.get("/monitor").text
    assert 'data-source="mqtt"' in page and "theo kênh MQTT" in page
    assert "Chưa kết nối" in card(page, GATE)  # no report yet: judged by its (absent) sync

    script = textwrap.dedent(f"""
        import time
        from edge.sync.live import LiveChannel
        live = LiveChannel({BROKER[0]!r}, {BROKER[1]}, {svc.site.id!r}, {GATE!r}, lambda: None, keepalive_s=5)
        live.start()
        live.connected.wait(10)
        print("up", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        live = lambda: card(admin.get("/monitor/live").text, GATE)  # noqa: E731
        wait_until(lambda: "Trực tuyến" in live(), 5, "online after the gate's live channel connects")
        now_card = live()
        assert 'data-source="mqtt"' in now_card and "từ" in now_card
        # Idle: its last sync long past the event window, and still online (the gap this closes).
        with svc.db.begin() as conn:
            conn.execute(update(schema.gates).where(schema.gates.c.id == GATE)
                         .values(last_seen_at=datetime.now(timezone.utc) - timedelta(hours=2)))
        assert "Trực tuyến" in live()

        os.kill(proc.pid, signal.SIGKILL)  # power cut: no clean disconnect, the broker sends the last will
        took = wait_until(lambda: "Mất kết nối" in live(), 10, "offline after the gate's connection dies")
        assert took < 5, took
        with svc.db.begin() as conn:
            state = presence.load(conn)[GATE]
        assert state.online is False and datetime.now(timezone.utc) - state.changed_at < timedelta(seconds=10)
        assert listener.reports >= 2
    finally:
        proc.kill()
        proc.wait()


def test_reports_for_gates_not_of_the_site_or_of_unknown_states_are_not_recorded(cloud) -> None:
    svc, listener = cloud
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"rogue-{uuid.uuid4().hex[:8]}")
    pub.connect(*BROKER)
    pub.loop_start()
    try:
        for topic, body in ((status_topic(svc.site.id, "no_such_gate"), "online"),
                            (status_topic(svc.site.id, GATE), "<b>up</b>"),
                            (status_topic(svc.site.id, GATE), "online")):
            pub.publish(topic, body, qos=1).wait_for_publish(5)
        wait_until(lambda: listener.reports >= 1, 5, "the valid report recorded")
        with svc.db.begin() as conn:
            assert {g: p.online for g, p in presence.load(conn).items()} == {GATE: True}
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_without_mqtt_the_monitor_uses_the_event_window_and_says_so(tmp_path: Path) -> None:
    svc = CloudService(tmp_path / "cloud")
    try:
        token = svc.gate_token("kb1_in")
        with svc.db.begin() as conn:  # a stale report (from an earlier run with MQTT) is not used
            presence.record(svc.db, conn, "kb1_in", False, datetime.now(timezone.utc))
        push_events(svc, token, [gate_event(1, "decision", random_plate(), reason="permit_ok")])
        admin = Person(svc)
        admin.login("admin")
        page = admin.get("/monitor").text
        assert 'data-source="events"' in page and "không có MQTT" in page and "5 phút" in page
        assert "Trực tuyến" in card(page, "kb1_in") and 'data-source="events"' in card(page, "kb1_in")
        en = admin.get("/monitor/live?lang=en").text
        assert "Online = synced within the last 5 minutes (service runs without MQTT)" in en
    finally:
        svc.close()


def test_with_the_broker_unreachable_the_monitor_falls_back_to_the_event_window(tmp_path: Path) -> None:
    svc = CloudService(tmp_path / "cloud")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # a port nobody listens on: the service's broker link stays down
    listener = listen_status(svc.service, "127.0.0.1", sock.getsockname()[1])
    try:
        with svc.db.begin() as conn:  # reports from before the link went down may be stale: not used
            presence.record(svc.db, conn, "kb1_in", True, datetime.now(timezone.utc))
        svc.gate_token("kb1_in")
        admin = Person(svc)
        admin.login("admin")
        page = admin.get("/monitor").text
        assert 'data-source="mqtt_down"' in page and "Mất kết nối MQTT" in page
        assert "Chưa kết nối" in card(page, "kb1_in") and 'data-source="events"' in card(page, "kb1_in")
    finally:
        listener.close()
        sock.close()
        svc.close()


# ------------------------------------------------------------------------------------------ data layer


def test_presence_changes_once_per_change_on_both_backends(db: Database) -> None:  # noqa: F811
    t0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
    with db.begin() as conn:
        conn.execute(insert(schema.gates).values(id=GATE, name="KB2", active=True, last_seen_at=t0))
        assert presence.record(db, conn, GATE, True, t0) is True
        assert presence.record(db, conn, GATE, True, t0 + timedelta(minutes=1)) is False  # retained, again
    with db.begin() as conn:
        p = presence.load(conn)[GATE]
        assert (p.online, p.changed_at, p.reported_at) == (True, t0, t0 + timedelta(minutes=1))
        later = t0 + timedelta(hours=3)
        gates = {g.gate_id: g for g in monitor(conn, SITE, now=later, live=True)}
        assert gates[GATE].online and gates[GATE].source == "mqtt"  # idle for hours, still online
        assert not {g.gate_id: g for g in monitor(conn, SITE, now=later)}[GATE].online  # event window
    # Several instances receive the same last will at once: the flag changes once.
    others = [Database(db.url) for _ in range(3)]
    try:
        start = threading.Barrier(3)
        changed: list[bool] = []

        def report(d: Database) -> None:
            start.wait()
            with d.begin() as conn:
                changed.append(presence.record(d, conn, GATE, False, t0 + timedelta(hours=1)))

        threads = [threading.Thread(target=report, args=(d,)) for d in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(changed) == [False, False, True]
    finally:
        for d in others:
            d.dispose()
    with db.begin() as conn:
        p = presence.load(conn)[GATE]
        assert (p.online, p.changed_at) == (False, t0 + timedelta(hours=1))
        gates = {g.gate_id: g for g in monitor(conn, SITE, now=t0 + timedelta(minutes=61), live=True)}
        assert not gates[GATE].online and gates[GATE].changed_at == t0 + timedelta(hours=1)
    with pytest.raises(ValueError):
        with db.begin() as conn:
            presence.record(db, conn, GATE, True, datetime(2025, 3, 1))


def test_gate_cloud_serve_with_mqtt_records_gate_status(tmp_path: Path) -> None:
    """The real command (`gate-cloud serve --mqtt`, its own process): a gate's retained "online" shows on
    its monitor with the MQTT source."""
    _need_broker()
    from tests.cloudsvc import PASSWORD, unique_site

    site_path = unique_site(tmp_path)
    site_id = re.search(r'id = "([^"]+)"', site_path.read_text(encoding="utf-8")).group(1)  # type: ignore[union-attr]
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    env = {**os.environ, "GATE_CLOUD_ADMIN_PASSWORD": PASSWORD}
    gate_cloud = str(Path(sys.executable).parent / "gate-cloud")
    subprocess.run([gate_cloud, "create-admin", "admin", "--db", url], env=env, check=True, capture_output=True)
    subprocess.run([gate_cloud, "gate-token", GATE, "--db", url, "--site", str(site_path)], env=env, check=True,
                   capture_output=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([gate_cloud, "serve", "--db", url, "--site", str(site_path), "--port", str(port),
                             "--mqtt", f"{BROKER[0]}:{BROKER[1]}"], env=env, stderr=subprocess.DEVNULL)
    gate = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gate-{uuid.uuid4().hex[:8]}")
    try:
        class Served:  # what Person needs of a service: its URL
            url = f"http://127.0.0.1:{port}"

        admin = Person(Served())  # type: ignore[arg-type]
        wait_until(lambda: _answers(Served.url), 20, "gate-cloud serve answers")
        admin.login("admin")
        gate.will_set(status_topic(site_id, GATE), "offline", qos=1, retain=True)
        gate.connect(*BROKER)
        gate.loop_start()
        gate.publish(status_topic(site_id, GATE), "online", qos=1, retain=True).wait_for_publish(5)
        page = lambda: admin.get("/monitor/live").text  # noqa: E731
        wait_until(lambda: 'data-source="mqtt"' in card(page(), GATE), 10, "the gate's report recorded")
        assert "Trực tuyến" in card(page(), GATE) and 'id="status-source" data-source="mqtt"' in page()
    finally:
        gate.loop_stop()
        gate.disconnect()
        proc.terminate()
        proc.wait(10)
        clear_retained(site_id, GATE)


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_migration_4_adds_the_presence_table_to_a_database_made_before_it(db: Database) -> None:  # noqa: F811
    from sqlalchemy import delete, inspect

    with db.begin() as conn:
        schema.gate_presence.drop(conn)
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 4))
    assert "gate_presence" not in inspect(db.engine).get_table_names()
    assert db.migrate() == [4]
    with db.begin() as conn:
        assert presence.record(db, conn, GATE, True, datetime.now(timezone.utc))
        assert set(presence.load(conn)) == {GATE}
