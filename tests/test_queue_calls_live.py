"""Queue calls over the real MQTT broker (Mosquitto on 127.0.0.1:1883): the service publishes the border
guard's call on the gate's queue topic, the box's live channel takes it as a notice, the sync round pulls
the call and the runtime's loop shows and speaks it — within a second, with polling set to a minute."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from edge.config.models import SyncConfig
from edge.ledboard.messages import queue_call_lines, queue_call_speech
from edge.sync import SyncService
from tests.cloudsvc import CloudService
from tests.conftest import service_missing
from tests.console_helpers import Person
from tests.test_gate_runtime import Gate
from tests.test_queue_calls import GATE, Speaker, call_next, queued

BROKER = ("127.0.0.1", 1883)


@pytest.fixture
def cloud(tmp_path: Path):
    try:
        socket.create_connection(BROKER, timeout=1).close()
    except OSError:
        service_missing("no MQTT broker on 127.0.0.1:1883 (start mosquitto)")
    svc = CloudService(tmp_path / "cloud", mqtt=BROKER)
    assert svc.publisher is not None
    svc.service.announce = svc.publisher.queue_call  # as `gate-cloud serve --mqtt` wires it
    yield svc
    svc.close()


def test_a_call_reaches_the_board_and_loudspeaker_over_mqtt_at_once(cloud: CloudService, tmp_path: Path) -> None:
    token = cloud.gate_token(GATE)
    trucks = queued(cloud, token, 2)
    gate = Gate(tmp_path / "box", GATE)
    speaker = Speaker()
    gate.rt.speaker = speaker
    cfg = SyncConfig(endpoint=cloud.url, timeout_s=5, retry_max_s=0.05, interval_s=60,
                     mqtt_host=BROKER[0], mqtt_port=BROKER[1])
    sync = SyncService(cfg, gate.store, cloud.site.id, GATE, token)
    guard = Person(cloud)
    guard.login("bp.kimthanh")
    sync.start()
    try:
        assert sync.live is not None and sync.live.connected.wait(5)
        end = time.monotonic() + 5
        while sync.runner.rounds < 1 or sync.runner.now.is_set():  # the start-up rounds are over
            assert time.monotonic() < end
            time.sleep(0.01)
        latencies = []
        for i, (number, plate) in enumerate(trucks):
            t0 = time.monotonic()
            call_next(guard, number)
            gate.run_until(lambda: len(speaker.said) == i + 1, timeout=5)  # the daemon's loop body
            latencies.append(time.monotonic() - t0)
            assert gate.board.last == queue_call_lines(number, plate)
            assert speaker.said[-1] == queue_call_speech(number, plate)
        print(f"call next -> LED board over MQTT: {', '.join(f'{x * 1000:.0f} ms' for x in latencies)}")
        assert max(latencies) < 1.5
        assert sync.live.queue_notices >= 2 and sync.status()["live"]["queue_notices"] >= 2
        events = [e for e in gate.store.outbox.tail(100) if e.reason == "queue_call"]
        assert [e.payload["number"] for e in events] == [n for n, _ in trucks]
    finally:
        sync.stop()
        gate.close()
