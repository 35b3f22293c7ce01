"""The export waiting yard's queue: numbers given by the entry gate (cloud/ingest.py), called in order by
the border guard.

A call is stored on its queue-number row (``called_at``) in the same transaction that picks it, so two
guards pressing "call next" at once on two instances call two different trucks; the live channel then
carries it to the gate's LED board and loudspeaker, and a gate without the live channel pulls the calls
it has not shown yet (``calls_since``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, update

from cloud.auth import Principal
from cloud.store import schema
from cloud.store.db import utcnow
from cloud.trips import Forbidden, audit
from edge.config.models import SiteConfig
from edge.ledboard.messages import queue_call_lines, queue_call_speech, queue_call_text


def site_day(site: SiteConfig, at: datetime | None = None) -> str:
    """Queue numbers restart every day, in the site's time zone (as the gates number them)."""
    return (at or utcnow()).astimezone(ZoneInfo(site.timezone)).date().isoformat()


def queue(conn: Connection, site: SiteConfig, day: str | None = None) -> list[Any]:
    q = schema.queue_numbers
    return conn.execute(select(q).where(q.c.day == (day or site_day(site))).order_by(q.c.number)).all()


def may_call(who: Principal) -> bool:
    return who.role == "admin" or (who.role == "agency" and who.agency == "border_guard")


def call_next(conn: Connection, site: SiteConfig, who: Principal, barrier: str | int = 1) -> dict[str, Any] | None:
    """Mark the lowest uncalled number of today as called and return the call (None: nobody waiting)."""
    if not may_call(who):
        raise Forbidden("only the border guard calls the queue")
    q = schema.queue_numbers
    row = conn.execute(select(q).where(q.c.day == site_day(site), q.c.called_at.is_(None))
                       .order_by(q.c.number).limit(1).with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    now = utcnow()
    conn.execute(update(q).where(q.c.day == row.day, q.c.number == row.number).values(called_at=now))
    audit(conn, who, "queue_called", f"{row.day}#{row.number}", {"plate": row.plate, "gate": row.gate_id})
    return call_of(row, now, barrier)


def call_of(row: Any, at: datetime, barrier: str | int = 1) -> dict[str, Any]:
    """The call as the gate shows and speaks it (the board and speech texts are the box's own formats)."""
    return {"day": row.day, "number": row.number, "plate": row.plate, "trip_id": row.trip_id,
            "gate_id": row.gate_id, "barrier": barrier, "called_at": at.isoformat(), "text": queue_call_text(row.number, row.plate, barrier),
            "lines": queue_call_lines(row.number, row.plate, barrier),
            "speech": queue_call_speech(row.number, row.plate, barrier)}


def calls_since(conn: Connection, gate_id: str, since: datetime, limit: int = 100) -> list[dict[str, Any]]:
    """Calls for a gate after ``since`` (oldest first): what a gate without the live channel pulls."""
    q = schema.queue_numbers
    rows = conn.execute(select(q).where(q.c.gate_id == gate_id, q.c.called_at > since)
                        .order_by(q.c.called_at).limit(limit)).all()
    return [call_of(r, r.called_at) for r in rows]
