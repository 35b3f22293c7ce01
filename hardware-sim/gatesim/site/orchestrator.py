"""``gate-sim site``: the whole site as real parts, with traffic, a live view and an end-of-run audit.

Start order: the central service (``gate-cloud serve``, SQLite in the work folder); the people's
accounts over its API; the camera server (one MJPEG stream per gate); per gate a PLC and an LED
board simulator, an uplink proxy, a generated gate file, a device token and a ``gate-daemon``
process; the lanes, the scheduler and the traffic. Trucks arrive for ``minutes`` simulated minutes;
then the run drains (trucks on site finish their routes, at most ``drain_s`` real seconds), every
fault is healed, every gate's outbox is given time to reach the service, the daemons stop (SIGTERM)
and the audit compares outboxes, service and ground truth.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from edge.config import load_site_config
from gatesim.camera import CameraServer
from gatesim.site.audit import audit, read_central, read_outbox
from gatesim.site.central import CentralProcess, People
from gatesim.site.chaos import Chaos
from gatesim.site.clock import Scheduler, SimClock
from gatesim.site.lane import GateLane, LaneTiming
from gatesim.site.plan import default_plan_path, load_plan
from gatesim.site.rig import GateRig, RigOptions
from gatesim.site.stats import describe
from gatesim.site.traffic import Traffic, TrafficOptions
from gatesim.site.truth import Ledger
from gatesim.site.view import LiveView

log = logging.getLogger(__name__)

#: Lag above this (real seconds, 95th percentile of scheduled actions) means the runner fell behind.
LAG_P95_LIMIT_S = 1.0


@dataclass
class RunOptions:
    site_path: Path
    workdir: Path
    minutes: float = 120.0
    speed: float = 60.0
    gates: list[str] | None = None
    rate_per_day: float | None = None
    traffic_path: Path | None = None
    chaos: bool = False
    seed: int = 0
    drain_s: float = 120.0
    fps: float = 4.0
    view: str = "auto"  # auto, tty, lines, none
    view_every_s: float = 10.0
    chaos_every_min: float = 10.0
    max_attempts: int | None = None
    openvino_gates: list[str] = field(default_factory=list)  # these read the camera's pixels for real
    extra: dict[str, Any] = field(default_factory=dict)


class SiteRun:
    def __init__(self, opts: RunOptions, out: TextIO = sys.stderr):
        self.opts = opts
        self.out = out
        self.site = load_site_config(opts.site_path)
        self.plan = load_plan(opts.traffic_path or default_plan_path(self.site), self.site)
        known = [g.id for g in self.site.gates]
        gates = opts.gates or known
        unknown = sorted(set(gates) - set(known))
        if unknown:
            raise ValueError(f"gates {unknown} are not in site {self.site.id} (it has: {', '.join(known)})")
        self.gates = [g for g in known if g in gates]  # site order
        stray = sorted(set(opts.openvino_gates) - set(self.gates))
        if stray:
            raise ValueError(f"--openvino-gates {stray} are not among the gates of this run")
        if not 0 < opts.speed <= 10_000:
            raise ValueError("speed must be within (0, 10000]")
        if opts.minutes <= 0:
            raise ValueError("minutes must be positive")
        self.central: CentralProcess | None = None
        self.camera: CameraServer | None = None
        self.rigs: dict[str, GateRig] = {}
        self.lanes: dict[str, GateLane] = {}
        self.ledger = Ledger()
        self.clock: SimClock | None = None
        self.sched: Scheduler | None = None
        self.traffic: Traffic | None = None
        self.chaos: Chaos | None = None
        self.restarts_unexpected = 0
        self.started = time.monotonic()

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        o = self.opts
        shutil.rmtree(o.workdir, ignore_errors=True)
        o.workdir.mkdir(parents=True)
        self.central = CentralProcess(o.workdir / "central", o.site_path).start()
        self.say(f"central service {self.central.url} (SQLite {self.central.db_path}); API docs "
                 f"{self.central.url}/api/docs")
        people = People(self.central.url, self.central.db_url, self.site, seed=o.seed)
        self.camera = CameraServer(self.gates, fps=o.fps, seed=o.seed).start()
        rig_opts = RigOptions(travel_s=0.3, openvino_gates=frozenset(o.openvino_gates))
        for i, gid in enumerate(self.gates):
            rig = GateRig(gid, i, o.workdir / "gates" / gid, o.site_path.resolve(), rig_opts)
            rig.start_hardware()
            rig.write_config(self.camera.url(gid), self.central.port)
            rig.token = people.gate_token(gid)
            rig.start_daemon()
            self.rigs[gid] = rig
        for rig in self.rigs.values():
            if not rig.wait_ready(60):
                raise RuntimeError(f"gate daemon {rig.gate_id} did not start; see {rig.folder / 'logs'}")
        self.say(f"{len(self.rigs)} gate daemons up ({', '.join(self.gates)}); cameras on port {self.camera.port}")
        self.clock = SimClock(o.speed)
        self.sched = Scheduler(self.clock)
        for gid, rig in self.rigs.items():
            self.lanes[gid] = GateLane(gid, rig.plc, self.camera, self.ledger, lambda t, g: None, lambda t, g: None,
                                       LaneTiming())
        rate = o.rate_per_day or self.plan.trucks_per_day
        attempts = o.max_attempts or (60 if o.chaos else 6)
        self.traffic = Traffic(self.site, self.plan, self.gates, people, self.sched, self.lanes, self.ledger,
                               TrafficOptions(minutes=o.minutes, rate_per_day=rate, seed=o.seed,
                                              max_attempts=attempts))
        if o.chaos:
            self.chaos = Chaos(self.rigs, self.camera, self.clock, o.seed, every_min=o.chaos_every_min)

    # ------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        try:
            self.setup()
            assert self.sched and self.traffic and self.clock
            for lane in self.lanes.values():
                lane.start()
            self.sched.start()
            self.traffic.start()
            if self.chaos:
                self.chaos.start()
            view = LiveView(self, self.out, self.opts.view, self.opts.view_every_s)
            self.say(f"traffic: {self.traffic.opts.rate_per_day:g} trucks/day for {self.opts.minutes:g} simulated "
                     f"minutes at {self.opts.speed:g}x" + (" with chaos" if self.chaos else ""))
            arrivals_end = self.clock.real_at(self.opts.minutes * 60)
            while True:
                time.sleep(0.5)
                self._watch_daemons()
                view.tick()
                now = time.monotonic()
                if now >= arrivals_end and self.chaos and not self.chaos.stopping.is_set():
                    self.chaos.stop()  # faults only while trucks arrive; the trucks on site then finish
                if now >= arrivals_end:
                    counts = self.ledger.counts()
                    if counts["in_site"] == 0 or now >= arrivals_end + self.opts.drain_s:
                        break
            view.tick(force=True)
            return self.finish()
        finally:
            self.teardown()

    def _watch_daemons(self) -> None:
        """A daemon that died on its own (not a chaos kill) is restarted, as systemd would, and counted."""
        busy = self.chaos.busy if self.chaos else set()
        for gid, rig in self.rigs.items():
            if not rig.alive() and gid not in busy:
                self.restarts_unexpected += 1
                log.warning("daemon_exited", extra={"gate": gid})
                rig.start_daemon()

    def finish(self) -> dict[str, Any]:
        assert self.traffic and self.sched and self.clock and self.central
        self.traffic.closed = True
        if self.chaos:
            self.chaos.stop()
        self.sched.stop()
        for lane in self.lanes.values():
            lane.stop()
        self._watch_daemons()
        self._wait_synced(90)
        for rig in self.rigs.values():
            rig.stop_daemon()
        for rig in self.rigs.values():
            rig.final_sync()
        synced = all(rig.backlog() == 0 for rig in self.rigs.values())
        outboxes = {gid: read_outbox(gid, rig.db_path) for gid, rig in self.rigs.items()}
        trucks, visits = self.ledger.snapshot()
        result = audit(outboxes, read_central(self.central.db_path), visits)
        done = [t for t in trucks if t.status == "completed"]
        clearance = [t.clearance_sim / 60 for t in done if t.clearance_sim is not None]
        waits = [w for lane in self.lanes.values() for w in lane.waits]
        lag = describe(self.sched.lags)
        unsafe = sum(rig.plc.stats()["unsafe_closes"] for rig in self.rigs.values())
        summary: dict[str, Any] = {
            "site": self.site.id, "gates": self.gates, "speed": self.opts.speed, "chaos": bool(self.chaos),
            "seed": self.opts.seed, "rate_per_day": self.traffic.opts.rate_per_day,
            "sim_minutes": round(self.clock.now() / 60, 1), "real_s": round(time.monotonic() - self.started, 1),
            "trucks_spawned": len(trucks), "trucks_completed": len(done),
            "trucks_turned_away": sum(1 for t in trucks if t.status == "turned_away"),
            "trucks_in_site_at_end": sum(1 for t in trucks if t.status not in ("completed", "turned_away")),
            "trucks_cleared_not_completed": sum(1 for t in trucks if t.status != "completed" and not t.refused
                                                and not t.undeclared),
            "clearance_min": describe(clearance, 1),
            "plate_accuracy": result["plate_accuracy"], "plate_reads": result["plate_reads"],
            "denials_by_reason": result["denials_by_reason"],
            "events_lost": result["events_lost"], "events_duplicated": result["events_duplicated"],
            "unsafe_closes": unsafe, "outboxes_synced": synced,
            "lag_s": lag, "kept_up": (lag["p95"] or 0.0) < LAG_P95_LIMIT_S,
            "gate_queue_wait_s": describe(waits, 2),
            "audit": {k: v for k, v in result.items() if k not in ("plate_accuracy", "plate_reads", "denials_by_reason",
                                                                   "events_lost", "events_duplicated")},
            "per_gate": {gid: {"passed": self.lanes[gid].passed, "refused_turns": self.lanes[gid].refused,
                               "queue_wait_p95_s": describe(self.lanes[gid].waits, 2)["p95"],
                               "daemon_starts": rig.starts, "kills": rig.kills,
                               "unsafe_closes": rig.plc.stats()["unsafe_closes"]} for gid, rig in self.rigs.items()},
            "faults": self.chaos.log if self.chaos else [],
            "daemon_restarts_unexpected": self.restarts_unexpected,
            "api_errors": self.traffic.api_errors, "action_errors": self.sched.errors,
            "central_url": self.central.url, "workdir": str(self.opts.workdir),
        }
        self._write_record(summary, trucks, visits)
        return summary

    def _write_record(self, summary: dict[str, Any], trucks: list[Any], visits: list[Any]) -> None:
        """The run's summary and ground truth beside its databases, for a later look (or a re-audit)."""
        o = self.opts.workdir
        (o / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
        truth = {"visits": [v.as_dict() for v in visits],
                 "trucks": [{"id": t.id, "plate": t.plate, "route": t.route_name, "gates": t.route,
                             "status": t.status, "trip_id": t.trip_id, "passed": t.passed,
                             "clearance_min": None if t.clearance_sim is None else round(t.clearance_sim / 60, 2)}
                            for t in trucks]}
        (o / "truth.json").write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")

    def _wait_synced(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(rig.backlog() == 0 for rig in self.rigs.values()):
                return True
            time.sleep(0.5)
        return False

    def teardown(self) -> None:
        if self.chaos and not self.chaos.stopping.is_set():
            self.chaos.stop()
        if self.sched:
            self.sched.stop()
        for lane in self.lanes.values():
            lane.stop()
        for rig in self.rigs.values():
            try:
                rig.stop_all()
            except Exception:  # noqa: BLE001 - tear down the rest whatever one part does
                log.exception("rig_stop_failed", extra={"gate": rig.gate_id})
        if self.camera:
            self.camera.stop()
        if self.central:
            self.central.stop()

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
