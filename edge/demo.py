"""``make demo``: a short whole-site run, or (``--one-gate``) one gate box end to end, printing what happens.

Default: ``gate-sim site`` in small — the central service (``gate-cloud serve``, SQLite under
``var/demo/``), a gate daemon per gate of Kim Thành on simulated hardware (Modbus PLC, LED board,
MJPEG camera), two simulated hours of trucks at 60x through the export and import flows, a live view
and the end-of-run audit. The central service's URL is printed first, so its API (and the web
console, where built) can be opened while the run goes on.

``--one-gate``: the central service in-process and the box for ``kb2_in`` (Kim Thành, entry of yard
KB2) running the real daemon code on a simulated lane, eight trucks each showing one rule (fuzzy
match, refused and cancelled declarations, watchlist, operator override, used-up permit). Its store
lands in ``var/dev/kb2_in/`` so that afterwards ``gatectl -c config/dev/kb2_in.toml events tail``
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
    ap = argparse.ArgumentParser(prog="python -m edge.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one-gate", action="store_true", help="the one-gate scenario instead of the site run")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="gate file (--one-gate; dev profile)")
    ap.add_argument("--timeout", type=float, default=90, help="give up after this many seconds (--one-gate)")
    ap.add_argument("--gates", default=None, help="site run: comma-separated gates (default: all)")
    ap.add_argument("--minutes", type=float, default=120, help="site run: simulated minutes of arrivals")
    ap.add_argument("--speed", type=float, default=60, help="site run: simulated seconds per real second")
    ap.add_argument("--rate", type=float, default=900, help="site run: trucks per day")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return one_gate(args) if args.one_gate else site_run(args)


def site_run(args: argparse.Namespace) -> int:
    """The site in small (see the module notes); exit 1 if the audit finds a loss, a duplicate or an
    arm closed on a truck."""
    from gatesim.site.cli import render
    from gatesim.site.orchestrator import RunOptions, SiteRun
    from gatesim.site.plan import HERE

    opts = RunOptions(site_path=REPO / "config" / "sites" / "kim-thanh.toml", workdir=REPO / "var" / "demo",
                      minutes=args.minutes, speed=args.speed, rate_per_day=args.rate,
                      gates=args.gates.split(",") if args.gates else None,
                      traffic_path=HERE / "kim-thanh-fast.toml", drain_s=90, view="auto", view_every_s=5)
    summary = SiteRun(opts, out=sys.stdout).run()
    say("")
    say(render(summary))
    say(f"files of the run (service and gate databases, gate files, logs): {opts.workdir}")
    bad = summary["events_lost"] or summary["events_duplicated"] or summary["unsafe_closes"]
    return 1 if bad or not summary["trucks_completed"] else 0


def one_gate(args: argparse.Namespace) -> int:

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
