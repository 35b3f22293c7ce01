"""edge/sync against the real central service (cloud/api on a free port, SQLite): events exactly once
through a link that drops, resets and blackholes; snapshots once; permits deltas, full snapshots and
paging; the watchlist; a revoked token; events the service refuses; the polling thread; gatectl sync;
the daemon's wiring."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from edge.config import load_gate_config
from edge.config.models import SyncConfig
from edge.localstore import LocalStore
from edge.localstore.outbox import insert_event
from edge.sync import SyncClient, SyncRunner, SyncState, Unreachable
from edge.sync.runner import next_delay
from tests.cloudsvc import CloudService, random_plate
from gatesim.link import FaultProxy
from tests.conftest import write_gate_file

GATE = "kb2_in"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory):
    svc = CloudService(tmp_path_factory.mktemp("cloud"))
    yield svc
    svc.close()


@pytest.fixture
def box(tmp_path: Path):
    store = LocalStore(tmp_path / "box" / "gate.db", tmp_path / "box" / "snapshots", min_free_mb=1)
    yield store
    store.close()


@pytest.fixture
def proxy(cloud: CloudService):
    p = FaultProxy(cloud.port)
    yield p
    p.close()


def client_for(cloud: CloudService, store: LocalStore, *, url: str | None = None, token: str | None = None,
               gate: str = GATE, page_limit: int = 5000, **cfg: object) -> SyncClient:
    settings = {"endpoint": url or cloud.url, "timeout_s": 2, "retry_attempts": 3, "retry_max_s": 0.05} | cfg
    return SyncClient(SyncConfig(**settings), store, cloud.site.id, gate, token or cloud.gate_token(gate),
                      page_limit=page_limit)


def fill(store: LocalStore, n: int, prefix: str = "E") -> list[str]:
    """n decision events in one transaction; their event ids in local order."""
    with store.transaction() as conn:
        return [insert_event(conn, "decision", plate=random_plate(), reason="permit_ok",
                             payload={"allow": True, "n": i, "note": f"{prefix}{i}"}).event_id for i in range(n)]


def sent_ids(store: LocalStore) -> set[str]:
    return {r[0] for r in store.db.query("SELECT event_id FROM events WHERE sent_at IS NOT NULL")}


# ------------------------------------------------------------------------------------------ events


def test_events_go_in_local_order_in_gzip_batches_and_are_marked_sent_when_stored(cloud, box) -> None:
    ids = fill(box, 1234)
    client = client_for(cloud, box, batch_size=500)
    res = client.push_events()
    assert (res.events_sent, res.batches, res.unconfirmed) == (1234, 3, 0)
    assert box.outbox.backlog() == 0 and set(ids) <= set(cloud.event_ids(GATE))
    # local order: each batch (one received_at) is a run of consecutive seqs, batches in ascending order
    from sqlalchemy import select
    from cloud.store import schema
    e = schema.gate_events
    with cloud.db.begin() as conn:
        rows = conn.execute(select(e.c.seq, e.c.received_at).where(e.c.event_id.in_(ids))
                            .order_by(e.c.received_at, e.c.seq)).all()
    seqs = [r.seq for r in rows]
    assert seqs == sorted(seqs) and len({r.received_at for r in rows}) == 3
    assert client.push_events().events_offered == 0  # nothing left to send


def test_only_ids_the_service_confirms_are_marked_sent(cloud, box, tmp_path) -> None:
    """An event id the service holds for another gate is not confirmed to this one: it stays unsent."""
    ours = fill(box, 3)
    client_for(cloud, box).push_events()
    other = LocalStore(tmp_path / "other" / "gate.db", tmp_path / "other" / "snapshots", min_free_mb=1)
    try:
        with other.transaction() as conn:
            conn.execute("INSERT INTO events (event_id, ts, type, payload) VALUES (?, ?, 'decision', '{}')",
                         (ours[0], "2026-01-01T00:00:00+00:00"))
        fresh = fill(other, 2)
        res = client_for(cloud, other, gate="barrier_2bc_in").push_events()
        assert (res.events_offered, res.events_sent, res.unconfirmed) == (3, 2, 1)
        assert sent_ids(other) == set(fresh) and other.outbox.backlog() == 1
    finally:
        other.close()


def test_a_replayed_batch_is_stored_once(cloud, box) -> None:
    ids = fill(box, 40)
    client = client_for(cloud, box, batch_size=25)
    client.push_events()
    before = len(cloud.event_ids(GATE))
    # a crash after the service stored the batches but before the box marked them: all unsent again
    with box.transaction() as conn:
        conn.execute("UPDATE events SET sent_at = NULL")
    res = client.push_events()
    assert res.events_sent == 40 and res.batches == 2
    assert len(cloud.event_ids(GATE)) == before and cloud.copies(ids) == (40, 40)
    assert set(ids) <= sent_ids(box)


def test_link_faults_lose_nothing_mark_nothing_unconfirmed_and_duplicate_nothing(cloud, box, proxy) -> None:
    ids = fill(box, 1200)
    client = client_for(cloud, box, url=proxy.url, batch_size=500, timeout_s=0.5, retry_attempts=2)

    # the answer is lost every time: the service stores the first batch, the box never hears of it
    proxy.set("cut_response")
    with pytest.raises(Unreachable):
        client.push_events()
    assert box.outbox.backlog() == 1200 and not sent_ids(box)
    held = set(cloud.event_ids(GATE)) & set(ids)
    assert held == set(ids[:500])  # the first batch, sent again on each try, stored once

    for mode in ("cut_request", "blackhole", "refuse"):
        proxy.set(mode)
        t0 = time.monotonic()
        result = client.sync_once()
        assert not result.ok and result.kind == "unreachable", (mode, result.error)
        assert time.monotonic() - t0 < 5  # bounded by timeouts and retries, whatever the link does
        assert not sent_ids(box), mode
    state = SyncState(box.db).status()
    assert state["state"] == "unreachable" and state["last_error"]["kind"] == "unreachable"
    assert state["last_success"] is None

    proxy.set("pass")
    result = client.sync_once()
    assert result.ok, result.error
    assert box.outbox.backlog() == 0 and sent_ids(box) == set(ids)
    assert set(ids) <= set(cloud.event_ids(GATE)) and cloud.copies(ids) == (1200, 1200)
    assert SyncState(box.db).status()["state"] == "ok"


def test_a_flapping_link_under_load_ends_with_every_event_once(cloud, box, proxy) -> None:
    """Events keep coming while the link flaps through every fault, also in the middle of requests; at
    every moment what the box marked sent is held by the service; at the end everything is there once."""
    client = client_for(cloud, box, url=proxy.url, batch_size=40, timeout_s=0.3, retry_attempts=2)
    stop = threading.Event()
    made: list[str] = []
    rng = random.Random(4)

    def produce() -> None:
        while not stop.is_set():
            made.extend(fill(box, 7))
            time.sleep(0.01)

    def flap() -> None:
        while not stop.is_set():
            proxy.set(rng.choice(FaultProxy.MODES + ("pass", "pass")))
            stop.wait(rng.uniform(0.02, 0.3))

    threads = [threading.Thread(target=produce), threading.Thread(target=flap)]
    for t in threads:
        t.start()
    rounds = 0
    try:
        end = time.monotonic() + 3
        while time.monotonic() < end:
            client.sync_once()
            rounds += 1
            assert sent_ids(box) <= set(cloud.event_ids(GATE))
    finally:
        stop.set()
        for t in threads:
            t.join()
    proxy.set("pass")
    assert client.sync_once().ok
    assert proxy.cut > 0 and rounds > 3
    assert box.outbox.backlog() == 0 and sent_ids(box) == set(made)
    held = set(cloud.event_ids(GATE))
    assert set(made) <= held and cloud.copies(made) == (len(made), len(made))


def test_an_event_the_service_refuses_does_not_block_the_outbox(cloud, box) -> None:
    before = fill(box, 5)
    with box.transaction() as conn:  # a type this service does not know (e.g. from a newer box)
        bad = insert_event(conn, "heartbeat", payload={"x": 1}).event_id
    after = fill(box, 5)
    client = client_for(cloud, box, batch_size=4)
    res = client.push_events()
    assert res.refused == 1 and res.events_sent == 10
    assert box.outbox.backlog() == 1 and sent_ids(box) == set(before + after)  # kept, never lost
    state = SyncState(box.db)
    assert [r["event_id"] for r in state.rejected()] == [bad] and state.rejected()[0]["status"] == 422
    assert client.push_events().events_offered == 0  # not offered again at once
    assert client.sync_once().ok  # the round succeeds; the refusal is shown apart


def test_refused_events_are_offered_again_later_and_forgotten_once_sent(cloud, box) -> None:
    with box.transaction() as conn:
        bad = [insert_event(conn, "heartbeat").event_id for _ in range(2)]
    client = client_for(cloud, box)
    assert client.push_events().refused == 2
    state = SyncState(box.db)
    with box.transaction() as conn:  # an hour on
        conn.execute("UPDATE sync_rejected SET last_at = last_at - 7200")
    again = client.push_events()
    assert again.events_offered == 2 and again.refused == 2 and again.events_sent == 0
    assert [r["tries"] for r in state.rejected()] == [2, 2] and box.outbox.backlog() == 2
    box.outbox.mark_sent([bad[0]])  # e.g. sent by a newer gatectl meanwhile
    with box.transaction() as conn:
        conn.execute("UPDATE sync_rejected SET last_at = last_at - 7200")
    client.push_events()
    assert [r["event_id"] for r in state.rejected()] == [bad[1]]


def test_a_service_that_refuses_everything_does_not_set_the_whole_outbox_aside(cloud, box) -> None:
    with box.transaction() as conn:
        for _ in range(60):
            insert_event(conn, "heartbeat")
    result = client_for(cloud, box, batch_size=60).sync_once()
    assert not result.ok and "refused 20 events" in result.error
    assert SyncState(box.db).rejected_count() == 20 and box.outbox.backlog() == 60


# ------------------------------------------------------------------------------------------ snapshots


def test_snapshots_are_uploaded_once_and_held_ones_are_not_sent_again(cloud, box) -> None:
    images = [bytes([i]) * 5000 + random.randbytes(64) for i in range(3)]
    shas = [box.snapshots.save(b) for b in images]
    token = cloud.gate_token(GATE)
    r = requests.put(f"{cloud.url}/api/v1/gate/snapshots/{shas[0]}", data=images[0],
                     headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert r.status_code == 204  # the service already holds the first one
    client = client_for(cloud, box, token=token)
    res = client.push_snapshots()
    assert (res.snapshots_uploaded, res.snapshots_already_held) == (2, 1)
    assert box.snapshots.unsynced_count() == 0 and set(shas) <= cloud.snapshot_shas()
    again = client.push_snapshots()
    assert (again.snapshots_uploaded, again.snapshots_already_held) == (2, 1)  # same object: nothing new
    assert client.sync_once().push.snapshots_uploaded == 0


def test_a_damaged_snapshot_is_not_uploaded_and_does_not_block_the_others(cloud, box) -> None:
    first = box.snapshots.save(b"first image" * 100)
    second = box.snapshots.save(b"second image" * 100)
    box.snapshots.path_of(first).write_bytes(b"bit rot")
    res = client_for(cloud, box).push_snapshots()
    assert (res.snapshots_unreadable, res.snapshots_uploaded) == (1, 1)
    assert box.snapshots.unsynced() == [first] and second in cloud.snapshot_shas()


# ------------------------------------------------------------------------------------------ permits


def test_permits_full_snapshot_then_deltas_then_a_withdrawal(cloud, box) -> None:
    first = cloud.permitted_trip()
    client = client_for(cloud, box)
    pull = client.pull_permits()
    assert pull.full and pull.cursor == cloud.permit_cursor() == box.permits.cursor()
    assert [p.trip_id for p in box.permits.by_plate(first["plate"])] == [first["id"]]
    everything = box.permits.count()

    second = cloud.permitted_trip()
    pull = client.pull_permits()
    assert not pull.full and pull.upserts == 1 and pull.deletes == 0
    assert box.permits.count() == everything + 1 and box.permits.by_plate(second["plate"])

    cloud.confirm(second["id"], decision="refused")  # the border guard withdraws: the permit goes
    pull = client.pull_permits()
    assert not pull.full and pull.deletes == 1 and not box.permits.by_plate(second["plate"])
    assert client.pull_permits().upserts == 0 and box.permits.cursor() == cloud.permit_cursor()


def test_permit_pages_are_followed_until_more_is_false(cloud, box) -> None:
    client = client_for(cloud, box, page_limit=2)
    client.pull_permits()
    trips = [cloud.permitted_trip() for _ in range(5)]
    pull = client.pull_permits()
    assert pull.pages == 3 and pull.upserts == 5 and not pull.full
    assert all(box.permits.by_plate(t["plate"]) for t in trips)
    assert box.permits.cursor() == cloud.permit_cursor()


def test_a_passage_pushed_to_the_service_withdraws_the_permit_on_the_next_pull(cloud, box) -> None:
    """The loop closes: the box's passage event advances the trip centrally, which recompiles the gate's
    permits (one passage per gate), and the next pull removes the permit from the box's cache."""
    trip = cloud.permitted_trip()
    client = client_for(cloud, box)
    assert client.sync_once().ok
    (permit,) = box.permits.by_plate(trip["plate"])
    with box.transaction() as conn:
        insert_event(conn, "passage", plate=trip["plate"], reason="permit_ok",
                     payload={"permit_id": permit.permit_id, "trip_id": trip["id"], "gate": GATE})
    first = client.sync_once()  # pull, then push: the withdrawal is there for the next round
    assert first.ok and first.push.events_sent == 1
    second = client.sync_once()
    assert second.ok and second.pull.deletes == 1 and not box.permits.by_plate(trip["plate"])
    view = cloud.http(cloud.admin, "GET", f"/api/v1/trips/{trip['id']}")
    assert [m["gate_id"] for m in view["milestones"]] == [GATE]


@pytest.mark.parametrize("why", ["too_old", "ahead_of_the_service"])
def test_a_cursor_the_service_cannot_serve_gets_a_full_snapshot_that_replaces_the_cache(cloud, box, why) -> None:
    trip = cloud.permitted_trip()
    client = client_for(cloud, box)
    client.pull_permits()
    # a permit the service no longer has (pruned while the box was away)
    box.permits.apply_delta([{"permit_id": "stale:kb2_in", "plate": "29C99991", "trip_id": "stale", "flow": "export",
                              "direction": "in", "valid_from": "2026-01-01T00:00:00+00:00",
                              "valid_until": "2099-01-01T00:00:00+00:00"}], [], box.permits.cursor())
    if why == "too_old":
        cloud.set_prune_floor(cloud.permit_cursor() + 1)
        cloud.permitted_trip()  # the service moves past the floor
    else:  # e.g. the service restored from a backup
        box.permits.apply_delta([], [], cloud.permit_cursor() + 1000)
    try:
        pull = client.pull_permits()
    finally:
        cloud.set_prune_floor(0)
    assert pull.full and box.permits.cursor() == cloud.permit_cursor()
    assert not box.permits.by_plate("29C99991") and box.permits.by_plate(trip["plate"])


def test_the_central_watchlist_replaces_its_entries_and_leaves_local_ones(cloud, box) -> None:
    box.watchlist.add("29C-111.11", "technician: reported by the yard")
    plate = cloud.watch("30F-222.22", "Biên phòng: nghi vấn")
    client = client_for(cloud, box)
    client.pull_permits()
    entries = {e["plate"]: e["source"] for e in box.watchlist.entries()}
    assert entries == {"29C11111": "local", plate: "central"}
    assert box.watchlist.match(plate)[0]["reason"] == "Biên phòng: nghi vấn"
    cloud.unwatch(plate)
    client.pull_permits()
    assert {e["plate"] for e in box.watchlist.entries()} == {"29C11111"}


# ------------------------------------------------------------------------------------------ auth


def test_a_revoked_token_gives_a_clear_state_and_marks_nothing(cloud, box) -> None:
    client = client_for(cloud, box)
    fill(box, 5)
    assert client.sync_once().ok
    cloud.revoke_gate(GATE)
    fill(box, 5)
    result = client.sync_once()
    assert not result.ok and result.kind == "token_refused"
    assert "refused the gate token" in result.error and "gate-token" in result.error
    assert box.outbox.backlog() == 5
    status = SyncState(box.db).status()
    assert status["state"] == "token_refused" and status["last_error"]["kind"] == "token_refused"
    assert status["last_error"]["at"] and status["last_success"]  # the earlier success is still told

    fresh = client_for(cloud, box)  # a new token installed
    assert fresh.sync_once().ok and box.outbox.backlog() == 0


def test_a_box_without_a_token_is_refused_before_any_request(cloud, box) -> None:
    with pytest.raises(ValueError):
        SyncClient(SyncConfig(endpoint=cloud.url), box, cloud.site.id, GATE, "")
    with pytest.raises(ValueError):
        SyncClient(SyncConfig(), box, cloud.site.id, GATE, "x")


# ------------------------------------------------------------------------------------------ the thread


def test_backoff_grows_after_failures_and_is_capped() -> None:
    rng = random.Random(1)
    assert next_delay(30, 0, 300) == 30
    delays = [next_delay(30, n, 300, rng) for n in range(1, 10)]
    assert 24 <= delays[0] <= 36 and delays[2] > delays[0] and max(delays) <= 360 and delays[-1] >= 240


def test_the_runner_polls_so_a_confirmation_reaches_the_cache_without_mqtt(cloud, box) -> None:
    client = client_for(cloud, box)
    runner = SyncRunner(client, interval_s=0.5, backoff_max_s=2)
    runner.start()
    try:
        end = time.monotonic() + 5
        while runner.rounds < 1 and time.monotonic() < end:
            time.sleep(0.02)
        assert runner.sync_age() >= 0
        trip = cloud.declare()
        cloud.confirm(trip["id"])
        t0 = time.monotonic()
        while not box.permits.by_plate(trip["plate"]) and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert box.permits.by_plate(trip["plate"]), "the permit did not arrive on the next poll"
        assert time.monotonic() - t0 < 2  # one polling interval and a round
        fill(box, 3)
        runner.trigger()
        while box.outbox.backlog() and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert box.outbox.backlog() == 0
    finally:
        assert runner.stop(5)
    assert not runner.running


def test_the_runner_backs_off_while_the_service_is_down_and_recovers(cloud, box, proxy) -> None:
    client = client_for(cloud, box, url=proxy.url, timeout_s=0.3, retry_attempts=1)
    runner = SyncRunner(client, interval_s=0.5, backoff_max_s=1)
    proxy.set("refuse")
    runner.start()
    try:
        time.sleep(1.5)
        assert runner.failures >= 1 and runner.sync_age() == -1
        assert SyncState(box.db).status()["state"] == "unreachable"
        fill(box, 2)
        proxy.set("pass")
        end = time.monotonic() + 5
        while (runner.failures or box.outbox.backlog()) and time.monotonic() < end:
            time.sleep(0.05)
        assert runner.failures == 0 and box.outbox.backlog() == 0 and runner.sync_age() >= 0
    finally:
        runner.stop(5)


# ------------------------------------------------------------------------------------------ gatectl


def _gate_file(cloud: CloudService, folder: Path, extra: str = "") -> Path:
    path = write_gate_file(folder, extra=f'\n[sync]\nendpoint = "{cloud.url}"\ntimeout_s = 2\n'
                                         f'retry_max_s = 0.05\n{extra}')
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(text.split("\n")[1], f'site = "{cloud.site_path}"', 1), encoding="utf-8")
    return path


def test_gatectl_sync_now_and_status(cloud, tmp_path, monkeypatch) -> None:
    from edge.gatectl.cli import cli

    gate_file = _gate_file(cloud, tmp_path / "box")
    cfg, _ = load_gate_config(gate_file)
    store = LocalStore.from_config(cfg.store)
    fill(store, 12)
    store.snapshots.save(b"jpeg bytes" * 50)
    store.close()
    trip = cloud.permitted_trip()
    run = CliRunner()

    status = json.loads(run.invoke(cli, ["--config", str(gate_file), "sync", "status", "--json"]).output)
    assert status["state"] == "never" and status["outbox_backlog"] >= 12 and status["unsynced_snapshots"] == 1
    assert status["last_success"] is None and status["daemon"] is None

    monkeypatch.delenv("GATE_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    refused = run.invoke(cli, ["--config", str(gate_file), "sync", "now", "--json"])
    assert refused.exit_code == 1 and "gate-token" in refused.output and "GATE_TOKEN" in refused.output

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "gate-token").write_text(cloud.gate_token(GATE) + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    done = run.invoke(cli, ["--config", str(gate_file), "sync", "now", "--json"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    assert out["ok"] and out["push"]["events_sent"] >= 12 and out["push"]["snapshots_uploaded"] == 1
    assert out["pull"]["full"] and out["after"]["outbox_backlog"] == 0

    status = json.loads(run.invoke(cli, ["--config", str(gate_file), "sync", "status", "--json"]).output)
    assert status["state"] == "ok" and status["last_success"] and status["outbox_backlog"] == 0
    assert status["unsynced_snapshots"] == 0 and status["permits_cursor"] == cloud.permit_cursor()
    assert status["last_push"]["events_sent"] >= 12
    store = LocalStore.from_config(cfg.store)
    assert store.permits.by_plate(trip["plate"])
    store.close()

    human = run.invoke(cli, ["--config", str(gate_file), "sync", "status"])
    assert human.exit_code == 0 and "state      ok" in human.output and "0 events unsent" in human.output
    overall = json.loads(run.invoke(cli, ["--config", str(gate_file), "status", "--json"]).output)
    assert overall["sync"]["state"] == "ok" and overall["sync"]["last_success"] == status["last_success"]

    def cloud_check() -> dict:
        out = json.loads(run.invoke(cli, ["--config", str(gate_file), "selftest", "--json"]).output)
        return next(c for c in out["checks"] if c["name"] == "cloud")

    assert cloud_check()["status"] == "pass" and "token accepted" in cloud_check()["detail"]

    cloud.revoke_gate(GATE)
    failed = run.invoke(cli, ["--config", str(gate_file), "sync", "now"])
    assert failed.exit_code == 1 and "token_refused" in failed.output
    status = json.loads(run.invoke(cli, ["--config", str(gate_file), "sync", "status", "--json"]).output)
    assert status["state"] == "token_refused" and status["last_error"]["kind"] == "token_refused"
    check = cloud_check()
    assert check["status"] == "fail" and "token refused" in check["detail"] and "gate-token" in check["hint"]


# ------------------------------------------------------------------------------------------ the daemon


def _metrics(daemon) -> dict[str, float]:
    """The daemon's /metrics as {name{labels}: value}."""
    url = daemon.status_server.url + "/metrics"
    text = requests.get(url, timeout=5).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def _run_daemon(gate_file: Path):
    from edge.daemon import Daemon
    cfg, site = load_gate_config(gate_file)
    daemon = Daemon(cfg, site)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return daemon, thread


def test_the_daemon_syncs_in_the_background_and_reports_it(cloud, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GATE_TOKEN", cloud.gate_token(GATE))
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    trip = cloud.permitted_trip()
    gate_file = _gate_file(cloud, tmp_path / "box", "interval_s = 0.5\n")
    daemon, thread = _run_daemon(gate_file)
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            s = daemon.status()["sync"]
            if s["state"] == "ok" and s["rounds"] >= 1 and daemon.store.permits.by_plate(trip["plate"]):
                break
            time.sleep(0.05)
        s = daemon.status()["sync"]
        assert s["enabled"] and s["running"] and s["state"] == "ok" and s["live"] is None, s
        assert daemon.store.permits.by_plate(trip["plate"])
        metrics = _metrics(daemon)
        assert 0 <= metrics["gate_sync_age_seconds"] < 5
        assert metrics['gate_sync_rounds_total{outcome="ok"}'] >= 1
        assert metrics["gate_sync_live_connected"] == 0 and metrics["gate_unsynced_snapshots"] == 0
        end = time.monotonic() + 5
        while daemon.store.outbox.backlog() and time.monotonic() < end:
            time.sleep(0.05)
        assert daemon.store.outbox.backlog() == 0  # "started" and the barrier's power-up went up

        # gatectl sync now beside the daemon's thread, both pushing the same new events
        from edge.gatectl.cli import cli
        ids = fill(daemon.store, 300)
        daemon.sync.runner.trigger()
        outs = [CliRunner().invoke(cli, ["--config", str(gate_file), "sync", "now", "--json"]) for _ in range(2)]
        assert all(o.exit_code == 0 for o in outs), [o.output for o in outs]
        end = time.monotonic() + 5
        while daemon.store.outbox.backlog() and time.monotonic() < end:
            time.sleep(0.05)
        assert daemon.store.outbox.backlog() == 0 and cloud.copies(ids) == (300, 300)
    finally:
        daemon.stop_event.set()
        thread.join(15)
    assert not thread.is_alive() and not daemon.sync.runner.running


def test_the_daemon_without_a_token_runs_offline_and_says_why(cloud, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GATE_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    daemon, thread = _run_daemon(_gate_file(cloud, tmp_path / "box"))
    try:
        time.sleep(0.3)
        assert thread.is_alive()
        s = daemon.status()["sync"]
        assert not s["enabled"] and s["state"] == "no_token" and "gate-token" in s["problem"]
        assert _metrics(daemon)["gate_sync_age_seconds"] == -1
    finally:
        daemon.stop_event.set()
        thread.join(15)
    assert not thread.is_alive()


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("sync,needle", [
    ('mqtt_host = "broker.local"', "endpoint"),
    ('endpoint = "http://x"\nbatch_size = 0', "batch_size"),
    ('endpoint = "http://x"\nbatch_size = 5001', "batch_size"),
    ('endpoint = "http://x"\ninterval_s = 0.1', "interval_s"),
    ('endpoint = "http://x"\nmqtt_port = 70000', "mqtt_port"),
    ('endpoint = "http://x"\ntoken = "abc"', "token"),
    ('endpoint = "http://x"\nbogus = 1', "bogus"),
])
def test_sync_settings_are_checked(tmp_path, sync: str, needle: str) -> None:
    from edge.config import validate_file
    path = write_gate_file(tmp_path, extra=f"\n[sync]\n{sync}\n")
    errors = validate_file(path)
    assert errors and any(needle in f"{e.key} {e.reason}" for e in errors), errors
    assert all(e.line for e in errors)


def test_sync_settings_defaults_and_a_relative_ca_file(tmp_path) -> None:
    path = write_gate_file(tmp_path, extra='\n[sync]\nendpoint = "https://central.example"\nca_file = "ca.pem"\n')
    cfg, _ = load_gate_config(path)
    assert (cfg.sync.interval_s, cfg.sync.batch_size, cfg.sync.mqtt_host) == (30, 500, None)
    assert cfg.sync.ca_file == tmp_path / "ca.pem"
