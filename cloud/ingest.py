"""Gate event ingest: each event stored exactly once; passages advance trips and recompile permits."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, select, update

from cloud import tallies
from cloud.compiler import compile_trip
from cloud.store import schema
from cloud.store.db import Database, utcnow
from cloud.trips import audit
from edge.config.models import SiteConfig

log = logging.getLogger(__name__)

EVENT_TYPES = ("decision", "passage", "barrier", "alert", "override", "fault", "system", "command")
SHA256 = r"^[0-9a-f]{64}$"


class EventIn(BaseModel):
    """One event as a gate sends it (validated at the boundary; unknown fields refused)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    seq: int = Field(ge=1, le=2**62)
    ts: datetime
    type: Literal["decision", "passage", "barrier", "alert", "override", "fault", "system", "command"]
    plate: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)
    snapshot: str | None = Field(default=None, pattern=SHA256)

    @field_validator("ts")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("ts must carry a timezone")
        return v.astimezone(timezone.utc)  # stored as UTC: SQLite keeps no offset


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(max_length=5000)


def _insert_ignore(db: Database):  # type: ignore[no-untyped-def]
    if db.is_postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def ingest(db: Database, conn: Connection, site: SiteConfig, gate_id: str, events: list[EventIn]) -> dict[str, Any]:
    """Store a batch; answer with every event id of the batch now stored (new or already there)."""
    if not events:
        return {"stored": [], "new": 0, "changed_gates": []}
    insert = _insert_ignore(db)
    now = utcnow()
    # Rows go in in event-id order: two overlapping batches (a retry on another instance) then take the
    # unique-index locks in the same order and cannot deadlock.
    rows = sorted(({"event_id": e.event_id, "gate_id": gate_id, "seq": e.seq, "ts": e.ts, "type": e.type,
                    "plate": e.plate, "reason": e.reason, "payload": e.payload, "snapshot": e.snapshot,
                    "received_at": now} for e in {e.event_id: e for e in events}.values()),
                  key=lambda r: r["event_id"])
    t = schema.gate_events
    stmt = insert(t).on_conflict_do_nothing(index_elements=["event_id"]).returning(t.c.event_id)
    new_ids = set(conn.execute(stmt, rows).scalars())
    # Ids already present are confirmed only if they are this gate's own events.
    ids = [e.event_id for e in events]
    # By primary key only, the gate compared here: with the gate in the WHERE clause PostgreSQL (before its
    # first ANALYZE of the table) walks all the gate's rows through gate_events_gate_seq, so every batch
    # got slower as the gate's history grew.
    owned = {r.event_id for r in conn.execute(select(t.c.event_id, t.c.gate_id).where(t.c.event_id.in_(ids)))
             if r.gate_id == gate_id}
    foreign = set(ids) - owned
    if foreign:
        log.warning("event_ids_of_another_gate", extra={"gate": gate_id, "count": len(foreign)})
    changed: set[str] = set()
    # Each new passage once, even if the batch repeats it (it would count twice in the yard otherwise).
    passages = [e for e in {e.event_id: e for e in events}.values() if e.event_id in new_ids and e.type == "passage"]
    # Lock the trips these passages advance, in id order, before the first recompilation takes the cursor
    # counter: every transaction then locks trips before the counter and in one order (no deadlock with a
    # confirmation of one of these trips on another instance).
    trip_ids = sorted({i for i in map(_trip_id, passages) if i})
    if trip_ids:
        tr = schema.trips
        conn.execute(select(tr.c.id).where(tr.c.id.in_(trip_ids)).order_by(tr.c.id)
                     .with_for_update(key_share=True)).all()
    for e in passages:
        changed |= _passage(db, conn, site, gate_id, e)
    # Statistics' counts, in this transaction and for the newly stored events only: each counted once.
    tallies.add(conn, gate_id, [e for e in {e.event_id: e for e in events}.values() if e.event_id in new_ids])
    conn.execute(update(schema.gates).where(schema.gates.c.id == gate_id).values(last_seen_at=now))
    return {"stored": [i for i in ids if i in owned], "new": len(new_ids), "changed_gates": sorted(changed)}


def _passage(db: Database, conn: Connection, site: SiteConfig, gate_id: str, e: EventIn) -> set[str]:
    p = e.payload  # the box's own record: values of the wrong shape are kept, not acted on
    gate = next((g for g in site.gates if g.id == gate_id), None)
    insert = _insert_ignore(db)
    if gate is not None and gate.yard:
        _change_yard(db, conn, site, gate.yard, 1 if gate.direction == "in" else -1)
    trip_id = _trip_id(e)
    number = p.get("queue_number")
    if type(number) is int and 1 <= number < 2**31 and e.plate and len(e.plate) <= 16:
        day = e.ts.astimezone(ZoneInfo(site.timezone)).date().isoformat()
        conn.execute(insert(schema.queue_numbers).values(
            day=day, number=number, trip_id=trip_id, plate=e.plate, gate_id=gate_id,
            event_id=e.event_id).on_conflict_do_nothing())
    if not trip_id:
        return set()  # an override for an undeclared truck: recorded, no trip to advance
    trip = conn.execute(select(schema.trips).where(schema.trips.c.id == trip_id)).first()
    if trip is None or trip.plate != e.plate:
        log.warning("passage_for_unknown_trip", extra={"gate": gate_id, "trip": trip_id, "plate": e.plate})
        return set()
    if gate is not None and trip.flow in gate.frees:
        _change_yard(db, conn, site, gate.frees[trip.flow], -1)
    milestone = gate.records[0] if gate and gate.records else "passed"  # one milestone row per gate
    conn.execute(insert(schema.milestones).values(
        trip_id=trip_id, milestone=milestone, gate_id=gate_id, event_id=e.event_id, at=e.ts).on_conflict_do_nothing())
    if gate is not None and trip.flow in gate.ends:
        conn.execute(update(schema.trips).where(schema.trips.c.id == trip_id)
                     .values(status="completed", updated_at=utcnow()))
        audit(conn, None, "trip_completed", trip_id, {"gate": gate_id, "event_id": e.event_id})
    return compile_trip(conn, site, trip_id)


def _change_yard(db: Database, conn: Connection, site: SiteConfig, yard_id: str, delta: int) -> None:
    """Count a truck into (+1) or out of (-1) a yard, never below zero, in the caller's transaction."""
    y = schema.yards
    capacity = next((yd.capacity for yd in site.yards if yd.id == yard_id), 0)
    conn.execute(_insert_ignore(db)(y).values(id=yard_id, capacity=capacity, occupancy=0, updated_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["id"]))
    conn.execute(update(y).where(y.c.id == yard_id).values(occupancy=_max0(y.c.occupancy + delta),
                                                           updated_at=utcnow()))


def _trip_id(e: EventIn) -> str | None:
    """The trip a passage names, if it names one in the shape of a trip id (anything else would fail the
    transaction and block the gate's outbox behind a batch that can never be stored)."""
    v = e.payload.get("trip_id")
    return v if isinstance(v, str) and 0 < len(v) <= 36 else None


def _max0(expr):  # type: ignore[no-untyped-def]
    from sqlalchemy import case
    return case((expr < 0, 0), else_=expr)


def store_snapshot(db: Database, conn: Connection, gate_id: str, sha: str, data: bytes) -> bool:
    """Content-addressed and idempotent: True when stored now or before; False if the bytes do not match."""
    if hashlib.sha256(data).hexdigest() != sha:
        return False
    insert = _insert_ignore(db)
    conn.execute(insert(schema.snapshots).values(sha256=sha, gate_id=gate_id, size=len(data), data=data,
                                                 received_at=utcnow()).on_conflict_do_nothing())
    return True
