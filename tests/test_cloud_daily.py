"""Statistics from the hourly tallies kept at ingest (cloud/tallies.py), on SQLite and PostgreSQL: the same
figures as counting the events themselves, each event counted once however often a gate resends it, the
window's first partial hour counted from the events, and migration 5 filling the tallies of a database
made before it."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from cloud_helpers import SITE, db, fast_passwords, pg_url  # noqa: F401  (fixtures)
from sqlalchemy import delete, inspect, select

from cloud import tallies
from cloud.ingest import EventIn, ingest
from cloud.reports import statistics
from cloud.store import schema
from cloud.store.db import Database

NOW = datetime(2025, 3, 10, 5, 37, 12, 345678, tzinfo=timezone.utc)
GATES = ["kb1_in", "kb2_in", "barrier1_out", "kb1_out"]
REASONS = ["permit_ok", "operator_override", "no_permit", "expired", "watchlist", "low_confidence", "", None]


def events(n: int, seed: int = 1) -> list[tuple[str, EventIn]]:
    """Events of several gates over nine days (some after ``NOW``), with the window's edge crowded."""
    rnd = random.Random(seed)
    out = []
    seqs: Counter[str] = Counter()
    for _ in range(n):
        gate = rnd.choice(GATES)
        seqs[gate] += 1
        if rnd.random() < 0.2:  # around the start of the 7-day window, within its first partial hour
            ts = NOW - timedelta(days=7) + timedelta(seconds=rnd.uniform(-3600, 3600))
        else:
            ts = NOW - timedelta(seconds=rnd.uniform(-3600, 9 * 86400))
        kind = rnd.choice(["decision", "decision", "passage", "barrier", "system"])
        reason = rnd.choice(REASONS) if kind == "decision" else None
        out.append((gate, EventIn(event_id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)), seq=seqs[gate],
                                  ts=ts, type=kind, plate="51C12345", reason=reason, payload={})))
    return out


def store(database: Database, evs: list[tuple[str, EventIn]], batch: int = 25) -> None:
    by_gate: dict[str, list[EventIn]] = {}
    for gate, e in evs:
        by_gate.setdefault(gate, []).append(e)
    for gate, items in by_gate.items():
        for i in range(0, len(items), batch):
            with database.begin() as conn:
                ingest(database, conn, SITE, gate, items[i:i + batch])


def expected(evs: list[tuple[str, EventIn]], days: int = 7) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Counted straight from the events: passages per site day and direction, refusals by reason."""
    since, tz = NOW - timedelta(days=days), ZoneInfo(SITE.timezone)
    direction = {g.id: g.direction for g in SITE.gates}
    per_day: dict[str, dict[str, int]] = {}
    denials: Counter[str] = Counter()
    for gate, e in evs:
        if e.ts < since:
            continue
        if e.type == "passage":
            day = per_day.setdefault(e.ts.astimezone(tz).date().isoformat(), {"in": 0, "out": 0})
            day[direction[gate]] += 1
        elif e.type == "decision" and e.reason is not None and e.reason not in tallies.ALLOWING:
            denials[e.reason or "?"] += 1
    return per_day, dict(denials)


def figures(database: Database, days: int = 7) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    with database.begin() as conn:
        s = statistics(conn, SITE, days, now=NOW)
    return s.per_day, dict(s.denials)


def tally_rows(database: Database) -> list[tuple[Any, ...]]:
    t = schema.event_tallies
    with database.begin() as conn:
        return [tuple(r) for r in conn.execute(select(t).order_by(t.c.hour, t.c.gate_id, t.c.kind, t.c.reason))]


def test_statistics_from_tallies_equal_counting_the_events(db: Database) -> None:  # noqa: F811
    evs = events(600)
    store(db, evs)
    per_day, denials = figures(db)
    want_days, want_denials = expected(evs)
    assert per_day == want_days and denials == want_denials
    assert sum(denials.values()) > 50 and sum(d["in"] + d["out"] for d in per_day.values()) > 50
    # The window's first partial hour is in (events from the table) and the hour before it is not.
    edge = NOW - timedelta(days=7)
    assert any(edge <= e.ts < edge + timedelta(hours=1) for _, e in evs)
    assert figures(db, 1) == expected(evs, 1)


def test_resent_and_repeated_events_are_counted_once(db: Database) -> None:  # noqa: F811
    evs = events(200, seed=2)
    store(db, evs)
    before = tally_rows(db)
    store(db, evs, batch=7)  # a gate resending everything (lost answers), other batch boundaries
    gate, first = evs[0]
    with db.begin() as conn:  # one batch repeating an event
        ingest(db, conn, SITE, gate, [first, first])
    assert tally_rows(db) == before
    assert figures(db) == expected(evs)


def test_overlapping_batches_on_several_instances_count_once(db: Database) -> None:  # noqa: F811
    evs = [(g, e) for g, e in events(300, seed=3) if g == "kb2_in"]
    others = [Database(db.url) for _ in range(3)]
    try:
        start = threading.Barrier(3)
        errors: list[BaseException] = []

        def push(d: Database, offset: int) -> None:
            start.wait()
            try:
                items = [e for _, e in evs]
                for i in range(offset, len(items) + offset, 20):
                    with d.begin() as conn:
                        ingest(d, conn, SITE, "kb2_in", items[i % len(items):i % len(items) + 20])
            except BaseException as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=push, args=(d, k * 20)) for k, d in enumerate(others)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        for d in others:
            d.dispose()
    assert figures(db) == expected(evs)


def test_migration_5_fills_the_tallies_of_events_stored_before_it(db: Database) -> None:  # noqa: F811
    evs = events(400, seed=4)
    store(db, evs)
    kept = tally_rows(db)
    assert kept
    with db.begin() as conn:
        schema.event_tallies.drop(conn)
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 5))
    assert "event_tallies" not in inspect(db.engine).get_table_names()
    assert db.migrate() == [5]
    assert tally_rows(db) == kept
    assert figures(db) == expected(evs)
    with db.begin() as conn:  # a rebuild (after a bulk load) gives the same again
        tallies.rebuild(conn)
    assert tally_rows(db) == kept
