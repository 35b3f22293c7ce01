"""The daemon as a real process: readiness over the systemd notify socket, status endpoint, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from edge.sdnotify import Notifier
from tests.conftest import REPO


def _wait_for(path: Path, timeout: float = 20) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


@pytest.fixture
def notify_socket(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(20)
    yield sock, path
    sock.close()


def _start(gate_file: Path, env_extra: dict[str, str]) -> subprocess.Popen:
    env = dict(os.environ) | env_extra
    return subprocess.Popen([sys.executable, "-m", "edge.daemon", "--config", str(gate_file)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_daemon_notifies_ready_serves_status_and_stops_cleanly_on_sigterm(gate_file: Path, notify_socket) -> None:
    sock, sock_path = notify_socket
    proc = _start(gate_file, {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "600000",
                              "GATE_STATUS_TOKEN": "s3cret-status"})
    try:
        assert sock.recv(4096).decode().startswith("READY=1")
        assert sock.recv(4096).decode() == "WATCHDOG=1"
        info = _wait_for(gate_file.parent / "var" / "daemon.json")
        assert info["pid"] == proc.pid
        url = info["status_url"]
        end = time.monotonic() + 10
        while (health := requests.get(url + "/healthz", timeout=5)).status_code != 200 and time.monotonic() < end:
            time.sleep(0.1)  # the first camera frame may not be in yet
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert set(health.json()["checks"]) == {"loop", "camera", "barrier", "store", "disk"}
        assert requests.get(url + "/metrics", timeout=5).status_code == 401
        auth = {"Authorization": "Bearer s3cret-status"}
        metrics = requests.get(url + "/metrics", headers=auth, timeout=5)
        assert metrics.status_code == 200
        assert "gate_outbox_backlog" in metrics.text and "gate_camera_fps" in metrics.text
        status = requests.get(url + "/status", headers=auth, timeout=5).json()
        assert status["gate_id"] == "kb2_in" and status["barrier"]["position"] == "closed"
        assert requests.post(url + "/status", headers=auth, timeout=5).status_code == 405
        assert requests.get(url + "/nope", timeout=5).status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        messages = []
        while "STOPPING=1" not in messages:
            messages.append(sock.recv(4096).decode())  # late WATCHDOG=1 pings may come first
        assert set(messages) <= {"WATCHDOG=1", "STOPPING=1"}
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (gate_file.parent / "var" / "daemon.json").exists()
    logs = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert {"daemon_ready", "daemon_stopped"} <= {entry["msg"] for entry in logs}
    from edge.localstore import LocalStore
    store = LocalStore(gate_file.parent / "var" / "gate.db", gate_file.parent / "var" / "snapshots", create=False)
    reasons = [e.reason for e in store.outbox.search(type="system")]
    store.close()
    assert reasons == ["started", "stopped"]


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('gate_id = "kb2_in"\nsite = "x.toml"\nbogus = 1\n')
    proc = subprocess.run([sys.executable, "-m", "edge.daemon", "--config", str(bad)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{bad}:3: bogus: unknown key" in proc.stderr


def test_damaged_store_with_refuse_policy_exits_3(tmp_path: Path) -> None:
    from tests.conftest import write_gate_file
    gate_file = write_gate_file(tmp_path / "box", extra='')
    text = gate_file.read_text().replace('min_free_mb = 1', 'min_free_mb = 1\non_corrupt = "refuse"')
    gate_file.write_text(text)
    db = tmp_path / "box" / "var" / "gate.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    proc = subprocess.run([sys.executable, "-m", "edge.daemon", "--config", str(gate_file)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "damaged" in proc.stderr and db.exists()


def test_notifier_is_silent_without_systemd() -> None:
    n = Notifier(env={})
    assert not n.enabled and n.ready() is False and n.watchdog_s is None


def test_notifier_ignores_watchdog_meant_for_another_pid(tmp_path: Path) -> None:
    n = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert n.watchdog_s is None
    n2 = Notifier(env={"NOTIFY_SOCKET": "@abstract", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())})
    assert n2.watchdog_s == 1.0 and n2.address == "\0abstract"
