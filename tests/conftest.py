"""Shared fixtures: a gate file for the dev profile with its store in a temporary folder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "config" / "sites" / "kim-thanh.toml"


def write_gate_file(folder: Path, gate_id: str = "kb2_in", extra: str = "") -> Path:
    """A sim-driver gate file whose store lives in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{gate_id}.toml"
    path.write_text(
        f'''gate_id = "{gate_id}"
site = "{SITE}"

[camera]
type = "sim"
fps = 20
width = 320
height = 240

[reader]
type = "sim"

[barrier]
type = "sim"
travel_s = 0.05
pass_s = 0.1

[store]
path = "var/gate.db"
snapshot_dir = "var/snapshots"
min_free_mb = 1

[status]
port = 0
{extra}''',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def gate_file(tmp_path: Path) -> Path:
    return write_gate_file(tmp_path / "box")


def service_missing(why: str) -> None:
    """A local service a test needs (PostgreSQL, the MQTT broker) is not there: in CI (where it must be)
    that is a failure, on a developer's machine a skip that says what to start."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must provide it)")
    pytest.skip(why)


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, poll: float = 0.02) -> bool:
    """Poll ``pred`` until it holds (True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(poll)
    return False
