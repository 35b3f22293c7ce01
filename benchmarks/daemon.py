"""``daemon``: memory of the real daemon process, and how it stops.

Runs ``python -m edge.daemon --config <gate file>`` as a subprocess on the dev profile's simulated
drivers (gate kb2_in) with a store pre-filled with ``--permits`` permits and the status endpoint on a
free port. Its status URL comes from the runtime file ``<store dir>/daemon.json``. RSS (``VmRSS``) and
peak RSS (``VmHWM``) are read from ``/proc/<pid>/status`` once it is up and after ``--run-s`` seconds;
then it gets SIGTERM and the time to exit and the exit code are recorded. The standalone sim lane has no
trucks, so this is the daemon's memory without a recognition model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import memory_mb, positive_int
from benchmarks.data import fill_permits, utc_now
from edge.localstore import LocalStore

log = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parent.parent
DEV_GATE_FILE = REPO / "config" / "dev" / "kb2_in.toml"
GOAL_RSS_MB = 150.0
#: Not handed to the daemon: it is not under systemd here, and its status endpoint needs no token.
NOT_INHERITED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "GATE_STATUS_TOKEN")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--permits", type=positive_int, default=100_000, help="permits in the store (default 100,000)")
    p.add_argument("--run-s", type=float, default=10.0, help="seconds it runs before the second reading (default 10)")
    p.add_argument("--start-timeout-s", type=float, default=60.0, help="give up if not up by then (default 60)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--dir", type=Path, default=None, help="folder for the temporary store (default: system temp)")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A gate file's data (scalars, lists of scalars, nested tables) as TOML text."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{prefix}{key}]", to_toml(table, f"{prefix}{key}.")]
    return "\n".join(lines)


def write_config(folder: Path) -> Path:
    """The dev profile (config/dev/kb2_in.toml, sim drivers) with a temporary store and a free status port."""
    data = tomllib.loads(DEV_GATE_FILE.read_text(encoding="utf-8"))
    data["site"] = str((DEV_GATE_FILE.parent / data["site"]).resolve())
    data["store"] = data["store"] | {"path": str(folder / "gate.db"), "snapshot_dir": str(folder / "snapshots")}
    data["status"] = {"bind": "127.0.0.1", "port": 0}
    path = folder / "gate.toml"
    path.write_text("# Written by benchmarks.daemon from config/dev/kb2_in.toml.\n" + to_toml(data) + "\n",
                    encoding="utf-8")
    return path


def _wait_runtime_file(proc: subprocess.Popen[bytes], path: Path, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with code {proc.returncode} before it was up")
        if path.exists():
            try:
                return dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                pass  # being replaced just now
        time.sleep(0.05)
    raise RuntimeError(f"daemon did not write {path} within {timeout_s} s")


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return dict(json.loads(resp.read()))


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> tuple[float, int | None]:
    t = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    return time.perf_counter() - t, code


def _measure(proc: subprocess.Popen[bytes], folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    info = _wait_runtime_file(proc, folder / "daemon.json", args.start_timeout_s)
    startup_s = time.perf_counter() - t0
    url = str(info["status_url"])
    status = _get_json(url + "/status")
    start_mem = memory_mb(proc.pid)
    log.info("daemon up in %.1f s at %s, %s; running %.0f s", startup_s, url, start_mem, args.run_s)
    peak_rss, deadline = start_mem["VmRSS"], time.monotonic() + args.run_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        peak_rss = max(peak_rss, memory_mb(proc.pid)["VmRSS"])
    _get_json(url + "/status")  # the status path (counts permits, reads the outbox) runs in the window too
    healthy = _healthy(url)
    end_mem = memory_mb(proc.pid)
    return {"startup_s": round(startup_s, 3), "status_permits": status.get("permits"), "healthy": healthy,
            "rss_start_mb": start_mem["VmRSS"], "rss_mb": end_mem["VmRSS"],
            "rss_peak_sampled_mb": max(peak_rss, end_mem["VmRSS"]), "hwm_mb": end_mem["VmHWM"]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gate-bench-daemon-", dir=args.dir) as tmp:
        folder = Path(tmp)
        store = LocalStore(folder / "gate.db", folder / "snapshots")
        try:
            fill_permits(store, args.permits, seed=args.seed, now=utc_now())
        finally:
            store.close()
        config = write_config(folder)
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        log.info("starting the daemon with %d permits", args.permits)
        with open(folder / "daemon.log", "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "edge.daemon", "--config", str(config)], cwd=REPO,
                                    env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            try:
                figures = _measure(proc, folder, args)
            except (RuntimeError, OSError) as exc:
                tail = (folder / "daemon.log").read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"{exc}; daemon output ends:\n{tail}") from exc
            finally:
                shutdown_s, code = _stop(proc) if proc.poll() is None else (0.0, proc.returncode)
        runtime_left = (folder / "daemon.json").exists()
    meets_memory = figures["hwm_mb"] <= GOAL_RSS_MB
    clean_exit = code == 0 and not runtime_left
    return {"benchmark": "daemon", "permits": args.permits, "run_s": args.run_s, **figures,
            "shutdown_s": round(shutdown_s, 3), "exit_code": code, "runtime_file_removed": not runtime_left,
            "goal_rss_mb": GOAL_RSS_MB, "meets_goal_memory": meets_memory, "clean_exit": clean_exit,
            "meets_goal": meets_memory and clean_exit}
