"""Optional live channel over MQTT: "permits changed, pull now" notices, the border guard's queue calls,
and the gate's online status.

Topics are the central service's (``cloud.live``): the box subscribes (QoS 1) to its permits and queue
topics and asks the sync thread for a round on every notice (a queue call message is only a notice: the
round pulls the call from the service, so that a call reaches the board by one path, once, whether MQTT
carried it or not), and on every (re)connect, since notices sent while it
was away are not kept. It publishes a retained "online" on its status topic, with a retained last will
"offline" that the broker publishes when the box vanishes; on a clean stop it publishes "offline" itself.
paho reconnects by itself (1 s .. 30 s). Everything works without it: the sync thread also polls.

The box logs in with its gate id as user name and its MQTT password (secret ``mqtt-password``, see
``edge.config.secrets``); the broker's ACL (``deploy/mosquitto/border-gate.acl``) lets it read only its own permits
and queue topics and write only its own status.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from cloud.live import permits_topic, queue_topic, status_topic

log = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"


class LiveChannel:
    def __init__(self, host: str, port: int, site_id: str, gate_id: str, on_notice: Callable[[], None], *,
                 keepalive_s: int = 30, client_id: str | None = None, password: str | None = None,
                 tls: bool = False, ca_file: Path | None = None):
        self.host, self.port = host, port
        self.on_notice = on_notice
        self.keepalive_s = keepalive_s
        self.permits_topic = permits_topic(site_id, gate_id)
        self.status_topic = status_topic(site_id, gate_id)
        self.queue_topic = queue_topic(site_id, gate_id)
        self.connected = threading.Event()
        self.notices = 0
        self.queue_notices = 0
        self.connects = 0
        self.last_notice_at: float | None = None
        self.last_error: str | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"gate-{site_id}-{gate_id}-{os.getpid()}",
                                  clean_session=True)
        if password is not None:
            self.client.username_pw_set(gate_id, password)
        if tls:  # certificate and host name checked; a broker that fails either is refused
            self.client.tls_set(ca_certs=str(ca_file) if ca_file else None)
        self.client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._started = False

    def start(self) -> None:
        """Connect in the background (paho's thread); a broker that is down now is retried by itself."""
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self.client.loop_start()
        self._started = True

    def close(self, timeout: float = 2.0) -> None:
        """Say "offline" (retained) and disconnect cleanly, so the last will is not needed."""
        if not self._started:
            return
        try:
            if self.connected.is_set():
                info = self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
                info.wait_for_publish(timeout)
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning("live_offline_not_published", extra={"error": str(exc)})
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False

    # -------------------------------------------------------------- paho callbacks (paho's thread)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any = None) -> None:
        if reason_code.is_failure:
            self.last_error = f"connect refused: {reason_code}"
            log.warning("live_connect_refused",
                        extra={"broker": f"{self.host}:{self.port}", "reason": str(reason_code)})
            return
        self.connects += 1
        client.subscribe([(self.permits_topic, 1), (self.queue_topic, 1)])
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        self.connected.set()
        log.info("live_connected", extra={"broker": f"{self.host}:{self.port}", "topic": self.permits_topic})
        self._notify()  # notices sent while we were away are lost: pull once now

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """No MQTT session at all: broker down, or TLS refused (certificate or host name); paho retries."""
        if self.last_error != "connect failed":
            log.warning("live_connect_failed", extra={"broker": f"{self.host}:{self.port}"})
        self.last_error = "connect failed"

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any = None) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and self._started:
            self.last_error = f"disconnected: {reason_code}"
            log.warning("live_disconnected", extra={"reason": str(reason_code)})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic in (self.permits_topic, self.queue_topic):
            self.notices += 1
            if msg.topic == self.queue_topic:
                self.queue_notices += 1
            self.last_notice_at = time.time()
            self._notify()

    def _notify(self) -> None:
        try:
            self.on_notice()
        except Exception:  # a callback error must not kill paho's network thread
            log.exception("live_notice_handler_failed")

    def status(self) -> dict[str, Any]:
        return {"broker": f"{self.host}:{self.port}", "connected": self.connected.is_set(), "connects": self.connects,
                "notices": self.notices, "queue_notices": self.queue_notices, "last_error": self.last_error,
                "permits_topic": self.permits_topic, "queue_topic": self.queue_topic, "status_topic": self.status_topic}
