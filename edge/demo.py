"""``make demo``: the central service and one gate end to end on simulated hardware, printing what it does.

Starts the central service (SQLite, in this process, on a free port); a company registers and declares
trips, the border guard confirms or refuses, the management board lists a plate; the gate box for
``kb2_in`` (Kim Thành, entry of yard KB2) pulls its permits over the sync protocol and runs the real
daemon code (store, decision engine, barrier state machine, status endpoint) on a simulated lane of
trucks, each showing one rule; its events go back to the service, which advances the trips. The box's
store lands in ``var/dev/kb2_in/`` so that afterwards ``gatectl -c config/dev/kb2_in.toml events tail``
shows the run.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from cloud.api.deps import Service
from cloud.auth import create_account, register_gate_token
from cloud.embedded import ServiceThread
from cloud.store.db import Database
from edge.config import load_gate_config
from edge.daemon import Daemon
from edge.sim.world import Lane, Truck

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "dev" / "kb2_in.toml"

#: plate, what happens at the central service before the truck arrives, note, what the camera reads
TRUCKS = [
    Truck("29C-123.45", "declared, border check confirmed"),
    Truck("51F-065.32", "declared and confirmed; dirty plate: the camera reads 51F-O65.32", read_as="51F-O65.32"),
    Truck("59-L2 149.99", "two-row plate, declared and confirmed"),
    Truck("98H-777.77", "declared, but the border guard refused the check"),
    Truck("14C-456.78", "declared, then cancelled by the company"),
    Truck("29C-999.99", "declared and confirmed, but on the central watchlist"),
    Truck("桂A88888", "Chinese truck, not declared; the operator lets it in", turn_away_s=4.0),
    Truck("29C-123.45", "the first truck again: the service withdrew its used permit"),
]


class Central:
    """The central service and the people who use it, driven through its HTTP API."""

    def __init__(self, folder: Path, site_path: Path):
        from edge.config import load_site_config

        self.site = load_site_config(site_path)
        self.db = Database(f"sqlite:///{folder / 'cloud.db'}")
        self.db.migrate()
        self.thread = ServiceThread(Service(self.db, self.site)).start()
        self.url = self.thread.url
        password = secrets.token_urlsafe(12)
        with self.db.begin() as conn:
            create_account(conn, "board.admin", password, "admin", "Ban quản lý khu kinh tế")
        self.admin = self.login("board.admin", password)
        self.call(self.admin, "POST", "/api/v1/admin/accounts", json={
            "username": "bp.kimthanh", "password": password, "role": "agency", "agency": "border_guard",
            "display_name": "Đồn Biên phòng Kim Thành"})
        self.guard = self.login("bp.kimthanh", password)
        self.company = self.call(None, "POST", "/api/v1/companies/register", json={
            "company_name": "Công ty TNHH Xuất khẩu Nông sản Lào Cai", "tax_code": "5300123456",
            "username": "nongsan.lc", "password": password, "display_name": "Nông sản LC"})["token"]

    def login(self, username: str, password: str) -> str:
        return self.call(None, "POST", "/api/v1/auth/login", json={"username": username, "password": password})["token"]

    def call(self, token: str | None, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = requests.request(method, self.url + path, headers=headers, timeout=10, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {r.status_code} {r.text}")
        return r.json()

    def declare(self, plate: str, goods: str) -> str:
        trip = self.call(self.company, "POST", "/api/v1/trips", json={
            "plate": plate, "flow": "export", "goods": goods, "driver_name": "Nguyễn Văn Bình",
            "driver_phone": "0912345678"})
        return trip["id"]

    def border_check(self, trip_id: str, decision: str = "confirmed") -> None:
        self.call(self.guard, "POST", f"/api/v1/trips/{trip_id}/confirmations",
                  json={"step": "border_check_2bc", "decision": decision, "note": "kiểm tra tại 2B/2C"})

    def gate_token(self, gate_id: str, name: str) -> str:
        with self.db.begin() as conn:
            token, _ = register_gate_token(conn, gate_id, name)
        return token

    def stop(self) -> None:
        self.thread.stop()
        self.db.dispose()


def prepare(central: Central) -> dict[str, str]:
    trips = {}
    for plate, goods in (("29C-123.45", "thanh long"), ("51F-065.32", "chuối"), ("59-L2 149.99", "sầu riêng"),
                         ("98H-777.77", "vải thiều"), ("14C-456.78", "xoài"), ("29C-999.99", "linh kiện")):
        trips[plate] = central.declare(plate, goods)
    for plate in ("29C-123.45", "51F-065.32", "59-L2 149.99", "29C-999.99", "14C-456.78"):
        central.border_check(trips[plate])
    central.border_check(trips["98H-777.77"], "refused")
    central.call(central.company, "POST", f"/api/v1/trips/{trips['14C-456.78']}/cancel")
    central.call(central.admin, "POST", "/api/v1/admin/watchlist",
                 json={"plate": "29C-999.99", "reason": "báo cáo của Biên phòng: nghi vấn buôn lậu"})
    return trips


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge.demo", description=__doc__)
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="gate file (dev profile)")
    ap.add_argument("--timeout", type=float, default=90, help="give up after this many seconds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    cfg, site = load_gate_config(args.config)
    work = cfg.store.path.parent
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gate = site.gate(cfg.gate_id)

    central = Central(work / "central", cfg.site)
    say(f"central service {central.url} (SQLite {work / 'central' / 'cloud.db'})")
    trips = prepare(central)
    say(f"company declared {len(trips)} trips; border guard confirmed 5, refused 1; company cancelled 1; "
        "board listed 29C-999.99")
    os.environ["GATE_TOKEN"] = central.gate_token(gate.id, gate.name)  # as systemd's credential would
    cfg = cfg.model_copy(update={"sync": cfg.sync.model_copy(update={"endpoint": central.url, "interval_s": 1.0})})
    say(f"gate {gate.id} — {gate.name}, direction {gate.direction}; store {cfg.store.path}")

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
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    if not wait(lambda: daemon.store.permits.count() >= 4 and daemon.store.watchlist.match("29C99999"), 20):
        say("the gate did not receive its permits from the central service")
        return 1
    say(f"gate pulled {daemon.store.permits.count()} permits (cursor {daemon.store.permits.cursor()}) and the "
        "watchlist over the sync protocol")
    for truck in TRUCKS:
        lane.add(truck)
    say(f"{len(TRUCKS)} trucks queue at the camera:")
    for t in TRUCKS:
        say(f"  {t.plate:<14} {t.note}")
    say("")

    ok = done.wait(args.timeout)
    synced = wait(lambda: daemon.store.outbox.backlog() == 0, 20)
    health = requests.get(daemon.status_server.url + "/healthz", timeout=2).json()
    metrics = requests.get(daemon.status_server.url + "/metrics", timeout=2).text
    daemon.stop_event.set()
    runner.join(timeout=10)

    from edge.localstore import LocalStore
    store = LocalStore.from_config(cfg.store, create=False)
    events = store.outbox.tail(1000)
    store.close()
    first = central.call(central.company, "GET", f"/api/v1/trips/{trips['29C-123.45']}")
    yards = {y["id"]: y for y in central.call(central.company, "GET", "/api/v1/yards")["yards"]}
    central_events = central.call(central.admin, "GET", "/api/v1/events", params={"gate": gate.id, "limit": 1000})
    central.stop()
    say("")
    say(f"lane: passed {lane.passed}, turned away {lane.turned_away}, unsafe closes {lane.unsafe_closes}")
    say(f"events in the gate's outbox: {dict(Counter(e.type for e in events))}; "
        f"{'all' if synced else 'NOT all'} confirmed by the central service")
    say(f"central service holds {len(central_events['events'])} events of {gate.id}; trip 29C-123.45 milestones: "
        f"{[m['milestone'] for m in first['milestones']]}; yard kb2 occupancy {yards['kb2']['occupancy']}"
        f"/{yards['kb2']['capacity']}")
    say(f"health endpoint: {health['status']}")
    say("metrics sample: " + "; ".join(line for line in metrics.splitlines()
                                        if line.startswith("gate_decisions_total")))
    shown = args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config
    say(f"try: .venv/bin/gatectl -c {shown} events tail")
    if not ok or not synced or lane.unsafe_closes:
        say("demo did not finish cleanly")
        return 1
    return 0


def wait(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
