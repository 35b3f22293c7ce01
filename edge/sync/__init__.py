"""The box's side of the sync protocol: push events and snapshots, pull permits and the border guard's
queue calls (``client``, ``queuecalls``; the calls are kept in ``callstore`` until the gate shows them), a
background thread for the daemon (``runner``), an optional MQTT live channel (``live``), and the
record of what the sync did, readable from any process (``state``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edge.config.models import SyncConfig
from edge.localstore import LocalStore
from edge.sync.client import PullResult, PushResult, SyncClient, SyncError, SyncResult, TokenRefused, Unreachable
from edge.sync.runner import SyncRunner
from edge.sync.state import SyncState

log = logging.getLogger(__name__)

__all__ = ["PullResult", "PushResult", "SyncClient", "SyncError", "SyncResult", "SyncRunner", "SyncService",
           "SyncState", "TokenRefused", "Unreachable"]


class SyncService:
    """What the daemon runs: the sync thread and, when ``sync.mqtt_host`` is set, the live channel
    whose notices trigger a round at once."""

    def __init__(self, cfg: SyncConfig, store: LocalStore, site_id: str, gate_id: str, token: str, *,
                 on_round: Callable[[SyncResult | None], None] | None = None, mqtt_password: str | None = None):
        self.client = SyncClient(cfg, store, site_id, gate_id, token)
        self.runner = SyncRunner(self.client, cfg.interval_s, cfg.backoff_max_s, on_round=on_round)
        self.live = None
        if cfg.mqtt_host:
            from edge.sync.live import LiveChannel
            if mqtt_password is None:
                log.warning("mqtt_without_password", extra={"gate": gate_id, "hint": "a broker that refuses "
                            "anonymous clients (deploy/mosquitto) needs the mqtt-password secret"})
            self.live = LiveChannel(cfg.mqtt_host, cfg.mqtt_port, site_id, gate_id, self.runner.trigger,
                                    keepalive_s=cfg.mqtt_keepalive_s, password=mqtt_password,
                                    tls=cfg.mqtt_tls, ca_file=cfg.ca_file)

    def start(self) -> None:
        self.runner.start()
        if self.live is not None:
            self.live.start()

    def stop(self) -> None:
        if self.live is not None:
            self.live.close()
        self.runner.stop()

    def status(self) -> dict[str, Any]:
        return self.runner.status() | {"live": self.live.status() if self.live is not None else None}
