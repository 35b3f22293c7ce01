"""End to end on the real path: gate-sim's MJPEG camera → the daemon's stream camera → OpenVINO
detection + recognition + voting → a decision event in the box's store (one per truck)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gatesim.camera import CameraServer
from tests.conftest import REPO, SITE


def gate_file(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kb2_in.toml"
    path.write_text(f'''gate_id = "kb2_in"
site = "{SITE}"

[camera]
type = "stream"
url = "{url}"
timeout_s = 2

[reader]
type = "openvino"
agree = 2

[barrier]
type = "sim"
travel_s = 0.05
pass_s = 0.1

[store]
path = "var/gate.db"
snapshot_dir = "var/snapshots"
min_free_mb = 1

[decision]
repeat_read_s = 60

[status]
port = 0
''', encoding="utf-8")
    return path


def events(cfg: Path, plate: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "edge.gatectl.cli", "-c", str(cfg), "events", "search",
                          "--plate", plate, "--type", "decision", "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    return data["events"] if isinstance(data, dict) else data


def test_truck_on_the_camera_stream_is_read_and_decided_once(tmp_path: Path):
    with CameraServer(["kb2_in"], fps=6) as cam:
        cfg = gate_file(tmp_path / "box", cam.url("kb2_in"))
        proc = subprocess.Popen([sys.executable, "-m", "edge.daemon", "--config", str(cfg)], cwd=REPO,
                                env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            runtime = cfg.parent / "var" / "daemon.json"
            end = time.monotonic() + 60
            while not runtime.exists() and time.monotonic() < end:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
            cam.show("kb2_in", "29C-123.45")
            found: list[dict] = []
            end = time.monotonic() + 60
            while not found and time.monotonic() < end:
                time.sleep(1.0)
                found = events(cfg, "29C12345")
            assert found, "the daemon never decided on the truck in front of its camera"
            time.sleep(3)  # the truck stays in view: still one decision
            decided = events(cfg, "29C12345")
            assert len(decided) == 1
            payload = decided[0].get("payload", decided[0])
            assert "no_permit" in json.dumps(payload)  # nothing declared for it in this empty store
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
