"""Hourly tallies of gate events for the statistics page, kept at ingest time.

Grouping a week of ``gate_events`` (passages per day, refusals by reason) took most of an uncached
statistics page (250-530 ms with a million events on PostgreSQL). Ingest stores each event exactly once
(``ON CONFLICT DO NOTHING ... RETURNING``), so it adds the newly stored ones here in the same transaction:
the tallies can neither miss an event nor count a resent one.

Buckets are UTC hours (``hour`` = seconds since the epoch // 3600), not site days: the migration that
fills them from existing events knows no site time zone, and the statistics page turns hours into site
days itself (exact for time zones a whole number of hours from UTC, as Vietnam's). Events loaded around
ingest (a bulk COPY) must be followed by ``rebuild``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, Connection, cast, delete, func, insert, literal, select

from cloud.store import schema

ALLOWING = ("permit_ok", "operator_override")  # decisions that let the truck pass: not refusals
PASSAGE, DENIAL = "passage", "denial"


class Event(Protocol):
    ts: datetime
    type: str
    reason: str | None


def hour_of(ts: datetime) -> int:
    return int(ts.timestamp()) // 3600


def key_of(e: Event) -> tuple[str, str] | None:
    """The tally an event counts in, if any. A decision without a reason is not a refusal (as the grouped
    query over the events never counted it: ``NULL NOT IN (...)`` is not true)."""
    if e.type == "passage":
        return PASSAGE, ""
    if e.type == "decision" and e.reason is not None and e.reason not in ALLOWING:
        return DENIAL, e.reason
    return None


def add(conn: Connection, gate_id: str, events: Iterable[Event]) -> int:
    """Count newly stored events (the caller passes each once); returns the tally rows touched."""
    counts: Counter[tuple[int, str, str]] = Counter()
    for e in events:
        key = key_of(e)
        if key is not None:
            counts[(hour_of(e.ts), *key)] += 1
    if not counts:
        return 0
    t = schema.event_tallies
    # Sorted: two transactions touching the same rows lock them in one order (no deadlock on PostgreSQL);
    # one row per key in the statement (PostgreSQL refuses to update a row twice in one ON CONFLICT).
    rows = [{"hour": h, "gate_id": gate_id, "kind": k, "reason": r, "n": n} for (h, k, r), n in sorted(counts.items())]
    stmt = _insert(conn)(t).values(rows)
    conn.execute(stmt.on_conflict_do_update(index_elements=["hour", "gate_id", "kind", "reason"],
                                            set_={"n": t.c.n + stmt.excluded.n}))
    return len(rows)


def rebuild(conn: Connection) -> None:
    """Recount every tally from ``gate_events`` (the migration that adds them; after a bulk load)."""
    t, e = schema.event_tallies, schema.gate_events
    conn.execute(delete(t))
    hour = _hour_sql(conn, e.c.ts)
    cols = ["hour", "gate_id", "kind", "reason", "n"]
    conn.execute(insert(t).from_select(cols, select(
        hour, e.c.gate_id, literal(PASSAGE), literal(""), func.count())
        .where(e.c.type == "passage").group_by(hour, e.c.gate_id)))
    conn.execute(insert(t).from_select(cols, select(
        hour, e.c.gate_id, literal(DENIAL), e.c.reason, func.count())
        .where(e.c.type == "decision", e.c.reason.is_not(None), e.c.reason.not_in(ALLOWING))
        .group_by(hour, e.c.gate_id, e.c.reason)))


def _hour_sql(conn: Connection, col: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", col) / 3600), BigInteger)
    return cast(func.strftime("%s", col), BigInteger) // 3600  # stored as UTC text; integer division


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert
