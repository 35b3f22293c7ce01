"""Event outbox: every read, decision, barrier movement and fault, in local order, until synced."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from edge.localstore.db import Database


def new_event_id() -> str:
    """A globally unique, time-ordered id (UUIDv7 layout: 48-bit ms clock, then random bits)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (
        rand & ((1 << 62) - 1)
    )
    return str(uuid.UUID(int=value))


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _as_stored_ts(value: str) -> str:
    """An ISO-8601 time (any offset, ``Z``, or naive meaning UTC) in the stored ``ts`` form, so that
    comparing the text compares the instants. Raises ValueError on text that is not a time."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Event:
    seq: int
    event_id: str
    ts: str
    type: str
    plate: str | None
    reason: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    snapshot: str | None = None
    sent_at: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Event":
        return cls(row["seq"], row["event_id"], row["ts"], row["type"], row["plate"], row["reason"],
                   json.loads(row["payload"]), row["snapshot"], row["sent_at"])

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "event_id": self.event_id, "ts": self.ts, "type": self.type,
                "plate": self.plate, "reason": self.reason, "payload": self.payload,
                "snapshot": self.snapshot, "sent_at": self.sent_at}


def insert_event(conn: sqlite3.Connection, type: str, *, plate: str | None = None, reason: str | None = None,
                 payload: dict[str, Any] | None = None, snapshot: str | None = None) -> Event:
    """Insert an event inside the caller's transaction (so it commits with the state change it records)."""
    event_id, ts = new_event_id(), utcnow_iso()
    body = json.dumps(payload or {}, ensure_ascii=False, separators=(",", ":"), default=str)
    cur = conn.execute(
        "INSERT INTO events (event_id, ts, type, plate, reason, payload, snapshot) VALUES (?,?,?,?,?,?,?)",
        (event_id, ts, type, plate, reason, body, snapshot),
    )
    return Event(int(cur.lastrowid or 0), event_id, ts, type, plate, reason, payload or {}, snapshot)


class Outbox:
    def __init__(self, db: Database):
        self.db = db

    def append(self, type: str, **kw: Any) -> Event:
        """Append one event; when this returns, the event is fsynced to disk."""
        with self.db.transaction() as conn:
            return insert_event(conn, type, **kw)

    def unsent(self, limit: int = 500, *, after: int = 0) -> list[Event]:
        """Unsent events in local order; ``after`` skips those with ``seq <= after`` (paging past events
        the central service refused, which stay unsent)."""
        rows = self.db.query("SELECT * FROM events WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                             (after, limit))
        return [Event.from_row(r) for r in rows]

    def mark_sent(self, event_ids: list[str]) -> int:
        """Mark as sent only the events the central service confirmed stored."""
        now = utcnow_iso()
        with self.db.transaction() as conn:
            n = 0
            for i in range(0, len(event_ids), 500):
                chunk = event_ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                n += conn.execute(
                    f"UPDATE events SET sent_at = ? WHERE sent_at IS NULL AND event_id IN ({marks})", (now, *chunk)
                ).rowcount
            return n

    def backlog(self) -> int:
        return int(self.db.query("SELECT count(*) FROM events WHERE sent_at IS NULL")[0][0])

    def tail(self, n: int = 20) -> list[Event]:
        rows = self.db.query("SELECT * FROM events ORDER BY seq DESC LIMIT ?", (n,))
        return [Event.from_row(r) for r in reversed(rows)]

    def search(self, *, plate: str | None = None, type: str | None = None, reason: str | None = None,
               since: str | None = None, until: str | None = None, limit: int = 100) -> list[Event]:
        """Search events; ``since``/``until`` are ISO-8601 times compared in UTC."""
        where, params = [], []
        for col, val in (("plate", plate), ("type", type), ("reason", reason)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if since:
            where.append("ts >= ?")
            params.append(_as_stored_ts(since))
        if until:
            where.append("ts <= ?")
            params.append(_as_stored_ts(until))
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.query(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit))
        return [Event.from_row(r) for r in reversed(rows)]
