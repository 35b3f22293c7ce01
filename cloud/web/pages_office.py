"""The central office: live gate monitor, event search with snapshots, statistics, CSV export; snapshots
for whoever may search events."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select
from starlette.responses import Response, StreamingResponse

from cloud import reports as R
from cloud.ingest import EVENT_TYPES, SHA256
from cloud.store import schema
from cloud.web import charts
from cloud.web.deps import Admin, PageError, signed_in
from cloud.web.render import Ctx, may_see_events
from edge.plate.text import InvalidPlate, normalize

router = APIRouter(include_in_schema=False)
Searcher = Annotated[Ctx, Depends(signed_in("admin", "agency"))]
CSV_MAX_ROWS = 50_000


def _gates(ctx: Ctx) -> dict[str, object]:
    """The gate cards and where their online flag comes from: "mqtt" (the gates' status topic, received
    now), "mqtt_down" (the service has MQTT but its broker link is down: reports may be stale, so the
    event window is used) or "events" (the service runs without MQTT)."""
    probe = ctx.svc.live_status
    source = "events" if probe is None else ("mqtt" if probe() else "mqtt_down")
    with ctx.svc.db.begin() as conn:
        gates = R.monitor(conn, ctx.svc.site, live=source == "mqtt")
    return {"gates": gates, "status_source": source, "window_min": int(R.ONLINE_WINDOW.total_seconds() // 60)}


@router.get("/monitor")
def monitor(ctx: Admin) -> Response:
    return ctx.render("monitor.html", **_gates(ctx))


@router.get("/monitor/live")
def monitor_live(ctx: Admin) -> Response:
    """The gate cards alone, for the page's polling script (server-rendered, so escaped like the page)."""
    return ctx.render("_gates.html", **_gates(ctx))


def _searcher(ctx: Ctx) -> None:
    if not may_see_events(ctx.who):  # type: ignore[arg-type]
        raise PageError(403, "forbidden")


def _bound(ctx: Ctx, value: str | None) -> datetime | None:
    """A form time (site-local, from <input type=datetime-local>) as UTC."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PageError(422, "conflict", detail=f"time {value!r}") from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=ctx.tz)).astimezone(timezone.utc)


def _query(ctx: Ctx, plate: str | None, gate: str | None, type_: str | None, since: str | None,
           until: str | None) -> R.EventQuery:
    if gate and gate not in {g.id for g in ctx.svc.site.gates}:
        raise PageError(422, "conflict", detail="gate")
    if type_ and type_ not in EVENT_TYPES:
        raise PageError(422, "conflict", detail="type")
    key = None
    if plate:
        try:
            key = normalize(plate).text
        except InvalidPlate as exc:
            raise PageError(422, "conflict", detail=str(exc)) from exc
    return R.EventQuery(key, gate or None, type_ or None, _bound(ctx, since), _bound(ctx, until))


Text = Annotated[str | None, Query(max_length=40)]


@router.get("/events")
def events(ctx: Searcher, plate: Text = None, gate: Text = None, type: Text = None, since: Text = None,
           until: Text = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    _searcher(ctx)
    q = _query(ctx, plate, gate, type, since, until)
    with ctx.svc.db.begin() as conn:
        rows = R.search_events(conn, q, limit)
    form = {"plate": plate or "", "gate": gate or "", "type": type or "", "since": since or "", "until": until or ""}
    return ctx.render("events.html", rows=rows, form=form, types=EVENT_TYPES,
                      query="&".join(f"{k}={v}" for k, v in form.items() if v))


@router.get("/events.csv")
def events_csv(ctx: Searcher, plate: Text = None, gate: Text = None, type: Text = None, since: Text = None,
               until: Text = None, limit: Annotated[int, Query(ge=1, le=CSV_MAX_ROWS)] = 10_000) -> Response:
    _searcher(ctx)
    q = _query(ctx, plate, gate, type, since, until)
    with ctx.svc.db.begin() as conn:
        rows = R.search_events(conn, q, limit)

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(["event_id", "gate_id", "seq", "ts", "type", "plate", "reason", "snapshot", "payload"])
        for r in rows:
            out.writerow([r.event_id, r.gate_id, r.seq, R.aware(r.ts).isoformat(), r.type,  # type: ignore[union-attr]
                          _cell(r.plate), _cell(r.reason), r.snapshot or "", _cell(json.dumps(r.payload, ensure_ascii=False))])
            if buf.tell() > 64_000:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="gate-events.csv"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


def _cell(v: str | None) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    v = v or ""
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


@router.get("/snapshots/{sha}")
def snapshot(sha: Annotated[str, Path(pattern=SHA256)], ctx: Searcher) -> Response:
    _searcher(ctx)
    with ctx.svc.db.begin() as conn:
        data = conn.execute(select(schema.snapshots.c.data).where(schema.snapshots.c.sha256 == sha)).scalar()
    if data is None:
        raise PageError(404, "not_found")
    # Content-addressed: the bytes behind a name never change.
    return Response(bytes(data), media_type="image/jpeg", headers={
        "Cache-Control": "private, max-age=86400, immutable", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'"})


STATS_TTL_S = 60.0
_stats_cache: dict[tuple[int, int], tuple[float, R.Stats]] = {}
_stats_lock = threading.Lock()


def cached_statistics(ctx: Ctx, days: int) -> R.Stats:
    """Statistics are an overview over days: recomputed at most once a minute per instance and window
    (a week of a busy site is ~300 ms of queries on PostgreSQL; the figures a minute old are as useful)."""
    key = (id(ctx.svc), days)
    now = time.monotonic()
    with _stats_lock:
        hit = _stats_cache.get(key)
        if hit and now - hit[0] < STATS_TTL_S:
            return hit[1]
        with ctx.svc.db.begin() as conn:
            s = R.statistics(conn, ctx.svc.site, days)
        _stats_cache[key] = (now, s)
        return s


@router.get("/stats")
def stats(ctx: Admin, days: Annotated[int, Query(ge=1, le=90)] = 7) -> Response:
    s = cached_statistics(ctx, days)
    t = ctx.t
    per_day = charts.bars(t("per_day"), [d[5:] for d in s.days],
                          [(t("in"), [s.per_day.get(d, {}).get("in", 0) for d in s.days]),
                           (t("out"), [s.per_day.get(d, {}).get("out", 0) for d in s.days])])
    steps = {st.id: st for st in ctx.svc.site.steps}
    step_chart = charts.bars(t("step_hours"), [x[0] for x in s.step_hours], [("h", [x[1] for x in s.step_hours])],
                             unit=" h")
    clearance = charts.bars(t("clearance"), [x[0] for x in s.clearance], [("n", [x[1] for x in s.clearance])])
    denials = charts.bars(t("denials"), [t.reason(x[0]) for x in s.denials], [("n", [x[1] for x in s.denials])])
    confidence = charts.bars(t("confidence"), [x[0] for x in s.confidence], [("n", [x[1] for x in s.confidence])])
    return ctx.render("stats.html", s=s, days=days, steps=steps, charts={
        "per_day": per_day, "step_hours": step_chart, "clearance": clearance, "denials": denials,
        "confidence": confidence})
