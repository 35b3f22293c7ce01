"""Live channel (optional): MQTT notices to gates that their permits changed, so they pull at once.

Topics: ``border-gate/<site>/gates/<gate>/permits`` ("pull now", QoS 1) and, published by each gate,
``border-gate/<site>/gates/<gate>/status`` (retained "online", last will "offline"). Everything works
without it: gates also poll.
"""

from __future__ import annotations

import json
import logging
import time

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


def permits_topic(site: str, gate: str) -> str:
    return f"border-gate/{site}/gates/{gate}/permits"


def status_topic(site: str, gate: str) -> str:
    return f"border-gate/{site}/gates/{gate}/status"


def queue_topic(site: str, gate: str) -> str:
    """Queue calls for the gate's LED board and loudspeaker (number, plate, board lines, spoken text)."""
    return f"border-gate/{site}/gates/{gate}/queue"


class LivePublisher:
    def __init__(self, site: str, host: str, port: int = 1883, client_id: str | None = None):
        self.site = site
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
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
