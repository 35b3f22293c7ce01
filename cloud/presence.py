"""Each gate's online flag as its MQTT live channel reports it (retained "online", last will "offline").

The monitor used to infer "online" from the last event ingest, so a healthy gate with no traffic looked
offline after five minutes. The box's status topic says it directly; every service instance started with
MQTT subscribes to it and writes here, so all instances behind the load balancer show the same state.
Writes are idempotent: several instances recording the same report change ``changed_at`` once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, select, update

from cloud.store import schema
from cloud.store.db import Database


@dataclass(frozen=True)
class Presence:
    online: bool
    changed_at: datetime  # when the flag last changed, as received by the service
    reported_at: datetime


def record(db: Database, conn: Connection, gate_id: str, online: bool, at: datetime) -> bool:
    """Store one status report; True when it changed the gate's flag (or is its first report)."""
    if at.tzinfo is None:
        raise ValueError("at must carry a timezone")
    at = at.astimezone(timezone.utc)  # SQLite keeps no offset
    p = schema.gate_presence
    if db.is_postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    first = conn.execute(insert(p).values(gate_id=gate_id, online=online, changed_at=at, reported_at=at)
                         .on_conflict_do_nothing(index_elements=["gate_id"]).returning(p.c.gate_id)).first()
    if first is not None:
        return True
    # Only a real change moves changed_at (a retained "online" redelivered on reconnect is not a change).
    changed = conn.execute(update(p).where(p.c.gate_id == gate_id, p.c.online != online)
                           .values(online=online, changed_at=at, reported_at=at)).rowcount
    if not changed:
        conn.execute(update(p).where(p.c.gate_id == gate_id).values(reported_at=at))
    return bool(changed)


def load(conn: Connection) -> dict[str, Presence]:
    p = schema.gate_presence
    return {r.gate_id: Presence(bool(r.online), _aware(r.changed_at), _aware(r.reported_at))
            for r in conn.execute(select(p))}


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes for aware columns; they were stored in UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
