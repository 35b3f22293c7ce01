"""``console``: server time of every console page with a large PostgreSQL database behind it.

A fresh PostgreSQL database is filled by COPY with ``--trips`` trips (default 100,000: confirmations,
milestones, permits, queue numbers) and ``--events`` gate events (default 1,000,000, over ``--days``
days and all the site's gates, with snapshots), then ANALYZEd. ``gate-cloud serve`` runs on it; each
page is requested ``--requests`` times by a signed-in person of the role that uses it, after a warm-up,
and the server's own time (its ``Server-Timing`` header) is summarised per page: p50/p95/max.
Goal: every page p95 <= 200 ms. The database is dropped after.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import re
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from benchmarks import positive_int
from benchmarks.stats import percentile
from benchmarks.sync import PG_SERVER, SITE, ServiceProcess, pg_database

log = logging.getLogger("benchmarks")
GOAL_P95_MS = 200.0
PASSWORD = "benchmark password 123"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
TIMING_RE = re.compile(r"app;dur=([0-9.]+)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trips", type=positive_int, default=100_000, help="trips in the database (default 100,000)")
    p.add_argument("--events", type=positive_int, default=1_000_000, help="gate events (default 1,000,000)")
    p.add_argument("--days", type=positive_int, default=30, help="days the data spans, up to now (default 30)")
    p.add_argument("--requests", type=positive_int, default=30, help="timed requests per page (default 30)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")


# ------------------------------------------------------------------------------------------ filling


def _plate(i: int) -> str:
    return f"{11 + i % 89}C{10000 + (i * 7919) % 90000}"


def fill(db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Bulk-load the database (COPY); returns figures and the names the page requests need."""
    import psycopg
    from psycopg.types.json import Jsonb

    from cloud.auth import create_account, register_gate_token
    from cloud.store.db import Database
    from edge.config import load_site_config

    rnd = random.Random(args.seed)
    site = load_site_config(SITE)
    db = Database(db_url)
    db.migrate()
    now = datetime.now(timezone.utc)
    span = timedelta(days=args.days)
    t0 = time.perf_counter()
    companies = 500
    with db.begin() as conn:
        from sqlalchemy import insert
        from cloud.store import schema
        conn.execute(insert(schema.companies), [{"name": f"Công ty {i}", "tax_code": f"{i:010d}", "created_at": now}
                                                for i in range(1, companies + 1)])
        create_account(conn, "admin", PASSWORD, "admin", "Ban quản lý")
        create_account(conn, "cty.bench", PASSWORD, "company", "Benchmark", company_id=1)
        create_account(conn, "hq.bench", PASSWORD, "agency", "Hải quan", agency="customs")
        create_account(conn, "kd.bench", PASSWORD, "agency", "Kiểm dịch", agency="plant_quarantine")
        create_account(conn, "bp.bench", PASSWORD, "agency", "Biên phòng", agency="border_guard")
        create_account(conn, "kb.bench", PASSWORD, "yard_operator", "Kho bãi", yard="kb2")
        for g in site.gates:
            register_gate_token(conn, g.id, g.name)
    steps_by_flow = {f: [s.id for s in site.steps if any(s.id in g.requires.get(f, []) for g in site.gates)
                         and s.on_platform] for f in ("export", "import")}
    gates_by_flow = {f: [g.id for g in site.gates if f in g.flows] for f in ("export", "import")}
    conn_url = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    trips: list[tuple[str, str, str, str]] = []  # id, plate, flow, status
    n_conf = n_mile = n_perm = 0
    with psycopg.connect(conn_url) as pg:
        with pg.cursor() as cur:
            with cur.copy("COPY trips (id, company_id, plate, plate_display, flow, goods, driver_name, driver_phone, "
                          "driver_id_number, registered_load_t, conditional_steps, status, valid_until, created_at, "
                          "updated_at) FROM STDIN") as cp:
                for i in range(args.trips):
                    created = now - span * (1 - i / args.trips)  # later trips are newer
                    status = "open" if created > now - timedelta(days=3) else rnd.choices(
                        ("completed", "open", "cancelled"), (85, 10, 5))[0]
                    flow = "export" if rnd.random() < 0.7 else "import"
                    plate = _plate(i)
                    tid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                    company = 1 if i % 50 == 0 else rnd.randint(2, companies)
                    cond = ["plant_quarantine"] if rnd.random() < 0.2 else []
                    done = created + timedelta(hours=rnd.uniform(1, 60))
                    cp.write_row((tid, company, plate, plate, flow, "Thanh long", "Nguyễn Văn A", "0912345678",
                                  "001099012345", 20.0, Jsonb(cond), status, created + timedelta(days=3), created,
                                  done if status == "completed" else created))
                    trips.append((tid, plate, flow, status))
            log.info("filled trips: %d", len(trips))
            with cur.copy("COPY confirmations (trip_id, step, agency, decision, account_id, note, at) FROM STDIN") as cp:
                agency = {s.id: s.agency for s in site.steps}
                for k, (tid, _, flow, status) in enumerate(trips):
                    steps = steps_by_flow[flow]
                    n = len(steps) if status == "completed" else rnd.randint(0, min(3, len(steps)))
                    created = now - span * (1 - k / args.trips)
                    for j, step in enumerate(steps[:n]):
                        cp.write_row((tid, step, agency[step], "confirmed", None, None,
                                      min(created + timedelta(minutes=20 * (j + 1) + rnd.randint(0, 90)), now)))
                        n_conf += 1
            log.info("filled confirmations: %d", n_conf)
            with cur.copy("COPY milestones (trip_id, milestone, gate_id, event_id, at) FROM STDIN") as cp:
                for k, (tid, _, flow, status) in enumerate(trips):
                    if status != "completed" and rnd.random() < 0.7:
                        continue
                    created = now - span * (1 - k / args.trips)
                    for j, gid in enumerate(gates_by_flow[flow][:rnd.randint(1, 4)]):
                        cp.write_row((tid, "passed", gid, str(uuid.uuid4()),
                                      min(created + timedelta(hours=j + 1), now)))
                        n_mile += 1
            log.info("filled milestones: %d", n_mile)
            with cur.copy("COPY permits (permit_id, gate_id, trip_id, plate, flow, direction, valid_from, valid_until, "
                          "info, deleted, cursor) FROM STDIN") as cp:
                direction = {g.id: g.direction for g in site.gates}
                for tid, plate, flow, status in trips:
                    if status != "open":
                        continue
                    for gid in rnd.sample(gates_by_flow[flow], 2):
                        n_perm += 1
                        cp.write_row((f"{tid}:{gid}", gid, tid, plate, flow, direction[gid], now - timedelta(days=1),
                                      now + timedelta(days=2), Jsonb({"company": "Công ty"}), False, n_perm))
            cur.execute("INSERT INTO counters (name, value) VALUES ('permit_cursor', %s)", (n_perm,))
            log.info("filled permits: %d", n_perm)
            shas = []
            with cur.copy("COPY snapshots (sha256, gate_id, size, data, received_at) FROM STDIN") as cp:
                for i in range(200):
                    data = b"\xff\xd8\xff\xfe\x00\x10" + f"snapshot {i:08d}".encode() + b"\xff\xd9"
                    sha = hashlib.sha256(data).hexdigest()
                    shas.append(sha)
                    cp.write_row((sha, site.gates[i % len(site.gates)].id, len(data), data, now))
            gate_ids = [g.id for g in site.gates]
            types = ("decision", "barrier", "passage", "alert", "system")
            reasons = {"decision": ("permit_ok",) * 6 + ("no_permit", "low_confidence", "expired", "watchlist"),
                       "barrier": ("opened", "closed", "passed"), "passage": (None,), "alert": ("watchlist",),
                       "system": ("started",)}
            seqs = dict.fromkeys(gate_ids, 0)
            t_ev = time.perf_counter()
            with cur.copy("COPY gate_events (event_id, gate_id, seq, ts, type, plate, reason, payload, snapshot, "
                          "received_at) FROM STDIN") as cp:
                for i in range(args.events):
                    gid = gate_ids[i % len(gate_ids)]
                    seqs[gid] += 1
                    ts = now - span * (1 - i / args.events)
                    kind = rnd.choices(types, (50, 30, 15, 3, 2))[0]
                    trip = trips[rnd.randrange(len(trips))]
                    payload = ({"allow": True, "confidence": round(rnd.uniform(0.5, 1.0), 3), "trip_id": trip[0]}
                               if kind == "decision" else {"trip_id": trip[0]} if kind == "passage" else {})
                    cp.write_row((str(uuid.UUID(int=rnd.getrandbits(128), version=4)), gid, seqs[gid], ts, kind,
                                  trip[1], rnd.choice(reasons[kind]), Jsonb(payload),
                                  shas[i % len(shas)] if kind == "decision" else None,
                                  ts + timedelta(seconds=rnd.uniform(0.1, 3))))
                    if i and i % 200_000 == 0:
                        log.info("events: %d", i)
            events_s = time.perf_counter() - t_ev
            day = now.astimezone(__import__("zoneinfo").ZoneInfo(site.timezone)).date().isoformat()
            with cur.copy("COPY queue_numbers (day, number, trip_id, plate, gate_id, event_id, called_at) FROM STDIN") as cp:
                for n in range(1, 201):
                    tid, plate, _, _ = trips[-n]
                    cp.write_row((day, n, tid, plate, "export_waiting_in", str(uuid.uuid4()), now if n <= 100 else None))
            cur.execute("UPDATE gates SET last_seen_at = now()")
            cur.execute("INSERT INTO yards (id, capacity, occupancy, updated_at) VALUES ('kb2', 300, 180, now())")
        pg.commit()
        pg.autocommit = True
        pg.execute("ANALYZE")
    from sqlalchemy import text

    from cloud import tallies
    with db.begin() as conn:  # the events went in by COPY, around ingest: count them as ingest would have
        tallies.rebuild(conn)
        conn.execute(text("ANALYZE event_tallies"))
    db.dispose()
    total_s = time.perf_counter() - t0
    log.info("filled in %.1f s (events %.1f s)", total_s, events_s)
    open_trip = next(t for t in reversed(trips) if t[3] == "open")
    own = next(t for i, t in enumerate(trips) if i % 50 == 0 and t[3] == "completed")
    return {"fill_s": round(total_s, 1), "events_fill_per_s": round(args.events / events_s),
            "rows": {"trips": len(trips), "confirmations": n_conf, "milestones": n_mile, "permits": n_perm,
                     "events": args.events}, "own_trip": own[0], "plate": open_trip[1], "sha": shas[0]}


# ------------------------------------------------------------------------------------------ timing


class Person:
    def __init__(self, url: str, username: str):
        self.url, self.http = url, requests.Session()
        token = CSRF_RE.search(self.http.get(url + "/login", timeout=30).text).group(1)  # type: ignore[union-attr]
        r = self.http.post(url + "/login", data={"username": username, "password": PASSWORD, "csrf": token},
                           allow_redirects=False, timeout=30)
        if r.status_code != 303:
            raise RuntimeError(f"login {username}: {r.status_code}")

    def time(self, path: str, n: int, warmup: int = 3) -> dict[str, float]:
        server, wall = [], []
        for i in range(warmup + n):
            t = time.perf_counter()
            r = self.http.get(self.url + path, allow_redirects=False, timeout=60)
            elapsed = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
            m = TIMING_RE.search(r.headers.get("server-timing", ""))
            if i >= warmup:
                server.append(float(m.group(1)) if m else elapsed)
                wall.append(elapsed)
        server.sort()
        wall.sort()
        return {"p50_ms": round(percentile(server, 50), 1), "p95_ms": round(percentile(server, 95), 1),
                "max_ms": round(server[-1], 1), "client_p95_ms": round(percentile(wall, 95), 1)}


def pages(names: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(page label, account, path): each page as the role that uses it."""
    plate = names["plate"]
    return [
        ("login", "", "/login"),
        ("company_trips", "cty.bench", "/trips"),
        ("company_trip_timeline", "cty.bench", f"/trips/{names['own_trip']}"),
        ("company_declare_form", "cty.bench", "/trips/new"),
        ("yards", "cty.bench", "/yards"),
        ("worklist_customs", "hq.bench", "/work?step=customs_export_eligible"),
        ("worklist_plant_conditional", "kd.bench", "/work?step=plant_quarantine"),
        ("worklist_by_plate", "bp.bench", f"/work?step=border_check_2bc&plate={plate}"),
        ("yard_operator", "kb.bench", "/yard"),
        ("queue", "bp.bench", "/queue"),
        ("monitor", "admin", "/monitor"),
        ("monitor_live", "admin", "/monitor/live"),
        ("events_latest", "admin", "/events"),
        ("events_by_plate", "admin", f"/events?plate={plate}"),
        ("events_by_gate_day", "admin", "/events?gate=kb2_in&since=" + (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")),
        ("events_csv_1000", "admin", "/events.csv?gate=kb1_in&limit=1000"),
        ("snapshot", "admin", f"/snapshots/{names['sha']}"),
        ("stats_7d", "admin", "/stats?days=7"),
        ("stats_1d", "admin", "/stats?days=1"),
        ("admin_accounts", "admin", "/admin/accounts"),
        ("admin_gates", "admin", "/admin/gates"),
        ("admin_watchlist", "admin", "/admin/watchlist"),
    ]


def stats_cold(url: str) -> dict[str, float]:
    """The statistics queries themselves (the page caches them for a minute): worst of 3 runs per window."""
    from cloud import reports
    from cloud.store.db import Database
    from edge.config import load_site_config

    site, db = load_site_config(SITE), Database(url)
    out = {}
    try:
        for days in (1, 7):
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                with db.begin() as conn:
                    reports.statistics(conn, site, days)
                runs.append((time.perf_counter() - t) * 1000)
            out[f"days_{days}_max_ms"] = round(max(runs), 1)
    finally:
        db.dispose()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp, pg_database(PG_SERVER, "bench_console") as url:
        names = fill(url, args)
        cold = stats_cold(url)
        service = ServiceProcess(url, SITE, Path(tmp) / "serve.log").start()
        try:
            people: dict[str, Any] = {}
            result: dict[str, Any] = {}
            for label, account, path in pages(names):
                if account not in people:
                    people[account] = Person(service.url, account) if account else requests.Session()
                who = people[account]
                if isinstance(who, requests.Session):  # anonymous: wrap for timing
                    anon = Person.__new__(Person)
                    anon.url, anon.http = service.url, who
                    who = anon
                result[label] = who.time(path, args.requests)
                log.info("%-28s %s", label, result[label])
        finally:
            service.stop()
        worst = max(v["p95_ms"] for v in result.values())
        out = {"benchmark": "console", "database": "postgresql", "fill": {k: names[k] for k in ("fill_s", "events_fill_per_s", "rows")},
               "requests_per_page": args.requests, "pages": result, "stats_uncached_ms": cold, "worst_p95_ms": worst,
               "goal_p95_ms": GOAL_P95_MS, "meets_goal": worst <= GOAL_P95_MS}
        return out
