"""Per-gate state the decision needs: passages (anti-passback), overrides, yard occupancy, queue numbers."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from edge.localstore.db import Database
from edge.localstore.outbox import Event, insert_event


@dataclass(frozen=True)
class Override:
    id: int
    plate: str
    operator: str
    reason: str
    expires_at: float


class GateState:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ passages

    def last_passage(self, plate: str) -> float | None:
        rows = self.db.query("SELECT max(at) FROM passages WHERE plate = ?", (plate,))
        return rows[0][0]

    def passes_used(self, permit_id: str) -> int:
        return int(self.db.query("SELECT count(*) FROM passages WHERE permit_id = ?", (permit_id,))[0][0])

    @staticmethod
    def record_passage(conn: sqlite3.Connection, plate: str, permit_id: str | None, at: float | None = None) -> None:
        conn.execute("INSERT INTO passages (plate, permit_id, at) VALUES (?,?,?)", (plate, permit_id, at or time.time()))

    # ------------------------------------------------------------------ overrides

    def add_override(self, plate: str, operator: str, reason: str, ttl_s: float) -> Event:
        """Record an operator override (who and why) with its audit event, in one transaction."""
        if not operator.strip() or not reason.strip():
            raise ValueError("an override needs the operator's identity and a reason")
        now = time.time()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO overrides (plate, operator, reason, created_at, expires_at) VALUES (?,?,?,?,?)",
                (plate, operator.strip(), reason.strip(), now, now + ttl_s),
            )
            return insert_event(conn, "override", plate=plate, reason="override_granted",
                                payload={"override_id": cur.lastrowid, "operator": operator.strip(),
                                         "why": reason.strip(), "ttl_s": ttl_s})

    def active_override(self, plate: str, now: float | None = None) -> Override | None:
        now = now or time.time()
        rows = self.db.query(
            "SELECT id, plate, operator, reason, expires_at FROM overrides"
            " WHERE plate = ? AND used_at IS NULL AND expires_at > ? ORDER BY id LIMIT 1",
            (plate, now),
        )
        return Override(*rows[0]) if rows else None

    @staticmethod
    def use_override(conn: sqlite3.Connection, override_id: int) -> None:
        conn.execute("UPDATE overrides SET used_at = ? WHERE id = ?", (time.time(), override_id))

    # ------------------------------------------------------------------ yards

    def set_yard(self, yard_id: str, capacity: int, occupancy: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO yards (yard_id, capacity, occupancy, updated_at) VALUES (?,?,?,?)"
                " ON CONFLICT(yard_id) DO UPDATE SET capacity = excluded.capacity,"
                " occupancy = excluded.occupancy, updated_at = excluded.updated_at",
                (yard_id, capacity, occupancy, datetime.now(timezone.utc).isoformat()),
            )

    def yard(self, yard_id: str) -> tuple[int, int] | None:
        rows = self.db.query("SELECT capacity, occupancy FROM yards WHERE yard_id = ?", (yard_id,))
        return (rows[0][0], rows[0][1]) if rows else None

    def adopt_central_occupancy(self, yard_id: str, central: int, direction: str) -> int | None:
        """Take the service's count of a yard (every gate's passages it holds) and add this box's own
        passages it does not hold yet (unsent): an entry box alone only ever counts up. Returns the new
        local occupancy, or None when this box does not know the yard."""
        sign = 1 if direction == "in" else -1
        with self.db.transaction(durable=False) as conn:
            if conn.execute("SELECT 1 FROM yards WHERE yard_id = ?", (yard_id,)).fetchone() is None:
                return None
            unsent = conn.execute("SELECT count(*) FROM events WHERE type = 'passage' AND sent_at IS NULL"
                                  ).fetchone()[0]
            occupancy = max(0, int(central) + sign * int(unsent))
            conn.execute("UPDATE yards SET occupancy = ?, updated_at = ? WHERE yard_id = ?",
                         (occupancy, datetime.now(timezone.utc).isoformat(), yard_id))
        return occupancy

    @staticmethod
    def change_occupancy(conn: sqlite3.Connection, yard_id: str, delta: int) -> None:
        conn.execute("UPDATE yards SET occupancy = max(0, occupancy + ?), updated_at = ? WHERE yard_id = ?",
                     (delta, datetime.now(timezone.utc).isoformat(), yard_id))

    # ------------------------------------------------------------------ queue numbers

    @staticmethod
    def issue_queue_number(conn: sqlite3.Connection, plate: str, trip_id: str | None, tz_day: str) -> int:
        """Next queue number of the (site-local) day, inside the caller's transaction."""
        row = conn.execute("SELECT coalesce(max(number), 0) + 1 FROM queue_numbers WHERE day = ?", (tz_day,)).fetchone()
        number = int(row[0])
        conn.execute("INSERT INTO queue_numbers (day, number, plate, trip_id, issued_at) VALUES (?,?,?,?,?)",
                     (tz_day, number, plate, trip_id, datetime.now(timezone.utc).isoformat()))
        return number
