"""A daemon started on a full disk waits for space instead of exiting into a systemd restart loop.

The full disk is a real one for the process: its file-size limit (RLIMIT_FSIZE) is 0, so every write
of the store fails as it does on a full partition, while reads, sockets and everything else work.
"""

from __future__ import annotations

import os
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, write_gate_file


def start_without_space(gate_file: Path) -> subprocess.Popen:
    def no_space() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    return subprocess.Popen([sys.executable, "-m", "edge.daemon", "--config", str(gate_file)], cwd=REPO,
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=no_space)


def test_waits_for_space_then_runs(tmp_path: Path):
    gate_file = write_gate_file(tmp_path / "box")
    runtime = gate_file.parent / "var" / "daemon.json"
    proc = start_without_space(gate_file)
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.stderr.read()  # still there, not exited with 3
        assert not runtime.exists()  # and not pretending to run
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        end = time.monotonic() + 30
        while not runtime.exists():
            assert time.monotonic() < end, "the daemon did not start once space was back"
            assert proc.poll() is None
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0
    assert "store_full_waiting" in out and "store_space_back" in out


def _wait_for_log(proc: subprocess.Popen, event: str, timeout: float) -> None:
    """Read the daemon's stderr until ``event`` is logged: under a loaded suite the daemon's start
    (imports, config) can take longer than any fixed sleep."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not select.select([proc.stderr], [], [], 0.5)[0]:
            assert proc.poll() is None, "the daemon exited"
            continue
        line = proc.stderr.readline()
        assert line, "the daemon closed stderr"
        if event in line:
            return
    raise AssertionError(f"no {event} within {timeout} s")


def test_sigterm_while_waiting_exits_cleanly(tmp_path: Path):
    proc = start_without_space(write_gate_file(tmp_path / "box"))
    try:
        _wait_for_log(proc, "store_full_waiting", 60)  # signal handlers are in place by then
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=45)  # 15 s was exceeded once with the whole suite loading both cores
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
