"""Live channel (optional): MQTT notices to gates that their permits changed, so they pull at once.

Topics: ``border-gate/<site>/gates/<gate>/permits`` ("pull now", QoS 1) and, published by each gate,
``border-gate/<site>/gates/<gate>/status`` (retained "online", last will "offline"), which the service
records (``StatusListener``, ``cloud/presence.py``) for the gate monitor. Everything works without it:
gates also poll, and the monitor then judges a gate by its last sync.

The service logs in to the broker as ``central`` with the password in ``$GATE_CLOUD_MQTT_PASSWORD`` (or the
systemd credential ``mqtt-password``) when one is given; the broker's ACL (``deploy/mosquitto/border-gate.acl``) lets it
write every gate's permits and queue topics and read their status.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

if TYPE_CHECKING:
    from cloud.api.deps import Service

log = logging.getLogger(__name__)

#: The service's MQTT user name (the ACL's ``user central``).
SERVICE_USER = "central"


def service_password() -> str | None:
    """The service's MQTT password: systemd credential ``mqtt-password`` or ``$GATE_CLOUD_MQTT_PASSWORD``."""
    from edge.config.secrets import optional_secret
    return optional_secret("mqtt-password", "GATE_CLOUD_MQTT_PASSWORD")


def service_ca() -> str | None:
    """CA bundle for a TLS broker (``$GATE_CLOUD_MQTT_CA``; unset: the system's CAs)."""
    return os.environ.get("GATE_CLOUD_MQTT_CA") or None


def parse_broker(url: str) -> tuple[str, int, bool]:
    """``host:port`` or ``mqtt://host:port`` (plain, default port 1883), ``mqtts://host:port`` (TLS, 8883)."""
    tls = url.startswith("mqtts://")
    rest = url.split("://", 1)[1] if "://" in url else url
    host, _, port = rest.partition(":")
    if not host:
        raise ValueError(f"no broker host in {url!r}")
    return host, int(port or (8883 if tls else 1883)), tls


def _client(client_id: str | None, password: str | None, tls: bool = False) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=True)
    if password is not None:
        client.username_pw_set(SERVICE_USER, password)
    if tls:
        client.tls_set(ca_certs=service_ca())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def permits_topic(site: str, gate: str) -> str:
    return f"border-gate/{site}/gates/{gate}/permits"


def status_topic(site: str, gate: str) -> str:
    return f"border-gate/{site}/gates/{gate}/status"


def queue_topic(site: str, gate: str) -> str:
    """Queue calls for the gate's LED board and loudspeaker (number, plate, board lines, spoken text)."""
    return f"border-gate/{site}/gates/{gate}/queue"


class LivePublisher:
    def __init__(self, site: str, host: str, port: int = 1883, client_id: str | None = None,
                 password: str | None = None, tls: bool = False):
        self.site = site
        self.client = _client(client_id, password, tls)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def permits_changed(self, gates: set[str]) -> None:
        body = json.dumps({"at": time.time()})
        for gate in sorted(gates):
            info = self.client.publish(permits_topic(self.site, gate), body, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("live_publish_failed", extra={"gate": gate, "rc": info.rc})

    def queue_call(self, gate: str, call: dict) -> None:  # type: ignore[type-arg]
        """Publish a border guard's "call next" (QoS 1, not retained: a stale call must not be shown again)."""
        info = self.client.publish(queue_topic(self.site, gate), json.dumps(call, ensure_ascii=False), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("live_publish_failed", extra={"gate": gate, "rc": info.rc, "topic": "queue"})

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class StatusListener:
    """Subscribes (QoS 1) to every gate's status topic of the site and hands each report of a site gate to
    ``on_status(gate_id, online)``. Retained reports arrive on each (re)connect, so a restarted service, or
    one whose broker link came back, learns the current state at once. ``connected`` tells whether the
    reports are current: while it is clear the monitor falls back to the event window."""

    def __init__(self, site: str, gates: set[str], host: str, port: int,
                 on_status: Callable[[str, bool], None], client_id: str | None = None, password: str | None = None,
                 tls: bool = False):
        self.site, self.gates, self.on_status = site, gates, on_status
        self.topic = status_topic(site, "+")
        self.connected = threading.Event()
        self.reports = 0
        self.client = _client(client_id, password, tls)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any = None) -> None:
        if reason_code.is_failure:
            log.warning("live_status_connect_refused", extra={"reason": str(reason_code)})
            return
        client.subscribe(self.topic, qos=1)  # clean session: subscribe again on every connect
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any = None) -> None:
        self.connected.clear()
        log.warning("live_status_disconnected", extra={"reason": str(reason_code)})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        gate = parts[3] if len(parts) == 5 else ""
        payload = msg.payload.decode("utf-8", "replace")
        if gate not in self.gates or payload not in ("online", "offline"):
            # Anyone on the broker can publish: only the site's gates and the two states are recorded.
            log.warning("live_status_ignored", extra={"topic": msg.topic[:200], "payload": payload[:40]})
            return
        try:
            self.on_status(gate, payload == "online")
            self.reports += 1
        except Exception:  # a database error must not kill paho's network thread; the next report retries
            log.exception("live_status_not_recorded", extra={"gate": gate})

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        self.connected.clear()


def listen_status(service: Service, host: str, port: int = 1883, client_id: str | None = None,
                  password: str | None = None, tls: bool = False) -> StatusListener:
    """Record the gates' status reports in the service's database and let its monitor use them (what
    ``gate-cloud serve --mqtt`` does)."""
    from cloud import presence
    from cloud.store.db import utcnow

    def store(gate: str, online: bool) -> None:
        with service.db.begin() as conn:
            if presence.record(service.db, conn, gate, online, utcnow()):
                log.info("gate_presence", extra={"gate": gate, "online": online})

    listener = StatusListener(service.site.id, {g.id for g in service.site.gates}, host, port, store, client_id,
                              password, tls)
    service.live_status = listener.connected.is_set
    return listener
