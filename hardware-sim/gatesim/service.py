"""Wait for a ``gate-cloud serve`` process to answer, shared by the site runner and the sync benchmark."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests


def wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, timeout: float, poll_s: float = 0.05) -> None:
    """Return once ``url``/healthz answers 200; raise RuntimeError (with the log's tail) if the process
    exits first or ``timeout`` passes. Stopping the process on a timeout is the caller's."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gate-cloud serve exited ({proc.returncode}): "
                               + log_path.read_text(errors="replace")[-2000:])
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("gate-cloud serve did not come up")
        time.sleep(poll_s)
