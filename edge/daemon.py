"""``gate-daemon --config FILE``: runs one gate box until SIGTERM.

Wires frame source → plate reader → decision → barrier/LED → local store → sync (edge/sync, when
``sync.endpoint`` is set) through the driver interfaces; serves the local status endpoint; talks to
systemd (READY, WATCHDOG, STOPPING).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge import logs
from edge.config import ConfigErrors, load_gate_config
from edge.config.models import GateConfig, SiteConfig
from edge.config.secrets import MissingSecret, gate_token, optional_secret, read_secret
from edge.drivers import build_drivers
from edge.gate import GateRuntime, Listener
from edge.localstore import LocalStore, StoreError
from edge.localstore.errors import StoreFull
from edge.metrics import GateMetrics
from edge.sdnotify import Notifier
from edge.sim.world import Lane
from edge.status import StatusServer
from edge.sync import SyncService, SyncState
from edge.sync import state as sync_states

log = logging.getLogger(__name__)

EXIT_CONFIG, EXIT_STORE = 2, 3
RUNTIME_FILE = "daemon.json"


def runtime_file(cfg: GateConfig) -> Path:
    """Where the running daemon says how to reach it (gatectl reads this)."""
    return cfg.store.path.parent / RUNTIME_FILE


class Daemon:
    def __init__(self, cfg: GateConfig, site: SiteConfig, *, lane: Lane | None = None,
                 listener: Listener | None = None, notifier: Notifier | None = None):
        self.cfg = cfg
        self.site = site
        self.stop_event = threading.Event()
        self.started = time.time()
        self.store = LocalStore.from_config(cfg.store)
        try:
            self._seed_yards()
        except StoreError:
            self.store.close()  # the caller may retry (full disk): leave no connection behind
            raise
        self.drivers = build_drivers(cfg, lane)
        self.metrics = GateMetrics(cfg.gate_id)
        self.runtime = GateRuntime(cfg, site, self.store, self.drivers.camera, self.drivers.reader,
                                   self.drivers.barrier, self.drivers.board, self.metrics, listener,
                                   stop=self.stop_event.is_set, speaker=self.drivers.speaker)
        self.notifier = notifier or Notifier()
        self.sync_state = SyncState(self.store.db)
        self.sync: SyncService | None = None
        self.sync_problem: str | None = None
        if cfg.sync.endpoint:
            self._setup_sync()
        token = optional_secret("status-token", "GATE_STATUS_TOKEN")
        self.status_server = StatusServer(cfg.status.bind, cfg.status.port, status=self.status,
                                          health=self.health, registry=self.metrics.registry,
                                          refresh=self.refresh_metrics, token=token)

    def _setup_sync(self) -> None:
        """The sync thread, when there is a token; without one the gate runs offline (it never needs the
        central service to decide), and says why in the log, /status and ``gatectl sync status``."""
        try:
            token = gate_token()
        except MissingSecret as exc:
            self.sync_problem = f"sync disabled, the gate runs offline: {exc}"
        else:
            try:
                self.sync = SyncService(self.cfg.sync, self.store, self.site.id, self.cfg.gate_id, token,
                                        on_round=self._sync_round,
                                        mqtt_password=optional_secret("mqtt-password", "GATE_MQTT_PASSWORD"))
            except ValueError as exc:
                self.sync_problem = f"sync disabled, the gate runs offline: {exc}"
        if self.sync_problem:
            log.error("sync_no_token", extra={"error": self.sync_problem, "endpoint": self.cfg.sync.endpoint})
            try:
                self.sync_state.set_state(sync_states.NO_TOKEN, self.sync_problem)
            except StoreError:
                pass

    def _sync_round(self, result: Any) -> None:
        self.metrics.sync_rounds.labels(outcome="error" if result is None else result.kind).inc()

    def _seed_yards(self) -> None:
        gate = self.site.gate(self.cfg.gate_id)
        if gate.yard and self.store.state.yard(gate.yard) is None:
            self.store.state.set_yard(gate.yard, self.site.yard(gate.yard).capacity, 0)

    # ---------------------------------------------------------------- health and status

    def health(self) -> tuple[bool, dict[str, Any]]:
        cam = self.drivers.camera.health()
        loop_age = time.monotonic() - self.runtime.heartbeat
        checks: dict[str, Any] = {
            "loop": {"ok": loop_age < 30, "age_s": round(loop_age, 2)},
            "camera": {"ok": cam.last_frame_age_s is not None and cam.last_frame_age_s < 10,
                       "frame_age_s": cam.last_frame_age_s},
            "barrier": {"ok": self.runtime.controller.fault is None, "state": str(self.runtime.controller.state),
                        "fault": self.runtime.controller.fault},
            "store": {"ok": self.store.db.quarantined is None,
                      "quarantined": str(self.store.db.quarantined[0]) if self.store.db.quarantined else None},
        }
        free = shutil.disk_usage(self.cfg.store.path.parent).free
        checks["disk"] = {"ok": free > self.cfg.store.min_free_mb * 2**20, "free_mb": free // 2**20}
        return all(c["ok"] for c in checks.values()), checks

    def refresh_metrics(self) -> None:
        try:
            self.metrics.outbox_backlog.set(self.store.outbox.backlog())
        except StoreError:
            self.metrics.store_faults.labels(kind="read").inc()
        try:
            self.metrics.sync_age.set(self.sync_state.age_s())
            self.metrics.unsynced_snapshots.set(self.store.snapshots.unsynced_count())
        except StoreError:
            self.metrics.sync_age.set(-1)
        live = self.sync.live if self.sync is not None else None
        self.metrics.live_connected.set(1 if live is not None and live.connected.is_set() else 0)
        self.metrics.camera_fps.set(self.drivers.camera.health().fps)

    def status(self) -> dict[str, Any]:
        ok, checks = self.health()
        last = self.runtime.last_decision
        return {
            "gate_id": self.cfg.gate_id, "site": self.site.id, "pid": os.getpid(),
            "started_at": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            "uptime_s": round(time.time() - self.started, 1), "healthy": ok, "checks": checks,
            "barrier": {"position": self.runtime.controller.position, "state": str(self.runtime.controller.state),
                        "fault": self.runtime.controller.fault, "loop_occupied": self.runtime.controller.loop},
            "camera": self.drivers.camera.health().as_dict(),
            "last_decision": last.as_dict() if last else None,
            "outbox_backlog": self.store.outbox.backlog(),
            "permits": self.store.permits.count(), "permits_cursor": self.store.permits.cursor(),
            "sync": self.sync_status(),
        }

    def sync_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.sync is not None, "endpoint": self.cfg.sync.endpoint,
                               "problem": self.sync_problem}
        try:
            out |= self.sync_state.status()
            out["unsynced_snapshots"] = self.store.snapshots.unsynced_count()
        except StoreError as exc:
            out["store_error"] = str(exc)
        if self.sync is not None:
            out |= self.sync.status()
        return out

    # ---------------------------------------------------------------- run

    def run(self, poll_s: float = 0.02) -> None:
        self.status_server.start()
        self.runtime.start()
        self.drivers.camera.start()
        if self.sync is not None:
            self.sync.start()
        self._write_runtime_file()
        self.store.outbox.append("system", reason="started", payload={"pid": os.getpid(), "gate": self.cfg.gate_id})
        self.notifier.ready(f"gate {self.cfg.gate_id} running")
        log.info("daemon_ready", extra={"gate": self.cfg.gate_id, "status_url": self.status_server.url})
        next_ping = 0.0
        try:
            while not self.stop_event.is_set():
                self.runtime.step()
                now = time.monotonic()
                if self.notifier.watchdog_s and now >= next_ping:
                    if self.health()[1]["loop"]["ok"]:
                        self.notifier.watchdog()
                    next_ping = now + self.notifier.watchdog_s / 3
                self.stop_event.wait(poll_s)
        finally:
            self.shutdown()

    def _write_runtime_file(self) -> None:
        info = {"pid": os.getpid(), "status_url": self.status_server.url, "gate_id": self.cfg.gate_id,
                "started_at": datetime.now(timezone.utc).isoformat()}
        path = runtime_file(self.cfg)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, path)

    def shutdown(self) -> None:
        self.notifier.stopping()
        if self.sync is not None:
            self.sync.stop()
        self.runtime.shutdown()
        self.drivers.release()
        self.status_server.stop()
        try:
            self.store.outbox.append("system", reason="stopped", payload={"pid": os.getpid()})
        except StoreError as exc:
            log.error("stop_not_recorded", extra={"error": str(exc)})
        runtime_file(self.cfg).unlink(missing_ok=True)
        self.store.close()
        log.info("daemon_stopped", extra={"gate": self.cfg.gate_id})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gate-daemon", description="Run one border-gate box.")
    parser.add_argument("--config", required=True, type=Path, help="gate configuration file (TOML)")
    args = parser.parse_args(argv)
    try:
        cfg, site = load_gate_config(args.config)
    except ConfigErrors as exc:
        print(f"gate-daemon: configuration errors:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(cfg.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        daemon = open_when_space(cfg, site, stop)
    except StoreError as exc:
        log.critical("store_unusable", extra={"error": str(exc)})
        print(f"gate-daemon: {exc}", file=sys.stderr)
        return EXIT_STORE
    if daemon is None:  # stopped while waiting for disk space
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stop_event.set())
    if stop.is_set():
        daemon.stop_event.set()
    daemon.run()
    return 0


def _waits_for_space(exc: StoreError) -> bool:
    """A store that cannot be written for lack of space (or a file-size limit, which SQLite reports as an
    I/O error) may recover by itself; a damaged or read-only one will not."""
    return isinstance(exc, StoreFull) or "disk i/o error" in str(exc).lower()


def open_when_space(cfg: GateConfig, site: SiteConfig, stop: threading.Event,
                    notifier: Notifier | None = None, max_wait_s: float = 5.0) -> Daemon | None:
    """Build the daemon; on a full disk, wait (barrier untouched, systemd told why and kept fed) and
    retry instead of exiting: under ``Restart=on-failure`` an exit would only restart into the same
    full disk, again and again, until systemd's start limit gives up on the gate for good."""
    notifier = notifier or Notifier()
    delay, waiting = 0.5, False
    while True:
        try:
            daemon = Daemon(cfg, site, notifier=notifier)
        except StoreError as exc:
            if not _waits_for_space(exc):
                raise
            if not waiting:
                log.critical("store_full_waiting", extra={"error": str(exc)})
                notifier.ready(status=f"waiting for disk space: {exc}")
                waiting = True
            notifier.watchdog()
            if stop.wait(delay):
                return None
            delay = min(max_wait_s, delay * 2)
            continue
        if waiting:
            log.info("store_space_back", extra={"path": str(cfg.store.path)})
        return daemon


if __name__ == "__main__":
    sys.exit(main())
