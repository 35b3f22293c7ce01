"""Central service as deployed: the `gate-cloud` command line and `gate-cloud serve` processes on free ports."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
from click.testing import CliRunner
from cloud_helpers import free_port, pg_database, pg_reachable

from cloud.cli import cli
from tests.conftest import service_missing

ADMIN_PASSWORD = "management board secret"
BIN = Path(sys.executable).parent / "gate-cloud"
CLI = [str(BIN)] if BIN.exists() else [sys.executable, "-c", "from cloud.cli import main; main()"]


def gate_cloud(*args: str, db: str) -> str:
    env = os.environ | {"GATE_CLOUD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    done = subprocess.run([*CLI, *args, "--db", db], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def serve(db: str, tmp_path: Path, count: int = 1) -> Iterator[list[httpx.Client]]:
    """``count`` `gate-cloud serve` processes on free ports over one database, started together; yields a
    client for each and stops the processes after."""
    with ExitStack() as stack:
        procs, clients = [], []
        for _ in range(count):
            port = free_port()
            log = stack.enter_context((tmp_path / f"serve-{port}.log").open("w"))
            # No password in the process's arguments: the URL may carry one, so it goes in the environment.
            proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=os.environ | {"GATE_CLOUD_DB": db},
                                    stdout=log, stderr=subprocess.STDOUT)
            stack.callback(stop, proc)
            procs.append((proc, log.name))
            clients.append(stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)))
        deadline = time.monotonic() + 30
        for (proc, log_name), client in zip(procs, clients):
            while True:
                assert proc.poll() is None, Path(log_name).read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gate-cloud serve did not come up"
                time.sleep(0.05)
        yield clients


def stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: httpx.Client, username: str, password: str) -> str:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_gate_cloud_serve_end_to_end(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    assert json.loads(gate_cloud("create-admin", "board", db=db))["username"] == "board"  # migrates first
    gate_token = gate_cloud("gate-token", "kb2_in", db=db)
    assert len(gate_token) >= 40
    with serve(db, tmp_path) as (http,):
        assert http.get("/healthz").json() == {"status": "ok", "site": "kim-thanh"}
        assert "/api/v1/gate/events" in http.get("/api/openapi.json").json()["paths"]
        assert http.get("/api/v1/trips").status_code == 401
        admin = login(http, "board", ADMIN_PASSWORD)
        r = http.post("/api/v1/admin/accounts", headers=auth(admin), json={
            "username": "bp.kimthanh", "password": "border guard pw", "role": "agency",
            "display_name": "Đồn Biên phòng Kim Thành", "agency": "border_guard"})
        assert r.status_code == 201, r.text
        guard = login(http, "bp.kimthanh", "border guard pw")
        co = http.post("/api/v1/companies/register", json={
            "company_name": "Công ty Nông sản Lào Cai", "tax_code": "5300123456", "username": "nongsan",
            "password": "company password", "display_name": "Nông sản"}).json()
        trip = http.post("/api/v1/trips", headers=auth(co["token"]),
                         json={"plate": "24C-012.34", "flow": "export", "goods": "Chuối"}).json()
        assert http.get("/api/v1/gate/permits", headers=auth(gate_token)).json()["upserts"] == []
        r = http.post(f"/api/v1/trips/{trip['id']}/confirmations", headers=auth(guard),
                      json={"step": "border_check_2bc"})
        assert r.status_code == 201
        pulled = http.get("/api/v1/gate/permits", headers=auth(gate_token)).json()
        assert [(p["plate"], p["trip_id"]) for p in pulled["upserts"]] == [("24C01234", trip["id"])]
        # The box reports the passage (gzip, as the edge sends it); the permit is consumed.
        ev = {"event_id": str(uuid.uuid4()), "seq": 1, "ts": datetime.now(timezone.utc).isoformat(),
              "type": "passage", "plate": "24C01234", "payload": {"trip_id": trip["id"]}}
        r = http.post("/api/v1/gate/events", content=gzip.compress(json.dumps({"events": [ev]}).encode()),
                      headers=auth(gate_token) | {"Content-Encoding": "gzip", "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json() == {"stored": [ev["event_id"]], "new": 1}
        delta = http.get("/api/v1/gate/permits", params={"cursor": pulled["cursor"]}, headers=auth(gate_token)).json()
        assert delta["deletes"] == [f"{trip['id']}:kb2_in"]
        view = http.get(f"/api/v1/trips/{trip['id']}", headers=auth(co["token"])).json()
        assert [m["milestone"] for m in view["milestones"]] == ["arrived_kb2"]
        # A malformed batch over real HTTP: 422 naming the field.
        r = http.post("/api/v1/gate/events", json={"events": [ev | {"seq": "x"}]}, headers=auth(gate_token))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "events", 0, "seq"]
        # A new token issued from the command line (another process) revokes the old one on the next request.
        new_token = gate_cloud("gate-token", "kb2_in", db=db)
        assert http.get("/api/v1/gate/permits", headers=auth(gate_token)).status_code == 401
        assert http.get("/api/v1/gate/permits", headers=auth(new_token)).status_code == 200


def test_two_serve_processes_on_one_postgresql_database(tmp_path: Path) -> None:
    why = pg_reachable()
    if why:
        service_missing(why)
    with pg_database("test_cloud_serve") as db:
        # The administrative commands in this process (click's runner) to save two interpreter start-ups.
        runner = CliRunner()
        made = runner.invoke(cli, ["create-admin", "board", "--db", db], env={"GATE_CLOUD_ADMIN_PASSWORD": ADMIN_PASSWORD})
        assert made.exit_code == 0, made.output
        issued = runner.invoke(cli, ["gate-token", "barrier1_in", "--db", db])
        assert issued.exit_code == 0, issued.output
        gate_token = issued.output.strip()
        with serve(db, tmp_path, count=2) as (one, two):
            both_instances(one, two, gate_token)


def both_instances(one: httpx.Client, two: httpx.Client, gate_token: str) -> None:
    """What one instance does, the other sees at once: sessions, permits, revocations."""
    admin = login(one, "board", ADMIN_PASSWORD)
    assert two.get("/api/v1/me", headers=auth(admin)).json()["role"] == "admin"  # a session works on both
    r = two.post("/api/v1/admin/accounts", headers=auth(admin), json={
        "username": "bp.one", "password": "border guard pw", "role": "agency", "display_name": "BP",
        "agency": "border_guard"})
    assert r.status_code == 201
    guard = login(one, "bp.one", "border guard pw")
    co = two.post("/api/v1/companies/register", json={
        "company_name": "Công ty Vận tải", "tax_code": "5300765432", "username": "vantai",
        "password": "company password", "display_name": "VT"}).json()
    trip = one.post("/api/v1/trips", headers=auth(co["token"]), json={"plate": "桂A-12345", "flow": "import"}).json()
    start = two.get("/api/v1/gate/permits", headers=auth(gate_token)).json()
    assert one.post(f"/api/v1/trips/{trip['id']}/confirmations", headers=auth(guard),
                    json={"step": "border_entry_check"}).status_code == 201
    delta = two.get("/api/v1/gate/permits", params={"cursor": start["cursor"] or 0},
                    headers=auth(gate_token)).json()
    assert [p["plate"] for p in delta["upserts"]] == ["桂A12345"]
    # The board revokes the guard through one instance: the other refuses the session at once.
    me = one.get("/api/v1/me", headers=auth(guard)).json()
    assert two.post(f"/api/v1/admin/accounts/{me['account_id']}/revoke", headers=auth(admin)).status_code == 200
    assert one.get("/api/v1/trips", headers=auth(guard)).status_code == 401
