"""Self-test of a box: each check passes or fails with a hint a technician can act on."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from edge.config.models import GateConfig
from edge.localstore import LocalStore, StoreError

PROBE_S = 6.0  # an RTSP camera takes 2-4 s to hand out its first frame


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass", "warn" or "fail"
    detail: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return self.__dict__.copy()


def check_store(cfg: GateConfig) -> Check:
    try:
        store = LocalStore.from_config(cfg.store.model_copy(update={"on_corrupt": "refuse"}), create=False)
    except StoreError as exc:
        return Check("store", "fail", str(exc), "see the message; a damaged file is kept for analysis")
    try:
        with store.db.lock:
            conn = store.db.conn
            conn.execute("BEGIN IMMEDIATE")  # proves we can take the write lock, changes nothing
            conn.execute("ROLLBACK")
        backlog = store.outbox.backlog()
        return Check("store", "pass", f"{cfg.store.path}: sound, writable, {backlog} events unsent")
    except (sqlite3.DatabaseError, StoreError) as exc:
        return Check("store", "fail", f"{cfg.store.path}: {exc}", "check permissions, mount and disk space")
    finally:
        store.close()


def check_disk(cfg: GateConfig) -> Check:
    folder = cfg.store.path.parent
    if not folder.exists():
        return Check("disk", "fail", f"{folder} does not exist", "create the data directory (systemd StateDirectory=)")
    usage = shutil.disk_usage(folder)
    free_mb = usage.free // 2**20
    detail = f"{free_mb} MB free of {usage.total // 2**20} MB"
    if free_mb < cfg.store.min_free_mb:
        return Check("disk", "fail", detail, f"below the {cfg.store.min_free_mb} MB floor: snapshots stop being kept")
    if free_mb < 2 * cfg.store.min_free_mb:
        return Check("disk", "warn", detail, "approaching the floor; lower snapshot retention")
    return Check("disk", "pass", detail)


def check_clock(cfg: GateConfig, last_event_ts: str | None) -> Check:
    now = datetime.now(timezone.utc)
    if now.year < 2025:
        return Check("clock", "fail", f"clock says {now.isoformat()}", "set the time (RTC battery? NTP?)")
    if last_event_ts and datetime.fromisoformat(last_event_ts) > now:
        return Check("clock", "fail", f"last event {last_event_ts} is in the future of {now.isoformat()}",
                     "the clock went backwards; check NTP before trusting validity windows")
    synced = Path("/run/systemd/timesync/synchronized").exists()
    return Check("clock", "pass" if synced else "warn", now.isoformat(),
                 "" if synced else "NTP synchronisation not confirmed (systemd-timesyncd)")


def check_from_daemon(name: str, daemon: dict[str, Any] | None, cfg: GateConfig) -> Check:
    kind = getattr(cfg, name).type
    if daemon is None:
        if kind == "sim":
            return Check(name, "warn", "simulated driver; daemon not running", "start gate-daemon to check it live")
        if name == "camera":
            return check_camera_direct(cfg)
        return Check(name, "fail", "daemon not running: cannot check the device", "systemctl start gate-daemon")
    if name == "camera":
        cam = daemon.get("camera", {})
        ok = cam.get("last_frame_age_s") is not None and cam["last_frame_age_s"] < 10
        return Check("camera", "pass" if ok else "fail",
                     f"{kind}: {cam.get('fps', 0):.1f} fps, last frame {cam.get('last_frame_age_s')} s ago",
                     "" if ok else "no recent frames: check cable/stream URL and camera power")
    barrier = daemon.get("barrier", {})
    pos = barrier.get("position", "unknown")
    return Check("barrier", "pass" if pos != "unknown" else "fail", f"{kind}: arm {pos}, loop "
                 f"{'occupied' if barrier.get('loop_occupied') else 'clear'}",
                 "" if pos != "unknown" else "limit switches disagree or device unreachable")


def check_camera_direct(cfg: GateConfig, seconds: float = PROBE_S) -> Check:
    """With the daemon stopped, the camera is watched directly for a few seconds (``gatectl camera
    probe``): a technician restarting a box after a fault learns whether the camera is the fault."""
    from edge.camera.probe import probe
    from edge.drivers import build_camera

    result, _ = probe(build_camera(cfg, None), seconds)
    detail = (f"{cfg.camera.type}, probed directly (daemon not running): {result.frames} frames, "
              f"{result.fps:.1f} fps" + (f", {result.width}x{result.height}" if result.width else ""))
    if result.frames == 0:
        return Check("camera", "fail", detail, "no frames: check cable/stream URL and camera power")
    if result.problems:
        return Check("camera", "warn", detail, "; ".join(result.problems))
    return Check("camera", "pass", detail)


def check_cloud(cfg: GateConfig) -> Check:
    if not cfg.sync.endpoint:
        return Check("cloud", "warn", "no sync.endpoint configured", "set sync.endpoint in the gate file")
    url = cfg.sync.endpoint.rstrip("/") + "/healthz"
    try:
        r = requests.get(url, timeout=min(cfg.sync.timeout_s, 5))
    except requests.RequestException as exc:
        return Check("cloud", "fail", f"{url}: {type(exc).__name__}",
                     "no link to the central service: the gate keeps working offline; check network/VPN")
    ok = r.status_code == 200
    if not ok:
        return Check("cloud", "fail", f"{url}: HTTP {r.status_code}", "central service answered with an error")
    return check_token(cfg, url)


def check_token(cfg: GateConfig, health_url: str) -> Check:
    """Whether the service takes this box's gate token (asks if it holds a snapshot no one has)."""
    from edge.config.secrets import MissingSecret, gate_token

    try:
        token = gate_token()
    except MissingSecret as exc:
        return Check("cloud", "fail", f"{health_url}: HTTP 200, but no gate token", str(exc))
    url = cfg.sync.endpoint.rstrip("/") + "/api/v1/gate/snapshots/" + "0" * 64  # type: ignore[union-attr]
    try:
        r = requests.get(url, timeout=min(cfg.sync.timeout_s, 5), headers={"Authorization": f"Bearer {token}"})
    except requests.RequestException as exc:
        return Check("cloud", "fail", f"{url}: {type(exc).__name__}",
                     "the service answered /healthz but not the gate API")
    if r.status_code in (401, 403):
        return Check("cloud", "fail", f"{health_url}: HTTP 200; gate token refused (HTTP {r.status_code})",
                     "issue a new token (gate-cloud gate-token <gate>), install it as the gate-token credential "
                     "and restart gate-daemon")
    ok = r.status_code in (204, 404)
    return Check("cloud", "pass" if ok else "fail", f"{health_url}: HTTP 200; gate token accepted" if ok
                 else f"{url}: HTTP {r.status_code}", "" if ok else "the gate API answered with an error")


def check_plate_models(cfg: GateConfig) -> Check:
    """The recogniser (with its CN province reader when the config has it on) and detector load and
    compile, and the recogniser reads a rendered plate right."""
    if cfg.reader.type != "openvino":
        return Check("plate models", "pass", f"reader type {cfg.reader.type!r}: no models to load")
    try:
        import random

        from edge.plate.detector import TextDetector
        from edge.plate.openvino_reader import recognizer_of
        from edge.plate.synth import render_plate

        rec = recognizer_of(cfg.reader)
        TextDetector(cfg.reader.detector)
        read = rec.read(render_plate("51F-065.32", "vn1", random.Random(0)), 1)
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        return Check("plate models", "fail", str(exc), "reinstall the package (models ship inside it)")
    if read.text != "51F06532":
        return Check("plate models", "fail", f"test plate read as {read.text!r}", "model files damaged: reinstall")
    province = "; CN province reader compiled" if rec.province_model() is not None else ""
    return Check("plate models", "pass",
                 f"recogniser and detector compiled{province}; test plate read ({read.confidence:.2f})")


def run_selftest(cfg: GateConfig, daemon: dict[str, Any] | None, last_event_ts: str | None) -> list[Check]:
    return [check_store(cfg), check_disk(cfg), check_clock(cfg, last_event_ts),
            check_from_daemon("camera", daemon, cfg), check_from_daemon("barrier", daemon, cfg),
            check_plate_models(cfg), check_cloud(cfg)]
