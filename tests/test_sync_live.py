"""The MQTT live channel against the real broker (Mosquitto on 127.0.0.1:1883) and the real central
service publishing its notices: a confirmation reaches the box's cache at once; online/offline status
with a last will; reconnection after the broker link drops; the gate keeps syncing without a broker."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.config.models import SyncConfig
from edge.localstore import LocalStore
from edge.sync import SyncService
from edge.sync.live import LiveChannel
from tests.cloudsvc import CloudService
from gatesim.link import FaultProxy
from tests.conftest import REPO, service_missing

BROKER = ("127.0.0.1", 1883)
GATE = "kb2_in"


def _broker_up() -> bool:
    try:
        socket.create_connection(BROKER, timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _broker() -> None:
    if not _broker_up():
        service_missing("no MQTT broker on 127.0.0.1:1883 (start mosquitto)")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory):
    svc = CloudService(tmp_path_factory.mktemp("cloud"), mqtt=BROKER)
    yield svc
    svc.close()


@pytest.fixture
def box(tmp_path: Path):
    store = LocalStore(tmp_path / "box" / "gate.db", tmp_path / "box" / "snapshots", min_free_mb=1)
    yield store
    store.close()


class Watcher:
    """A plain MQTT client that records what arrives on a topic (retained messages included)."""

    def __init__(self, topic: str):
        self.topic = topic
        self.messages: queue.Queue[tuple[str, bool]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda c, u, m: self.messages.put((m.payload.decode(), bool(m.retain)))
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topic, qos=1)
        self.client.connect(*BROKER)
        self.client.loop_start()

    def next(self, timeout: float = 5) -> tuple[str, bool]:
        return self.messages.get(timeout=timeout)

    def wait_for(self, payload: str, timeout: float = 5) -> float:
        end = time.monotonic() + timeout
        while True:
            got, _ = self.next(max(0.01, end - time.monotonic()))
            if got == payload:
                return time.monotonic()

    def clear_retained(self) -> None:
        self.client.publish(self.topic, b"", qos=1, retain=True).wait_for_publish(2)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _wait(pred, timeout: float = 5, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(step)
    return True


def _service(cloud: CloudService, box: LocalStore, **cfg: object) -> SyncService:
    settings = {"endpoint": cloud.url, "timeout_s": 2, "retry_max_s": 0.05, "interval_s": 60,
                "mqtt_host": BROKER[0], "mqtt_port": BROKER[1]} | cfg
    return SyncService(SyncConfig(**settings), box, cloud.site.id, GATE, cloud.gate_token(GATE))


def test_a_confirmation_reaches_the_box_at_once_over_mqtt(cloud, box) -> None:
    sync = _service(cloud, box)  # polling every 60 s: only the live channel can explain a quick arrival
    sync.start()
    try:
        assert sync.live.connected.wait(5)
        assert _wait(lambda: sync.runner.rounds >= 1 and not sync.runner.now.is_set())
        latencies = []
        for _ in range(3):
            trip = cloud.declare()
            t0 = time.monotonic()
            cloud.confirm(trip["id"])
            assert _wait(lambda: bool(box.permits.by_plate(trip["plate"])), timeout=5), "no permit over MQTT"
            latencies.append(time.monotonic() - t0)
        print(f"confirmation -> box cache over MQTT: {', '.join(f'{x * 1000:.0f} ms' for x in latencies)}")
        assert max(latencies) < 1.0
        assert sync.live.notices >= 3
        status = sync.status()
        assert status["live"]["connected"] and status["live"]["notices"] >= 3
        # the watchlist goes to every gate the same way
        plate = cloud.watch("88C-123.45", "Biên phòng: kiểm tra")
        assert _wait(lambda: bool(box.watchlist.match(plate)), timeout=2)
    finally:
        sync.stop()
    assert not sync.runner.running


def test_online_status_is_retained_and_the_last_will_says_offline(cloud, tmp_path) -> None:
    status_topic = f"border-gate/{cloud.site.id}/gates/{GATE}/status"
    watcher = Watcher(status_topic)
    try:
        # a clean stop says offline itself
        live = LiveChannel(*BROKER, cloud.site.id, GATE, lambda: None, keepalive_s=5)
        live.start()
        assert live.connected.wait(5)
        watcher.wait_for("online")
        live.close()
        watcher.wait_for("offline")

        # a box that dies (power cut, kill -9): the broker publishes the last will
        script = textwrap.dedent(f"""
            import sys, time
            from edge.sync.live import LiveChannel
            live = LiveChannel({BROKER[0]!r}, {BROKER[1]}, {cloud.site.id!r}, {GATE!r}, lambda: None, keepalive_s=5)
            live.start()
            live.connected.wait(10)
            print("up", flush=True)
            time.sleep(60)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "up"
            watcher.wait_for("online")
            os.kill(proc.pid, signal.SIGKILL)
            t0 = time.monotonic()
            watcher.wait_for("offline", timeout=10)
            assert time.monotonic() - t0 < 5
        finally:
            proc.kill()
            proc.wait()

        # a newcomer learns the state from the retained message
        late = Watcher(status_topic)
        try:
            assert late.next() == ("offline", True)
        finally:
            late.close()
    finally:
        watcher.clear_retained()
        watcher.close()


def test_the_live_channel_reconnects_by_itself_and_pulls_on_reconnect(cloud, box) -> None:
    link = FaultProxy(BROKER[1])  # between the box and the broker
    sync = _service(cloud, box, mqtt_host="127.0.0.1", mqtt_port=link.port)
    sync.start()
    try:
        assert sync.live.connected.wait(5)
        assert _wait(lambda: sync.runner.rounds >= 1)
        link.set("refuse")  # the uplink drops: open connection reset, new ones refused
        assert _wait(lambda: not sync.live.connected.is_set(), timeout=5)
        trip = cloud.declare()
        cloud.confirm(trip["id"])  # the notice is lost: nobody is subscribed for this box
        time.sleep(0.3)
        assert not box.permits.by_plate(trip["plate"])
        link.set("pass")
        assert sync.live.connected.wait(10), "did not reconnect"
        assert sync.live.connects >= 2
        # the reconnect itself asks for a pull: what changed meanwhile arrives without a notice
        assert _wait(lambda: bool(box.permits.by_plate(trip["plate"])), timeout=3)
        second = cloud.declare()
        cloud.confirm(second["id"])
        assert _wait(lambda: bool(box.permits.by_plate(second["plate"])), timeout=2)
    finally:
        sync.stop()
        link.close()


def test_the_gate_syncs_by_polling_when_the_broker_is_unreachable(cloud, box) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    sync = _service(cloud, box, mqtt_port=dead_port, interval_s=0.5)
    sync.start()
    try:
        trip = cloud.declare()
        cloud.confirm(trip["id"])
        assert _wait(lambda: bool(box.permits.by_plate(trip["plate"])), timeout=3)
        box.outbox.append("system", reason="test")
        assert _wait(lambda: box.outbox.backlog() == 0, timeout=3)
        assert not sync.live.connected.is_set() and sync.runner.failures == 0
        assert sync.status()["live"]["connected"] is False
    finally:
        sync.stop()
