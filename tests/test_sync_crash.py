"""Crashes on either side of the sync link, with real processes: a gate process SIGKILLed in the middle
of a push, and the central service (`gate-cloud serve`) SIGKILLed in the middle of an ingest. Afterwards
every outbox event is stored exactly once centrally, and no event is marked sent that the service lacks."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.sync import Api, ServiceProcess, central_counts, client, fill, open_store, sent_ids

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "config" / "sites" / "kim-thanh.toml"
GATE = "kb2_in"


@pytest.fixture
def service(tmp_path: Path):
    svc = ServiceProcess(f"sqlite:///{tmp_path / 'cloud.db'}", SITE, tmp_path / "serve.log")
    svc.start()
    try:
        yield svc, Api(svc.url, svc.db_url)
    finally:
        svc.stop()


def _local(db: Path) -> tuple[list[str], set[str]]:
    """(all event ids, ids marked sent) of a gate's outbox, read by another process."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT event_id, sent_at FROM events ORDER BY seq").fetchall()
    return [r[0] for r in rows], {r[0] for r in rows if r[1] is not None}


def gate_process(folder: str, url: str, site_id: str, token: str, fill_n: int, batch: int) -> None:
    """A gate process: fill its outbox (if asked), say so, then push until nothing is left."""
    store = open_store(Path(folder))
    if fill_n:
        fill(store, fill_n, seed=7)
    print("ready", flush=True)
    c = client(url, store, site_id, GATE, token, batch, timeout_s=10, retry_attempts=3, retry_max_s=0.2)
    while store.outbox.backlog():
        c.push_events()
    print(json.dumps({"done": len(sent_ids(store))}), flush=True)
    store.close()


def _spawn_gate(tmp_path: Path, svc: ServiceProcess, site_id: str, token: str, fill_n: int, batch: int):  # type: ignore[no-untyped-def]
    code = "import sys; from tests.test_sync_crash import gate_process as g; g(*sys.argv[1:5], int(sys.argv[5]), int(sys.argv[6]))"
    with (tmp_path / "gate.log").open("a") as errors:  # a file, not a pipe nobody reads while it runs
        proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "gate"), svc.url, site_id, token,
                                 str(fill_n), str(batch)], cwd=REPO, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (tmp_path / "gate.log").read_text()
    return proc


def test_a_gate_killed_mid_push_resends_the_rest_and_nothing_is_stored_twice(service, tmp_path: Path) -> None:
    svc, api = service
    token = api.gate_token(GATE)
    site_id = "kim-thanh"
    n = 6000
    proc = _spawn_gate(tmp_path, svc, site_id, token, n, batch=100)
    db = tmp_path / "gate" / "gate.db"
    deadline = time.monotonic() + 30
    try:
        while True:  # kill once part (not all) of the outbox has been confirmed
            ids, sent = _local(db)
            if len(sent) >= n // 5:
                break
            assert proc.poll() is None and time.monotonic() < deadline, "the gate finished or stalled"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ids, sent = _local(db)
    assert len(ids) == n and 0 < len(sent) < n, "the kill did not land mid-push"
    central_before = central_counts(svc.db_url, GATE, ids)
    assert central_before["duplicated_by_id"] == 0
    # The new process pushes the rest (the batch in flight at the kill may go again: stored once).
    proc = _spawn_gate(tmp_path, svc, site_id, token, 0, batch=100)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, (tmp_path / "gate.log").read_text()
    assert json.loads(out.strip().splitlines()[-1])["done"] == n
    ids, sent = _local(db)
    assert sent == set(ids)
    counts = central_counts(svc.db_url, GATE, ids)
    assert counts["rows"] == n and counts["lost"] == 0 and counts["unexpected"] == 0
    assert counts["duplicated_by_id"] == 0 and counts["duplicated_by_seq"] == 0


def test_the_service_killed_mid_ingest_loses_nothing_and_duplicates_nothing(service, tmp_path: Path) -> None:
    svc, api = service
    token = api.gate_token(GATE)
    store = open_store(tmp_path / "gate")
    n = 16_000
    ids = fill(store, n, seed=3)
    # Big batches, and retries patient enough to outlast the restart.
    c = client(svc.url, store, "kim-thanh", GATE, token, 2000, timeout_s=10, retry_attempts=4, retry_max_s=0.5)
    errors: list[str] = []

    def push() -> None:
        end = time.monotonic() + 45
        while store.outbox.backlog() and time.monotonic() < end:
            try:
                c.push_events()
            except Exception as exc:  # Unreachable while the service is down: the next round retries
                errors.append(repr(exc))
                time.sleep(0.2)

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(sent_ids(store)) == 0:
            assert time.monotonic() < deadline, "no batch confirmed"
            time.sleep(0.005)
        time.sleep(0.05)  # into the next batch
        svc.kill()
        sent_at_kill = sent_ids(store)
        assert len(sent_at_kill) < n, "the kill did not land mid-stream"
        # Whatever the gate marked sent before the kill, the service has, even though it died.
        assert central_counts(svc.db_url, GATE, sorted(sent_at_kill))["lost"] == 0
        time.sleep(0.3)
        svc.start()
        thread.join(50)
        assert not thread.is_alive(), f"the gate did not finish ({store.outbox.backlog()} left)"
    finally:
        c.stop.set()
        thread.join(10)
        c.close()
    try:
        assert store.outbox.backlog() == 0 and sent_ids(store) == set(ids)
        counts = central_counts(svc.db_url, GATE, ids)
        assert counts["lost"] == 0 and counts["rows"] == n and counts["unexpected"] == 0
        assert counts["duplicated_by_id"] == 0 and counts["duplicated_by_seq"] == 0
    finally:
        store.close()


def test_serve_workers_start_worker_processes(tmp_path: Path) -> None:
    """`gate-cloud serve --workers 2` really runs two worker processes (the option used to be ignored)."""
    svc = ServiceProcess(f"sqlite:///{tmp_path / 'cloud.db'}", SITE, tmp_path / "serve.log", workers=2)
    svc.start()
    try:
        assert svc.proc is not None
        children = Path(f"/proc/{svc.proc.pid}/task/{svc.proc.pid}/children").read_text().split()
        assert len(children) >= 2, children
        api = Api(svc.url, svc.db_url)  # and it serves: login, accounts, a gate token
        assert api.gate_token(GATE)
    finally:
        svc.stop()
