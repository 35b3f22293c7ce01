"""``make demo``: one gate end to end on simulated hardware, printing what it does.

Runs the real daemon code (store, decision engine, barrier cycle, status endpoint) for gate ``kb2_in``
of the Kim Thành site with a simulated lane of trucks, each chosen to show one rule. The store lands in
``var/dev/kb2_in/`` so that afterwards ``gatectl -c config/dev/kb2_in.toml events tail`` shows the run.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from edge.config import load_gate_config
from edge.daemon import Daemon
from edge.sim.world import Lane, Truck

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "dev" / "kb2_in.toml"


def permit(pid: str, plate: str, *, flow: str = "export", direction: str = "in", hours: tuple[float, float] = (-1, 8),
           **info: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {"permit_id": pid, "plate": plate, "trip_id": f"trip-{pid}", "flow": flow, "direction": direction,
            "valid_from": (now + timedelta(hours=hours[0])).isoformat(),
            "valid_until": (now + timedelta(hours=hours[1])).isoformat(), "company": info.pop("company", None),
            "info": info}


TRUCKS = [
    Truck("29C-123.45", "declared, all steps confirmed"),
    Truck("51F-065.32", "dirty plate: the camera reads 51F-O65.32", read_as="51F-O65.32"),
    Truck("59-L2 149.99", "two-row plate, declared"),
    Truck("98H-777.77", "declaration expired yesterday"),
    Truck("14C-456.78", "permit is for leaving KB2, not entering"),
    Truck("29C-999.99", "on the watchlist"),
    Truck("桂A88888", "Chinese truck, not declared; the operator lets it in", turn_away_s=4.0),
    Truck("29C-123.45", "the first truck again, minutes later"),
]

PERMITS = [
    permit("p1", "29C12345", company="Cong ty TNHH Xuat khau Lao Cai", goods="thanh long"),
    permit("p2", "51F06532", company="Cong ty CP Nong san Viet", goods="chuoi"),
    permit("p3", "59L214999", company="Cong ty TNHH Van tai Bac Ha", goods="sau rieng"),
    permit("p4", "98H77777", hours=(-30, -6)),
    permit("p5", "14C45678", direction="out"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge.demo", description=__doc__)
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="gate file (dev profile)")
    ap.add_argument("--timeout", type=float, default=60, help="give up after this many seconds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    cfg, site = load_gate_config(args.config)
    shutil.rmtree(cfg.store.path.parent, ignore_errors=True)
    gate = site.gate(cfg.gate_id)
    say(f"Gate {gate.id} — {gate.name} ({site.name}), direction {gate.direction}, flows {gate.flows}")
    say(f"store {cfg.store.path}")

    lane = Lane(arrival_gap_s=1.5)
    done = threading.Event()
    pending = {"n": len(TRUCKS)}
    daemon_box: dict[str, Daemon] = {}

    def listener(kind: str, data: dict[str, Any]) -> None:
        if kind == "decision":
            verdict = "OPEN " if data["allow"] else "DENY "
            how = f" via {data['match']} match on {data['plate']}" if data["match"] == "fuzzy" else ""
            say(f"  read {data['read']!r:<16} conf {data['confidence']:.2f} -> {verdict} {data['reason']}{how}")
            if data.get("alert"):
                say(f"  ALERT {data['alert']}")
            if data["reason"] == "no_permit" and data["plate"] == "桂A88888":
                event = daemon_box["d"].store.state.add_override("桂A88888", "Nguyen Van An (tram truong)",
                                                                 "xe Trung Quoc, giay to kiem tra tai cho", 120)
                say(f"  operator override recorded as event #{event.seq}")
            elif not data["allow"]:
                pending["n"] -= 1
        elif kind == "passage":
            q = f", queue number {data['queue_number']}" if data["queue_number"] else ""
            say(f"  truck {data['plate']} drove over the loop{q}")
        elif kind == "cycle":
            r = data["result"]
            timing = f"arm up in {r.get('open_s', '?')} s, down in {r.get('close_s', '?')} s"
            say(f"  barrier cycle {'ok' if r['ok'] else 'FAILED: ' + str(r['why'])}: {timing}")
            pending["n"] -= 1
        if pending["n"] <= 0:
            done.set()

    daemon = Daemon(cfg, site, lane=lane, listener=listener)
    daemon_box["d"] = daemon
    result = daemon.store.permits.apply_delta(PERMITS, [], cursor=1)
    daemon.store.watchlist.add("29C-999.99", "bao cao cua Bien phong: nghi van buon lau")
    say(f"permits cached: {result.applied} (cursor {result.cursor}); watchlist: 29C-999.99")
    for truck in TRUCKS:
        lane.add(truck)
    say(f"{len(TRUCKS)} trucks queue at the camera:")
    for t in TRUCKS:
        say(f"  {t.plate:<14} {t.note}")
    say("")

    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    ok = done.wait(args.timeout)
    time.sleep(0.3)
    health = requests.get(daemon.status_server.url + "/healthz", timeout=2).json()
    metrics = requests.get(daemon.status_server.url + "/metrics", timeout=2).text
    daemon.stop_event.set()
    runner.join(timeout=10)

    from edge.localstore import LocalStore
    store = LocalStore.from_config(cfg.store, create=False)
    events = store.outbox.tail(1000)
    store.close()
    say("")
    say(f"lane: passed {lane.passed}, turned away {lane.turned_away}, unsafe closes {lane.unsafe_closes}")
    say(f"events in the outbox: {dict(Counter(e.type for e in events))}, all unsent (no central service yet)")
    say(f"health endpoint: {health['status']}")
    say("metrics sample: " + "; ".join(line for line in metrics.splitlines()
                                        if line.startswith("gate_decisions_total")))
    say(f"try: .venv/bin/gatectl -c {args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config}"
        " events tail")
    if not ok or lane.unsafe_closes:
        say("demo did not finish cleanly")
        return 1
    return 0


def say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
