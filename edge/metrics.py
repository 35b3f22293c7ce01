"""Prometheus metrics of the box (one registry per daemon, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class GateMetrics:
    def __init__(self, gate_id: str):
        self.registry = CollectorRegistry()
        r = self.registry
        self.reads = Counter("gate_reads", "Plate reads acted on (one per vehicle)", registry=r)
        self.raw_reads = Counter("gate_raw_reads", "Plate reads from frames, before de-duplication", registry=r)
        self.decisions = Counter("gate_decisions", "Decisions by reason", ["reason", "allow"], registry=r)
        self.barrier_cycles = Counter("gate_barrier_cycles", "Barrier open/close cycles", registry=r)
        self.barrier_faults = Counter("gate_barrier_faults", "Barrier faults by kind", ["fault"], registry=r)
        self.board_faults = Counter("gate_ledboard_faults", "LED board writes that failed", registry=r)
        self.store_faults = Counter("gate_store_faults", "Local store write failures", ["kind"], registry=r)
        self.outbox_backlog = Gauge("gate_outbox_backlog", "Events not yet confirmed by the central service",
                                    registry=r)
        self.sync_age = Gauge("gate_sync_age_seconds", "Seconds since the last successful sync (-1: never)",
                              registry=r)
        self.sync_rounds = Counter("gate_sync_rounds", "Sync rounds with the central service by outcome (ok, "
                                   "unreachable, token_refused, error)", ["outcome"], registry=r)
        self.unsynced_snapshots = Gauge("gate_unsynced_snapshots", "Snapshots not yet held by the central service",
                                        registry=r)
        self.live_connected = Gauge("gate_sync_live_connected", "1 while the MQTT live channel is connected "
                                    "(0 when disconnected or not configured)", registry=r)
        self.camera_fps = Gauge("gate_camera_fps", "Frames per second from the camera", registry=r)
        self.info = Gauge("gate_info", "Gate identity", ["gate_id"], registry=r)
        self.info.labels(gate_id=gate_id).set(1)
