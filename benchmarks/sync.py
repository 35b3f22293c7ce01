"""``sync``: gate outboxes draining into the real central service (``gate-cloud serve``) on PostgreSQL.

(a) ``drain_events_per_s``: one gate with ``--drain-events`` queued events pushes them all
(``SyncClient.push_events``, ``--batch-size`` per request) into a fresh PostgreSQL database.
(b) ``ingest_events_per_s``: ``--gates`` gates at once, each its own process with its own outbox, token
and SyncClient, ``--events-per-gate`` each; total events / wall time from the common start to the last.
(c) ``permit_latency_ms``: a confirmation made through the API until the gate's permits cache holds the
permit, p50 over ``--trials``: with the live channel (MQTT notice -> SyncRunner.trigger) and without
(the runner polls every ``--poll-interval`` s).
(d) fault run: a gate pushes ``--fault-events`` through a TCP proxy that resets connections mid-request
or mid-answer at random, then recovers through a clean link: ``lost`` (outbox events missing centrally)
and ``duplicated`` (rows beyond one per event_id, and beyond one per (gate, seq)).

The database is created for the run and dropped after, unless ``--db-url`` names one.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing as mp
import os
import random
import secrets
import socket
import sqlite3
import string
import threading
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from benchmarks import positive_int
from benchmarks.stats import percentile
from edge.config.models import SyncConfig
from edge.localstore import LocalStore
from edge.localstore.outbox import insert_event
from gatesim.link import CuttingProxy
from gatesim.service import wait_healthy

log = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "config" / "sites" / "kim-thanh.toml"
PG_SERVER = os.environ.get("CLOUD_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
PASSWORD = "benchmark password 123"
LATENCY_GATE = "kb2_in"  # a border guard's check at 2B/2C gives an export trip its permit here

GOAL_DRAIN_PER_S = 2000.0
GOAL_INGEST_PER_S = 5000.0
GOAL_PERMIT_MQTT_MS = 2000.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drain-events", type=positive_int, default=20_000, help="events one gate drains (default 20,000)")
    p.add_argument("--gates", type=positive_int, default=20, help="gates pushing at once (default 20)")
    p.add_argument("--events-per-gate", type=positive_int, default=2_000, help="events per gate (default 2,000)")
    p.add_argument("--batch-size", type=positive_int, default=500, help="events per push request (default 500)")
    p.add_argument("--trials", type=positive_int, default=10, help="confirmations timed per mode (default 10)")
    p.add_argument("--poll-interval", type=float, default=5.0,
                   help="the gate's polling interval without MQTT, seconds (default 5)")
    p.add_argument("--fault-events", type=positive_int, default=5_000, help="events of the fault run (default 5,000)")
    p.add_argument("--fault-rate", type=float, default=0.3,
                   help="chance that a connection of the fault run is cut mid-request or mid-answer (default 0.3)")
    p.add_argument("--workers", type=positive_int, default=2, help="gate-cloud serve --workers (default 2)")
    p.add_argument("--mqtt", default="127.0.0.1:1883", help="MQTT broker host:port (default 127.0.0.1:1883)")
    p.add_argument("--db-url", default=None,
                   help="SQLAlchemy URL of the service database (default: a fresh PostgreSQL database, dropped after)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--dir", type=Path, default=None, help="folder for the temporary stores (default: system temp)")


# ------------------------------------------------------------------------------------------ the service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def pg_database(server: str = PG_SERVER, prefix: str = "bench_sync") -> Iterator[str]:
    """A fresh PostgreSQL database for the block (dropped after); yields its SQLAlchemy URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_site(folder: Path, extra_gates: int) -> Path:
    """The Kim Thành site under a site id of its own (MQTT topics of this run are its own), with
    ``extra_gates`` entry gates ``bench_gNN`` besides the real ones."""
    text = SITE.read_text(encoding="utf-8").replace('id = "kim-thanh"', f'id = "bench-{uuid.uuid4().hex[:8]}"', 1)
    for i in range(extra_gates):
        text += (f'\n[[gates]]\nid = "{bench_gate(i)}"\nname = "Benchmark gate {i}"\ndirection = "in"\n'
                 'flows = ["export"]\nrequires.export = ["border_check_2bc"]\nrecords = ["arrived_kb2"]\n')
    path = folder / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def bench_gate(i: int) -> str:
    return f"bench_g{i:02d}"


def gate_cloud_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "gate-cloud"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from cloud.cli import main; main()"]


class ServiceProcess:
    """``gate-cloud serve`` as a subprocess on a free port; ``kill()`` is a SIGKILL, ``start()`` again
    brings it back on the same port and database."""

    def __init__(self, db_url: str, site: Path, log_path: Path, *, workers: int = 1, mqtt: str | None = None,
                 port: int | None = None):
        self.db_url, self.site, self.log_path, self.workers, self.mqtt = db_url, site, log_path, workers, mqtt
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> "ServiceProcess":
        cmd = [*gate_cloud_cmd(), "serve", "--site", str(self.site), "--port", str(self.port),
               "--workers", str(self.workers)]
        if self.mqtt:
            cmd += ["--mqtt", self.mqtt]
        out = self.log_path.open("ab")
        # The URL may carry a password: it goes in the environment, not in the arguments.
        self.proc = subprocess.Popen(cmd, env=os.environ | {"GATE_CLOUD_DB": self.db_url}, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        try:
            wait_healthy(self.proc, self.url, self.log_path, timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group (the workers too), as a power cut would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


class Api:
    """The people's and the admin's side, through HTTP."""

    def __init__(self, url: str, db_url: str):
        from cloud.auth import create_account
        from cloud.store.db import Database

        self.url = url
        db = Database(db_url)
        try:
            db.migrate()
            with db.begin() as conn:
                create_account(conn, "admin", PASSWORD, "admin", "Ban quản lý")
        finally:
            db.dispose()
        self.admin = self.login("admin")
        self.call(self.admin, "POST", "/api/v1/admin/accounts", 201, json={
            "username": "bp.bench", "password": PASSWORD, "role": "agency", "display_name": "Biên phòng",
            "agency": "border_guard"})
        self.border_guard = self.login("bp.bench")
        self.company = self.call(None, "POST", "/api/v1/companies/register", 201, json={
            "company_name": "Công ty Benchmark", "tax_code": "".join(random.choices(string.digits, k=10)),
            "username": "cty.bench", "password": PASSWORD, "display_name": "Benchmark"})["token"]

    def call(self, token: str | None, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = requests.request(method, self.url + path, headers=headers, timeout=30, **kw)
        if r.status_code != expect:
            raise RuntimeError(f"{method} {path}: HTTP {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def login(self, username: str) -> str:
        return self.call(None, "POST", "/api/v1/auth/login", json={"username": username, "password": PASSWORD})["token"]

    def gate_token(self, gate_id: str) -> str:
        return self.call(self.admin, "POST", f"/api/v1/admin/gates/{gate_id}/token", 201)["token"]

    def declare(self, plate: str) -> str:
        return self.call(self.company, "POST", "/api/v1/trips", 201, json={
            "plate": plate, "flow": "export", "goods": "thanh long", "driver_name": "Nguyễn Văn A"})["id"]

    def confirm(self, trip_id: str) -> None:
        self.call(self.border_guard, "POST", f"/api/v1/trips/{trip_id}/confirmations", 201,
                  json={"step": "border_check_2bc", "decision": "confirmed"})


def central_counts(db_url: str, gate_id: str, event_ids: list[str]) -> dict[str, int]:
    """What the service's gate_events hold of a gate's outbox: lost, duplicated (by id and by seq)."""
    from sqlalchemy import func, select

    from cloud.store import schema
    from cloud.store.db import Database

    e = schema.gate_events
    db = Database(db_url)
    try:
        with db.begin() as conn:
            rows = conn.execute(select(e.c.event_id, e.c.seq).where(e.c.gate_id == gate_id)).all()
            per_seq = conn.execute(select(func.count()).select_from(
                select(e.c.seq).where(e.c.gate_id == gate_id).group_by(e.c.seq).having(func.count() > 1).subquery())
            ).scalar_one()
    finally:
        db.dispose()
    held = {r.event_id for r in rows}
    ids = set(event_ids)
    return {"rows": len(rows), "lost": len(ids - held), "duplicated_by_id": len(rows) - len(held),
            "duplicated_by_seq": len(rows) - len({r.seq for r in rows}), "seqs_held_twice": int(per_seq),
            "unexpected": len(held - ids)}


# ------------------------------------------------------------------------------------------ gates


def open_store(folder: Path) -> LocalStore:
    return LocalStore(folder / "gate.db", folder / "snapshots", min_free_mb=1)


def fill(store: LocalStore, n: int, seed: int, chunk: int = 5000) -> list[str]:
    """``n`` decision-like events (about a real one's size), committed ``chunk`` at a time."""
    rng = random.Random(seed)
    ids: list[str] = []
    for start in range(0, n, chunk):
        with store.transaction() as conn:
            for i in range(start, min(n, start + chunk)):
                text = f"{rng.randint(11, 99)}C{rng.randint(10000, 99999)}"
                payload = {"allow": True, "reason": "permit_ok", "read": text, "confidence": round(rng.random(), 4),
                           "match": "exact", "substitutions": 0, "permit_id": f"P{i:08d}", "trip_id": f"T{i:08d}",
                           "gate": "bench", "box": [203, 130, 430, 70], "source": "bench"}
                ids.append(insert_event(conn, "decision", plate=text, reason="permit_ok", payload=payload).event_id)
    return ids


def client(url: str, store: LocalStore, site_id: str, gate: str, token: str, batch_size: int, **cfg: Any):  # type: ignore[no-untyped-def]
    from edge.sync import SyncClient

    settings = {"endpoint": url, "timeout_s": 30, "retry_attempts": 4, "retry_max_s": 1.0,
                "batch_size": batch_size} | cfg
    return SyncClient(SyncConfig(**settings), store, site_id, gate, token)


def drain(store: LocalStore, c: Any, deadline_s: float = 600) -> None:
    """Push rounds until the outbox is empty."""
    end = time.monotonic() + deadline_s
    while store.outbox.backlog():
        c.push_events()
        if time.monotonic() > end:
            raise RuntimeError(f"outbox not drained: {store.outbox.backlog()} left")


class Timeline:
    """A count sampled every ``every_s`` on a thread of its own, for the report's throughput-over-time
    plot; ``open_count`` runs on that thread (a connection belongs to the thread that made it)."""

    def __init__(self, open_count: Callable[[], Callable[[], int]], every_s: float = 0.1):
        self.open_count, self.every_s = open_count, every_s
        self.t_s: list[float] = []
        self.count: list[int] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)

    def _run(self) -> None:
        count = self.open_count()
        t0 = time.perf_counter()
        self._ready.set()
        while True:
            self.t_s.append(round(time.perf_counter() - t0, 3))
            self.count.append(count())
            if self._stop.is_set():
                return  # that was the final count, taken after the work ended
            self._stop.wait(self.every_s)

    def __enter__(self) -> "Timeline":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def series(self, what: str = "events") -> dict[str, Any]:
        return {"t_s": self.t_s, "count": self.count, "what": what}


def sent_counter(db: Path) -> Callable[[], Callable[[], int]]:
    """Events a gate's outbox holds as sent, read through a read-only connection of its own."""
    def open_count() -> Callable[[], int]:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        return lambda: int(conn.execute("SELECT count(*) FROM events WHERE sent_at IS NOT NULL").fetchone()[0])
    return open_count


def central_counter(db_url: str, gates: list[str]) -> Callable[[], Callable[[], int]]:
    """Events the service holds from ``gates`` (PostgreSQL through psycopg)."""
    def open_count() -> Callable[[], int]:
        import psycopg

        conn = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)
        return lambda: int(conn.execute("SELECT count(*) FROM gate_events WHERE gate_id = ANY(%s)",
                                        (gates,)).fetchone()[0])  # type: ignore[index]
    return open_count


def sent_ids(store: LocalStore) -> set[str]:
    return {r[0] for r in store.db.query("SELECT event_id FROM events WHERE sent_at IS NOT NULL")}


def _ingest_gate(url: str, site_id: str, gate: str, token: str, folder: str, n: int, batch_size: int, seed: int,
                 ready: Any, go: Any, results: Any) -> None:
    """One gate process of the ingest run: fill its outbox, wait for the start, drain, report."""
    logging.getLogger("edge").setLevel(logging.WARNING)
    store = open_store(Path(folder))
    try:
        fill(store, n, seed)
        c = client(url, store, site_id, gate, token, batch_size)
        ready.put(gate)
        go.wait()
        t0 = time.time()
        drain(store, c)
        results.put((gate, t0, time.time(), len(sent_ids(store))))
        c.close()
    except BaseException as exc:  # reported to the parent, which fails the run
        results.put((gate, None, None, repr(exc)))
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ parts


def bench_drain(svc: ServiceProcess, api: Api, site_id: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    gate = bench_gate(0)
    store = open_store(folder / "drain")
    try:
        ids = fill(store, args.drain_events, args.seed)
        c = client(svc.url, store, site_id, gate, api.gate_token(gate), args.batch_size)
        log.info("drain: one gate pushes %d queued events", len(ids))
        with Timeline(sent_counter(folder / "drain" / "gate.db")) as timeline:
            t = time.perf_counter()
            drain(store, c)
            s = time.perf_counter() - t
        c.close()
        counts = central_counts(svc.db_url, gate, ids)
    finally:
        store.close()
    log.info("drain: %.0f events/s", len(ids) / s)
    return {"drain_events": len(ids), "drain_s": round(s, 3), "drain_events_per_s": round(len(ids) / s, 1),
            "drain_lost": counts["lost"], "drain_duplicated": counts["duplicated_by_id"],
            "series": {"drain": timeline.series()}}


def bench_ingest(svc: ServiceProcess, api: Api, site_id: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    gates = [bench_gate(i) for i in range(1, args.gates + 1)]
    procs = []
    for i, gate in enumerate(gates):
        p = ctx.Process(target=_ingest_gate, daemon=True, args=(
            svc.url, site_id, gate, api.gate_token(gate), str(folder / gate), args.events_per_gate, args.batch_size,
            args.seed + 100 + i, ready, go, results))
        p.start()
        procs.append(p)
    log.info("ingest: %d gate processes fill %d events each", len(gates), args.events_per_gate)
    for _ in gates:
        ready.get(timeout=300)
    log.info("ingest: go")
    sampled = svc.db_url.startswith("postgresql")
    with (Timeline(central_counter(svc.db_url, gates), every_s=0.2) if sampled
          else contextlib.nullcontext()) as timeline:
        t0 = time.time()
        go.set()
        done = [results.get(timeout=600) for _ in gates]
    wall = max(r[2] for r in done if r[2] is not None) - t0 if all(r[1] is not None for r in done) else None
    for p in procs:
        p.join(30)
    failed = [r for r in done if r[1] is None]
    if failed:
        raise RuntimeError(f"ingest gates failed: {failed}")
    total = args.gates * args.events_per_gate
    stored = sum(central_counts(svc.db_url, g, [])["rows"] for g in gates)
    assert wall is not None
    log.info("ingest: %d events in %.2f s", total, wall)
    return {"ingest_gates": args.gates, "ingest_events": total, "ingest_stored": stored, "ingest_s": round(wall, 3),
            "ingest_events_per_s": round(total / wall, 1),
            "ingest_slowest_gate_s": round(max(r[2] - r[1] for r in done), 3),
            "series": {"ingest": timeline.series()} if timeline else {}}


def bench_permit_latency(svc: ServiceProcess, api: Api, site_id: str, folder: Path, args: argparse.Namespace,
                         *, mqtt: str | None) -> dict[str, Any]:
    from edge.sync import SyncRunner
    from edge.sync.live import LiveChannel

    mode = "mqtt" if mqtt else "poll"
    store = open_store(folder / f"latency-{mode}")
    interval = 60.0 if mqtt else args.poll_interval  # with MQTT the notice, not the poll, brings the permit
    c = client(svc.url, store, site_id, LATENCY_GATE, api.gate_token(LATENCY_GATE), args.batch_size,
               interval_s=interval)
    runner = SyncRunner(c, interval_s=interval, backoff_max_s=max(interval, 5))
    live = None
    rng = random.Random(f"{args.seed}-{mode}")  # plates of their own: none may already hold a permit
    samples: list[float] = []
    try:
        runner.start()
        if mqtt:
            host, _, port = mqtt.partition(":")
            live = LiveChannel(host, int(port or 1883), site_id, LATENCY_GATE, runner.trigger,
                               client_id=f"bench-{uuid.uuid4().hex[:8]}")
            live.start()
            if not live.connected.wait(10):
                raise RuntimeError(f"MQTT broker {mqtt} not reachable")
        time.sleep(0.5)  # the first round (full snapshot) done
        for i in range(args.trials):
            plate = f"{rng.randint(11, 99)}C{rng.randint(10000, 99999)}"
            if store.permits.by_plate(plate):
                continue
            trip = api.declare(plate)
            time.sleep(rng.uniform(0.05, 0.3) if mqtt else rng.uniform(0, interval))  # not in phase with the polls
            t = time.perf_counter()
            api.confirm(trip)
            limit = t + 10 + interval * 2
            while not store.permits.by_plate(plate):
                if time.perf_counter() > limit:
                    raise RuntimeError(f"permit for {plate} did not reach the gate ({mode})")
                time.sleep(0.002)
            samples.append((time.perf_counter() - t) * 1000)
            log.info("permit latency (%s) trial %d: %.0f ms (round %d)", mode, i + 1, samples[-1], runner.rounds)
    finally:
        if live is not None:
            live.close()
        runner.stop()
        store.close()
    ms = sorted(samples)
    return {"p50_ms": round(percentile(ms, 50), 1), "max_ms": round(ms[-1], 1), "trials": len(ms), "samples": ms,
            **({"poll_interval_s": interval} if not mqtt else {})}


def bench_faults(svc: ServiceProcess, api: Api, site_id: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    gate = bench_gate(args.gates + 1)
    token = api.gate_token(gate)
    store = open_store(folder / "faults")
    proxy = CuttingProxy(svc.port, args.fault_rate, args.seed + 3)
    try:
        ids = fill(store, args.fault_events, args.seed + 5)
        # Small batches: many requests, so many cuts.
        batch = max(1, min(args.batch_size, 100))
        c = client(f"http://127.0.0.1:{proxy.port}", store, site_id, gate, token, batch, timeout_s=10,
                   retry_attempts=2, retry_max_s=0.05)
        log.info("faults: %d events through a proxy cutting %.0f %% of connections", len(ids), args.fault_rate * 100)
        rounds = failed = 0
        end = time.monotonic() + 120
        while store.outbox.backlog() and time.monotonic() < end:
            rounds += 1
            try:
                c.push_events()
            except Exception as exc:  # Unreachable after the retries: the next round goes on
                failed += 1
                log.debug("faults: round failed: %s", exc)
        left = store.outbox.backlog()
        # Marked sent but absent centrally would be a lost event the gate will never send again.
        before = central_counts(svc.db_url, gate, sorted(sent_ids(store)))
        c.close()
        log.info("faults: %d rounds (%d failed), %d requests, cuts %s, %d left; recovering", rounds, failed,
                 proxy.requests, proxy.cuts, left)
        c = client(svc.url, store, site_id, gate, token, args.batch_size)
        drain(store, c)
        c.close()
        counts = central_counts(svc.db_url, gate, ids)
        unsent = store.outbox.backlog()
    finally:
        proxy.close()
        store.close()
    return {"fault_events": len(ids), "fault_requests": proxy.requests, "fault_connections": proxy.connections,
            "fault_cuts_mid_request": proxy.cuts["request"], "fault_cuts_mid_answer": proxy.cuts["answer"],
            "fault_rounds": rounds, "fault_rounds_failed": failed, "fault_left_before_recovery": left,
            "sent_but_absent": before["lost"], "unsent_after_recovery": unsent,
            "lost": counts["lost"], "duplicated": max(counts["duplicated_by_id"], counts["duplicated_by_seq"]),
            "duplicated_by_id": counts["duplicated_by_id"], "duplicated_by_seq": counts["duplicated_by_seq"]}


# ------------------------------------------------------------------------------------------ run


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gate-bench-sync-", dir=args.dir) as tmp, \
            (contextlib.nullcontext(args.db_url) if args.db_url else pg_database()) as db_url:
        folder = Path(tmp)
        site = bench_site(folder, args.gates + 2)
        from edge.config import load_site_config
        site_id = load_site_config(site).id
        from cloud.store.db import Database
        db = Database(db_url)
        db.migrate()
        db.dispose()
        svc = ServiceProcess(db_url, site, folder / "serve.log", workers=args.workers, mqtt=args.mqtt)
        log.info("starting gate-cloud serve --workers %d on port %d", args.workers, svc.port)
        svc.start()
        try:
            api = Api(svc.url, db_url)
            out: dict[str, Any] = {"benchmark": "sync", "service_workers": args.workers,
                                   "database": "postgresql" if db_url.startswith("postgres") else db_url.split(":")[0],
                                   "batch_size": args.batch_size}
            drained = bench_drain(svc, api, site_id, folder, args)
            ingested = bench_ingest(svc, api, site_id, folder, args)
            series = drained.pop("series") | ingested.pop("series")
            out.update(drained)
            out.update(ingested)
            lat_mqtt = bench_permit_latency(svc, api, site_id, folder, args, mqtt=args.mqtt)
            lat_poll = bench_permit_latency(svc, api, site_id, folder, args, mqtt=None)
            out["permit_latency_ms"] = {"mqtt_p50": lat_mqtt["p50_ms"], "mqtt_max": lat_mqtt["max_ms"],
                                        "poll_p50": lat_poll["p50_ms"], "poll_max": lat_poll["max_ms"],
                                        "poll_interval_s": lat_poll["poll_interval_s"], "trials": args.trials}
            out.update(bench_faults(svc, api, site_id, folder, args))
            # for the report's plots; the CLI leaves them out of --json
            out["samples"] = {"permit_latency_mqtt_ms": lat_mqtt["samples"], "permit_latency_poll_ms": lat_poll["samples"]}
            out["series"] = series
        finally:
            svc.stop()
    meets = {
        "meets_goal_drain": out["drain_events_per_s"] >= GOAL_DRAIN_PER_S,
        "meets_goal_ingest": out["ingest_events_per_s"] >= GOAL_INGEST_PER_S,
        "meets_goal_permit_latency": out["permit_latency_ms"]["mqtt_p50"] <= GOAL_PERMIT_MQTT_MS,
        "meets_goal_faults": out["lost"] == 0 and out["duplicated"] == 0 and out["sent_but_absent"] == 0,
    }
    return {**out, "goal_drain_events_per_s": GOAL_DRAIN_PER_S, "goal_ingest_events_per_s": GOAL_INGEST_PER_S,
            "goal_permit_latency_mqtt_ms": GOAL_PERMIT_MQTT_MS, "goal_lost": 0, "goal_duplicated": 0,
            **meets, "meets_goal": all(meets.values())}

