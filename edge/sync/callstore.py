"""The box's record of the border guard's queue calls: received by the sync, shown once by the gate.

Why a table and not only a cursor: the service stamps a call (``called_at``) when the guard presses
"call next" and commits it a moment later, and two service instances may commit in another order than
they stamped. So the pull asks again from a little before its cursor (``edge.sync.queuecalls``) and the
call's identity here, (day, number), drops what the box already has: a call arrives once whatever the
overlap, a restart or a second process (``gatectl sync now``) pulling beside the daemon.

Showing is a separate step on the gate's own thread, which owns the LED board and the speaker
(:meth:`QueueCalls.take_due`): the call is marked shown and its outbox event recorded in one
transaction, then shown. As with a decision, the record comes before the effect: a crash in between
leaves a call recorded and not shown, never shown twice. A call older than ``MAX_AGE_S`` when the gate
gets to it (the box was offline, or just installed) is recorded as stale and not shown: the guard has
moved on, and an old number on the board would send a truck out of turn.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from edge.localstore.db import Database
from edge.localstore.outbox import insert_event, utcnow_iso

MAX_AGE_S = 600.0  # a call older than this (by the box's clock) is not shown any more
KEEP_DAYS = 3  # shown calls are kept this long (behind the cursor) for dropping repeats, then deleted
CURSOR_KEY = "queue_calls_cursor"


def as_utc(value: str) -> datetime:
    """An ISO-8601 time; naive means UTC (the service's SQLite store gives its times back without offset)."""
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def stored_ts(dt: datetime) -> str:
    """The stored form of a time (UTC, microseconds): comparing the text compares the instants."""
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class QueueCall:
    day: str
    number: int
    plate: str
    trip_id: str | None
    barrier: str
    called_at: str  # stored form (see stored_ts)

    @classmethod
    def from_wire(cls, doc: Any) -> "QueueCall":
        """A call as the service sends it (``cloud.queuecalls.call_of``); ValueError when it is not one."""
        if not isinstance(doc, dict):
            raise ValueError("a call is not an object")
        day, number, plate = doc.get("day"), doc.get("number"), doc.get("plate")
        if not (isinstance(day, str) and len(day) == 10 and isinstance(number, int) and number > 0
                and isinstance(plate, str) and 0 < len(plate) <= 32 and isinstance(doc.get("called_at"), str)):
            raise ValueError(f"a call lacks day, number, plate or called_at: {str(doc)[:200]}")
        trip = doc.get("trip_id")
        return cls(day, number, plate, trip if isinstance(trip, str) else None, str(doc.get("barrier", 1))[:8],
                   stored_ts(as_utc(doc["called_at"])))

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "QueueCall":
        return cls(row["day"], row["number"], row["plate"], row["trip_id"], row["barrier"], row["called_at"])

    def age_s(self, now: datetime) -> float:
        return (now - as_utc(self.called_at)).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class QueueCalls:
    def __init__(self, db: Database):
        self.db = db

    def cursor(self) -> str | None:
        """``called_at`` of the newest call received (stored form), None before the first."""
        rows = self.db.query("SELECT value FROM sync_state WHERE key = ?", (CURSOR_KEY,))
        return str(rows[0][0]) if rows else None

    def receive(self, calls: list[QueueCall]) -> int:
        """Keep the calls not held yet and move the cursor to the newest, in one transaction; return how
        many were new. Shown calls older than ``KEEP_DAYS`` behind the cursor are deleted on the way."""
        if not calls:
            return 0
        now = utcnow_iso()
        with self.db.transaction() as conn:
            new = 0
            for c in calls:
                new += conn.execute(
                    "INSERT OR IGNORE INTO queue_calls (day, number, plate, trip_id, barrier, called_at, received_at)"
                    " VALUES (?,?,?,?,?,?,?)", (c.day, c.number, c.plate, c.trip_id, c.barrier, c.called_at, now)
                ).rowcount
            row = conn.execute("SELECT value FROM sync_state WHERE key = ?", (CURSOR_KEY,)).fetchone()
            cursor = max([c.called_at for c in calls] + ([str(row[0])] if row else []))
            conn.execute("INSERT INTO sync_state (key, value) VALUES (?, ?)"
                         " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (CURSOR_KEY, cursor))
            floor = stored_ts(as_utc(cursor) - timedelta(days=KEEP_DAYS))
            conn.execute("DELETE FROM queue_calls WHERE shown_at IS NOT NULL AND called_at < ?", (floor,))
        return new

    def pending(self) -> list[QueueCall]:
        rows = self.db.query("SELECT * FROM queue_calls WHERE shown_at IS NULL ORDER BY called_at, day, number")
        return [QueueCall.from_row(r) for r in rows]

    def take_due(self, gate_id: str, *, max_age_s: float | None = None,
                 now: datetime | None = None) -> list[tuple[QueueCall, bool]]:
        """The calls not shown yet, oldest first, each with whether to show it (False: stale). Marks them
        and records one ``system`` event each (reason ``queue_call`` or ``queue_call_stale``) in one
        transaction, before the caller shows anything."""
        if not self.db.query("SELECT 1 FROM queue_calls WHERE shown_at IS NULL LIMIT 1"):
            return []  # the common case, every few hundred ms on the gate's loop: one indexed read
        now = now or datetime.now(timezone.utc)
        max_age_s = MAX_AGE_S if max_age_s is None else max_age_s
        taken: list[tuple[QueueCall, bool]] = []
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT * FROM queue_calls WHERE shown_at IS NULL ORDER BY called_at, day, number")
            for call in [QueueCall.from_row(r) for r in rows.fetchall()]:
                age = call.age_s(now)
                show = age <= max_age_s
                outcome = "shown" if show else "stale"
                conn.execute("UPDATE queue_calls SET shown_at = ?, outcome = ? WHERE day = ? AND number = ?",
                             (stored_ts(now), outcome, call.day, call.number))
                insert_event(conn, "system", plate=call.plate, reason="queue_call" if show else "queue_call_stale",
                             payload={"gate": gate_id, "day": call.day, "number": call.number,
                                      "trip_id": call.trip_id, "barrier": call.barrier, "called_at": call.called_at,
                                      "age_s": round(age, 3), "shown": show})
                taken.append((call, show))
        return taken

    def outcomes(self) -> dict[tuple[str, int], str | None]:
        """(day, number) → outcome (None: not taken yet), for gatectl and tests."""
        return {(r["day"], r["number"]): r["outcome"] for r in self.db.query("SELECT * FROM queue_calls")}
