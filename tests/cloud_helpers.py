"""Helpers and fixtures for the central service's tests (tests/test_cloud_*.py).

Test modules import the fixtures they use from here (``from cloud_helpers import db, ...``): pytest
collects fixtures from a module's namespace, and tests/conftest.py is left to the edge tests.

Storage runs on both backends: ``db`` is parametrised over SQLite (a fresh file per test) and PostgreSQL
(one fresh database per test module, ``test_cloud_<random>``, emptied before each test and dropped at the
end of the module). The PostgreSQL server is ``$CLOUD_TEST_PG`` or 127.0.0.1:5432 as user postgres; if
it cannot be reached the PostgreSQL cases are skipped with that reason.
"""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from cloud import auth
from cloud.api.app import create_app
from cloud.api.deps import Service
from cloud.store import schema
from cloud.store.db import Database
from edge.config import load_site_config
from tests.conftest import service_missing

REPO = Path(__file__).resolve().parent.parent
SITE_PATH = REPO / "config" / "sites" / "kim-thanh.toml"
SITE = load_site_config(SITE_PATH)
PG_SERVER = os.environ.get("CLOUD_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
TZ = timezone.utc

# ---------------------------------------------------------------------------------------------------
# PostgreSQL databases
# ---------------------------------------------------------------------------------------------------


def pg_reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_SERVER}: {exc}"


@contextmanager
def pg_database(prefix: str = "test_cloud") -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration of the block; yields its SQLAlchemy URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_database_exists(url: str) -> bool:
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(f"{PG_SERVER}/postgres") as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database per test module."""
    why = pg_reachable()
    if why:
        service_missing(why)
    with pg_database() as url:
        yield url


def clear(db: Database) -> None:
    """Empty every table but schema_version (keeps the migrated schema)."""
    names = [t.name for t in schema.metadata.sorted_tables if t.name != "schema_version"]
    with db.begin() as conn:
        if db.is_postgres:
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: the hashing is tested by argon2-cffi, and tests create many accounts."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, fast_passwords: None) -> Iterator[Database]:
    """A migrated, empty database: SQLite (fresh file) or PostgreSQL (the module's database, emptied)."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'cloud.db'}")
        database.migrate()
    else:
        url = request.getfixturevalue("pg_url")
        database = Database(url)
        database.migrate()
        clear(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def pg_db(pg_url: str, fast_passwords: None) -> Iterator[Database]:
    """PostgreSQL only (scale-out tests): the module's database, migrated and emptied."""
    database = Database(pg_url)
    database.migrate()
    clear(database)
    try:
        yield database
    finally:
        database.dispose()


# ---------------------------------------------------------------------------------------------------
# The API through TestClient
# ---------------------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def now() -> datetime:
    return datetime.now(TZ)


class Cloud:
    """One app instance over a database, with helpers to make the actors of the site."""

    def __init__(self, db: Database, *, max_body_bytes: int = 8 * 1024 * 1024, site=SITE):
        self.db = db
        self.site = site
        self.notices: list[set[str]] = []
        self.service = Service(db, site, max_body_bytes=max_body_bytes, notify=self.notices.append)
        self.app = create_app(self.service)
        self.client = TestClient(self.app)
        self._agency_tokens: dict[str, str] = {}
        self._admin: str | None = None
        self._gates: dict[str, str] = {}

    def sibling(self, db: Database) -> Cloud:
        """A second app instance (another process behind the load balancer) over ``db``, sharing this one's
        actors (their tokens live in the database, so they work on both)."""
        other = Cloud(db, max_body_bytes=self.service.max_body_bytes, site=self.site)
        other._agency_tokens, other._gates = self._agency_tokens, self._gates
        other._admin = self.admin
        return other

    # -- actors ------------------------------------------------------------------------------------

    def account(self, role: str, *, agency: str | None = None, company_id: int | None = None,
                yard: str | None = None, password: str = "correct horse battery") -> tuple[int, str]:
        """An account made in the database (as `gate-cloud create-admin` does), logged in through the API."""
        username = f"{role}-{agency or yard or ''}-{secrets.token_hex(4)}".replace("_", "-")
        with self.db.begin() as conn:
            account_id = auth.create_account(conn, username, password, role, username, agency=agency,
                                             company_id=company_id, yard=yard)
        r = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return account_id, r.json()["token"]

    @property
    def admin(self) -> str:
        if self._admin is None:
            self._admin = self.account("admin")[1]
        return self._admin

    def agency(self, agency: str) -> str:
        if agency not in self._agency_tokens:
            self._agency_tokens[agency] = self.account("agency", agency=agency)[1]
        return self._agency_tokens[agency]

    def company(self, name: str | None = None) -> dict[str, Any]:
        """A company registers itself: returns company_id, account_id and token."""
        tag = secrets.token_hex(4)
        tax = f"{int(tag, 16) % 10**10:010d}"
        r = self.client.post("/api/v1/companies/register", json={
            "company_name": name or f"Công ty {tag}", "tax_code": tax, "username": f"co-{tag}",
            "password": "a long company password", "display_name": f"Company {tag}"})
        assert r.status_code == 201, r.text
        return r.json()

    def gate(self, gate_id: str) -> str:
        if gate_id not in self._gates:
            r = self.client.post(f"/api/v1/admin/gates/{gate_id}/token", headers=bearer(self.admin))
            assert r.status_code == 201, r.text
            self._gates[gate_id] = r.json()["token"]
        return self._gates[gate_id]

    # -- calls -------------------------------------------------------------------------------------

    def declare(self, token: str, plate: str = "29C-123.45", flow: str = "export", **fields: Any) -> dict[str, Any]:
        r = self.client.post("/api/v1/trips", json={"plate": plate, "flow": flow, **fields}, headers=bearer(token))
        assert r.status_code == 201, r.text
        return r.json()

    def confirm(self, trip_id: str, step: str, decision: str = "confirmed", token: str | None = None) -> dict[str, Any]:
        agency = next(s.agency for s in self.site.steps if s.id == step)
        r = self.client.post(f"/api/v1/trips/{trip_id}/confirmations", json={"step": step, "decision": decision},
                             headers=bearer(token or self.agency(agency)))
        assert r.status_code == 201, r.text
        return r.json()

    def confirm_for(self, trip_id: str, gate_id: str, flow: str = "export",
                    conditional: tuple[str, ...] = ()) -> list[str]:
        """Confirm every step ``gate_id`` requires of a trip (conditional ones only if listed)."""
        steps = {s.id: s for s in self.site.steps}
        done = []
        for step in self.site.gate(gate_id).requires.get(flow, []):
            if steps[step].conditional and step not in conditional:
                continue
            self.confirm(trip_id, step)
            done.append(step)
        return done

    def trip(self, token: str, trip_id: str) -> dict[str, Any]:
        r = self.client.get(f"/api/v1/trips/{trip_id}", headers=bearer(token))
        assert r.status_code == 200, r.text
        return r.json()

    def push(self, gate_id: str, events: list[dict[str, Any]], token: str | None = None) -> dict[str, Any]:
        r = self.client.post("/api/v1/gate/events", json={"events": events}, headers=bearer(token or self.gate(gate_id)))
        assert r.status_code == 200, r.text
        return r.json()

    def pull(self, gate_id: str, cursor: int = 0, limit: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"cursor": cursor}
        if limit:
            params["limit"] = limit
        r = self.client.get("/api/v1/gate/permits", params=params, headers=bearer(self.gate(gate_id)))
        assert r.status_code == 200, r.text
        return r.json()

    def permit_trips(self, gate_id: str) -> set[str]:
        """Trip ids a gate holds a permit for, from a full pull."""
        return {p["trip_id"] for p in self.pull(gate_id)["upserts"]}


def event(seq: int, type_: str = "decision", *, plate: str | None = "29C12345", ts: datetime | None = None,
          payload: dict[str, Any] | None = None, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """One event as a gate box sends it."""
    return {"event_id": event_id or str(uuid.uuid4()), "seq": seq, "ts": (ts or now()).isoformat(), "type": type_,
            "plate": plate, "payload": payload or {}, **extra}


def passage(seq: int, trip: dict[str, Any], *, queue_number: int | None = None, ts: datetime | None = None,
            event_id: str | None = None) -> dict[str, Any]:
    """A passage event for a trip (the payload a gate box writes after the barrier closed behind it)."""
    payload = {"permit_id": f"{trip['id']}:gate", "trip_id": trip["id"], "queue_number": queue_number}
    return event(seq, "passage", plate=trip["plate"], ts=ts, payload=payload, event_id=event_id)


# ---------------------------------------------------------------------------------------------------
# Direct reads
# ---------------------------------------------------------------------------------------------------


def rows(db: Database, table, *where) -> list[Any]:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        return conn.execute(select(table).where(*where)).all()


def audit_actions(db: Database, obj: str | None = None) -> list[str]:
    a = schema.audit_log
    with db.begin() as conn:
        q = select(a.c.action).order_by(a.c.id)
        if obj is not None:
            q = q.where(a.c.object == obj)
        return list(conn.execute(q).scalars())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
