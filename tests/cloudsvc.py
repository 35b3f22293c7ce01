"""Test helpers for sync: the real central service on a free port (uvicorn in a thread, temporary SQLite
database), driven through its HTTP API, and a TCP proxy that can break the link in the ways a rural
uplink does."""

from __future__ import annotations

import random
import string
import uuid
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select, update

from cloud.embedded import ServiceThread
from cloud.api.deps import Service
from cloud.auth import create_account
from cloud.store import schema
from cloud.store.db import Database
from edge.config import load_site_config
from tests.conftest import SITE

PASSWORD = "correct horse battery"


def unique_site(folder: Path) -> Path:
    """The Kim Thành site file under a site id of its own, so that MQTT topics of this test run are its own."""
    folder.mkdir(parents=True, exist_ok=True)
    site_id = "test-" + uuid.uuid4().hex[:10]
    text = SITE.read_text(encoding="utf-8").replace('id = "kim-thanh"', f'id = "{site_id}"', 1)
    path = folder / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def random_plate() -> str:
    return f"{random.randint(11, 99)}C{random.randint(10000, 99999)}"


class CloudService:
    """The central service (cloud/api) serving on 127.0.0.1:<free port> from a thread."""

    def __init__(self, folder: Path, *, mqtt: tuple[str, int] | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.site_path = unique_site(folder)
        self.site = load_site_config(self.site_path)
        self.db = Database(f"sqlite:///{folder / 'cloud.db'}")
        self.db.migrate()
        self.service = Service(self.db, self.site)
        self.publisher = None
        if mqtt:
            from cloud.live import LivePublisher
            self.publisher = LivePublisher(self.site.id, *mqtt, client_id=f"cloud-{uuid.uuid4().hex[:8]}")
            self.service.notify = self.publisher.permits_changed
        self.server = ServiceThread(self.service).start()
        self.port, self.url = self.server.port, self.server.url
        with self.db.begin() as conn:
            create_account(conn, "admin", PASSWORD, "admin", "Ban quản lý")
        self.admin = self._login("admin")
        self.http(self.admin, "POST", "/api/v1/admin/accounts", 201, json={
            "username": "bp.kimthanh", "password": PASSWORD, "role": "agency", "display_name": "Biên phòng",
            "agency": "border_guard"})
        self.border_guard = self._login("bp.kimthanh")
        tax = "".join(random.choices(string.digits, k=10))
        self.company = self.http(None, "POST", "/api/v1/companies/register", 201, json={
            "company_name": "Công ty TNHH Vận tải Lào Cai", "tax_code": tax, "username": "vantai.lc",
            "password": PASSWORD, "display_name": "Vận tải LC"})["token"]

    def close(self) -> None:
        self.server.stop()
        if self.publisher is not None:
            self.publisher.close()
        self.db.dispose()

    # -------------------------------------------------------------- API

    def http(self, token: str | None, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = requests.request(method, self.url + path, headers=headers, timeout=10, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def _login(self, username: str) -> str:
        return self.http(None, "POST", "/api/v1/auth/login", json={"username": username, "password": PASSWORD})["token"]

    def gate_token(self, gate_id: str) -> str:
        """A new device token for the gate (earlier ones are revoked)."""
        return self.http(self.admin, "POST", f"/api/v1/admin/gates/{gate_id}/token", 201)["token"]

    def revoke_gate(self, gate_id: str) -> None:
        self.http(self.admin, "POST", f"/api/v1/admin/gates/{gate_id}/revoke")

    def declare(self, plate: str | None = None, flow: str = "export") -> dict[str, Any]:
        return self.http(self.company, "POST", "/api/v1/trips", 201, json={
            "plate": plate or random_plate(), "flow": flow, "goods": "thanh long", "driver_name": "Nguyễn Văn A"})

    def confirm(self, trip_id: str, step: str = "border_check_2bc", decision: str = "confirmed") -> dict[str, Any]:
        """By default the border guard's check at 2B/2C: with it an export trip gets kb2_in's permit."""
        return self.http(self.border_guard, "POST", f"/api/v1/trips/{trip_id}/confirmations", 201,
                         json={"step": step, "decision": decision})

    def permitted_trip(self, plate: str | None = None) -> dict[str, Any]:
        trip = self.declare(plate)
        self.confirm(trip["id"])
        return trip

    def watch(self, plate: str, reason: str) -> str:
        body = {"plate": plate, "reason": reason}
        return self.http(self.admin, "POST", "/api/v1/admin/watchlist", 201, json=body)["plate"]

    def unwatch(self, plate: str) -> None:
        self.http(self.admin, "DELETE", f"/api/v1/admin/watchlist/{plate}")

    # -------------------------------------------------------------- database, read directly

    def event_ids(self, gate_id: str | None = None) -> list[str]:
        e = schema.gate_events
        q = select(e.c.event_id)
        if gate_id:
            q = q.where(e.c.gate_id == gate_id)
        with self.db.begin() as conn:
            return list(conn.execute(q).scalars())

    def copies(self, event_ids: list[str]) -> tuple[int, int]:
        """(rows, distinct local seqs) the service holds for these events: both equal len(event_ids) when
        each is stored exactly once (no event stored twice, none under a second id)."""
        e = schema.gate_events
        rows = seqs = 0
        with self.db.begin() as conn:
            for i in range(0, len(event_ids), 500):
                chunk = event_ids[i:i + 500]
                got = conn.execute(select(func.count(), func.count(e.c.seq.distinct()))
                                   .where(e.c.event_id.in_(chunk))).one()
                rows, seqs = rows + got[0], seqs + got[1]
        return rows, seqs

    def snapshot_shas(self) -> set[str]:
        with self.db.begin() as conn:
            return set(conn.execute(select(schema.snapshots.c.sha256)).scalars())

    def permit_cursor(self) -> int:
        c = schema.counters
        with self.db.begin() as conn:
            return conn.execute(select(c.c.value).where(c.c.name == "permit_cursor")).scalar() or 0

    def set_prune_floor(self, value: int) -> None:
        """As if the service had pruned deleted permits up to ``value``: older cursors get a full snapshot."""
        c = schema.counters
        with self.db.begin() as conn:
            if conn.execute(update(c).where(c.c.name == "permit_prune_floor").values(value=value)).rowcount == 0:
                conn.execute(c.insert().values(name="permit_prune_floor", value=value))
