"""The central office's read side: gate monitor, event search and statistics.

Every query is bounded (a time window, a row limit) and walks an index of ``gate_events`` (gate+seq,
plate+ts, ts), so a page costs the same with a million events as with a thousand. Passages per day and
refusals by reason come from the hourly tallies kept at ingest (``cloud/tallies.py``). Times are stored in
UTC; days are counted in the site's time zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, case, func, select

from cloud import presence, tallies
from cloud.store import schema
from cloud.store.db import utcnow
from edge.config.models import SiteConfig

ONLINE_WINDOW = timedelta(minutes=5)  # without MQTT status: a gate that synced within this is shown online
ALLOWING = tallies.ALLOWING


@dataclass
class GateStatus:
    gate_id: str
    name: str
    registered: bool
    active: bool
    last_seen_at: datetime | None
    online: bool
    reads: list[Any]  # latest decision events (with snapshot)
    passages: list[Any]  # latest passage events
    barrier: Any | None  # latest barrier event (its reason is the arm's last movement)
    lag_s: float | None  # receipt delay of the newest event: how far behind the gate's outbox is
    source: str = "events"  # "mqtt": online from the gate's status topic; "events": synced within ONLINE_WINDOW
    changed_at: datetime | None = None  # mqtt: when the gate went online/offline


def aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for aware columns; they were stored in UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def monitor(conn: Connection, site: SiteConfig, reads: int = 5, now: datetime | None = None,
            live: bool = False) -> list[GateStatus]:
    """``live``: the service receives the gates' MQTT status now, so a gate that has reported one is shown
    by it (an idle gate stays online; a dead link shows offline within the broker's keepalive). A gate
    without a report (no live channel configured), or every gate when ``live`` is false, is judged by its
    last sync (``ONLINE_WINDOW``)."""
    now = now or utcnow()
    g, e = schema.gates, schema.gate_events
    known = {r.id: r for r in conn.execute(select(g))}
    reported = presence.load(conn) if live else {}
    out = []
    for gate in site.gates:
        row = known.get(gate.id)
        last = aware(row.last_seen_at) if row else None
        active = bool(row and row.active)
        state = reported.get(gate.id)
        recent = select(e).where(e.c.gate_id == gate.id).order_by(e.c.seq.desc())
        newest = conn.execute(recent.limit(1)).first()
        out.append(GateStatus(
            gate_id=gate.id, name=gate.name, registered=row is not None, active=active, last_seen_at=last,
            online=(active and state.online) if state else bool(active and last and now - last <= ONLINE_WINDOW),
            reads=conn.execute(recent.where(e.c.type == "decision").limit(reads)).all(),
            passages=conn.execute(recent.where(e.c.type == "passage").limit(reads)).all(),
            barrier=conn.execute(recent.where(e.c.type == "barrier").limit(1)).first(),
            lag_s=(aware(newest.received_at) - aware(newest.ts)).total_seconds() if newest else None,  # type: ignore[operator]
            source="mqtt" if state else "events", changed_at=state.changed_at if state else None))
    return out


@dataclass(frozen=True)
class EventQuery:
    plate: str | None = None
    gate_id: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search_events(conn: Connection, q: EventQuery, limit: int = 100) -> list[Any]:
    """Newest first; bounds are inclusive and in UTC."""
    e = schema.gate_events
    conds = []
    if q.plate:
        conds.append(e.c.plate == q.plate)
    if q.gate_id:
        conds.append(e.c.gate_id == q.gate_id)
    if q.type:
        conds.append(e.c.type == q.type)
    if q.since:
        conds.append(e.c.ts >= q.since)
    if q.until:
        conds.append(e.c.ts <= q.until)
    return conn.execute(select(e).where(*conds).order_by(e.c.ts.desc()).limit(limit)).all()


# ----------------------------------------------------------------------------------------- statistics


def _day(conn: Connection, site: SiteConfig, col: Any) -> tuple[Any, Any]:
    """An SQL expression for the site-local calendar day of a UTC timestamp column, and a function that
    turns its value into YYYY-MM-DD. (SQLite: Vietnam keeps no daylight saving time, so one offset serves.)
    """
    offset = int((utcnow().astimezone(ZoneInfo(site.timezone)).utcoffset() or timedelta()).total_seconds())
    if conn.dialect.name == "postgresql":
        return func.date_trunc("day", func.timezone(site.timezone, col)), lambda d: d.date().isoformat()
    return func.date(col, f"{offset} seconds"), str


def _seconds(conn: Connection, later: Any, earlier: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


@dataclass
class Stats:
    days: list[str]
    per_day: dict[str, dict[str, int]]  # day -> {"in": n, "out": n} passages by gate direction
    step_hours: list[tuple[str, float, int]]  # step, mean hours from declaration to confirmation, count (sample)
    clearance: list[tuple[str, int]]  # bucket label, trips completed
    denials: list[tuple[str, int]]  # reason, decisions
    confidence: list[tuple[str, int]]  # bucket label, decisions (sample)


CLEARANCE_BUCKETS_H = (1, 2, 4, 8, 12, 24, 48)
SAMPLE = 5000  # confirmations and reads summarised per statistic (the latest of the window)


def statistics(conn: Connection, site: SiteConfig, days: int = 7, now: datetime | None = None) -> Stats:
    now = now or utcnow()
    since = now - timedelta(days=days)
    e, c, t = schema.gate_events, schema.confirmations, schema.trips
    direction = {g.id: g.direction for g in site.gates}

    # Passages and refusals from the hourly tallies kept at ingest (cloud/tallies.py) for the whole hours of
    # the window, and from the events themselves for its first partial hour (at most an hour of rows).
    edge = _next_hour(since)
    per_day: dict[str, dict[str, int]] = {}
    for d, gate_id, n in _tallied_passages(conn, site, edge) + _passages(conn, site, since, edge):
        bucket = per_day.setdefault(d, {"in": 0, "out": 0})
        bucket[direction.get(gate_id, "in")] += n
    local = now.astimezone(ZoneInfo(site.timezone)).date()
    days_list = [(local - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]

    # The latest SAMPLE confirmations of the window (walked backwards on the primary key; confirmations
    # have no time index and the whole window would be a scan of the table).
    recent = (select(c.c.step, c.c.at, c.c.trip_id).where(c.c.at >= since, c.c.decision == "confirmed")
              .order_by(c.c.id.desc()).limit(SAMPLE).subquery())
    sums: dict[str, list[float]] = {}
    for step, at, created in conn.execute(select(recent.c.step, recent.c.at, t.c.created_at)
                                          .select_from(recent.join(t, t.c.id == recent.c.trip_id))):
        acc = sums.setdefault(step, [0.0, 0])
        acc[0] += (aware(at) - aware(created)).total_seconds()  # type: ignore[operator]
        acc[1] += 1
    step_hours = [(step, total / n / 3600.0, int(n)) for step, (total, n) in sorted(sums.items())]

    span = _seconds(conn, t.c.updated_at, t.c.created_at) / 3600.0
    edges = CLEARANCE_BUCKETS_H
    bucket = case(*[(span < h, i) for i, h in enumerate(edges)], else_=len(edges))
    counts = dict(conn.execute(select(bucket, func.count()).where(
        t.c.status == "completed", t.c.updated_at >= since).group_by(bucket)).all())
    labels = [f"<{edges[0]}h"] + [f"{a}-{b}h" for a, b in zip(edges, edges[1:])] + [f"≥{edges[-1]}h"]
    clearance = [(label, int(counts.get(i, 0))) for i, label in enumerate(labels)]

    refused: dict[str, int] = {}
    for reason, n in _tallied_denials(conn, edge) + _denials(conn, since, edge):
        refused[reason or "?"] = refused.get(reason or "?", 0) + n
    denials = sorted(refused.items(), key=lambda x: (-x[1], x[0]))[:12]

    # Read confidence of the latest SAMPLE decisions of the window (newest first on the time index): the
    # payload is JSON text, and parsing every decision of a week took most of the page's time.
    tenths = [0] * 10
    for (value,) in conn.execute(select(e.c.payload["confidence"].as_float()).where(
            e.c.ts >= since, e.c.type == "decision").order_by(e.c.ts.desc()).limit(SAMPLE)):
        if isinstance(value, (int, float)) and 0 <= value <= 1:
            tenths[min(int(value * 10), 9)] += 1
    confidence = [(f"{i / 10:.1f}", n) for i, n in enumerate(tenths)]
    return Stats(days_list, per_day, step_hours, clearance, denials, confidence)


def _next_hour(t: datetime) -> int:
    """The first whole UTC hour (tally bucket) at or after ``t``."""
    return math.ceil(t.timestamp() / 3600)


def _tallied_passages(conn: Connection, site: SiteConfig, from_hour: int) -> list[tuple[str, str, int]]:
    """(site day, gate, passages) from the tallies of hours ≥ ``from_hour``."""
    t, tz = schema.event_tallies, ZoneInfo(site.timezone)
    rows = conn.execute(select(t.c.hour, t.c.gate_id, t.c.n).where(t.c.hour >= from_hour, t.c.kind == tallies.PASSAGE))
    return [(datetime.fromtimestamp(h * 3600, tz).date().isoformat(), g, int(n)) for h, g, n in rows]


def _tallied_denials(conn: Connection, from_hour: int) -> list[tuple[str, int]]:
    t = schema.event_tallies
    return [(r, int(n)) for r, n in conn.execute(select(t.c.reason, func.sum(t.c.n)).where(
        t.c.hour >= from_hour, t.c.kind == tallies.DENIAL).group_by(t.c.reason))]


def _passages(conn: Connection, site: SiteConfig, since: datetime, until_hour: int) -> list[tuple[str, str, int]]:
    """(site day, gate, passages) counted from the events of [since, until_hour)."""
    e = schema.gate_events
    day, day_text = _day(conn, site, e.c.ts)
    until = datetime.fromtimestamp(until_hour * 3600, timezone.utc)
    return [(day_text(d), g, int(n)) for d, g, n in conn.execute(select(day, e.c.gate_id, func.count()).where(
        e.c.ts >= since, e.c.ts < until, e.c.type == "passage").group_by(day, e.c.gate_id))]


def _denials(conn: Connection, since: datetime, until_hour: int) -> list[tuple[str, int]]:
    e = schema.gate_events
    until = datetime.fromtimestamp(until_hour * 3600, timezone.utc)
    return [(r, int(n)) for r, n in conn.execute(select(e.c.reason, func.count()).where(
        e.c.ts >= since, e.c.ts < until, e.c.type == "decision", e.c.reason.not_in(ALLOWING))
        .group_by(e.c.reason))]
