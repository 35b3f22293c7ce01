"""What each actor has to do or watch, from the site workflow: a trip's timeline, an agency's worklist,
a yard's expected and present trucks.

These are the workflow's read side (the write side is cloud/trips.py): the console and any integration
ask here which steps apply to a trip and which trips wait for a step, so the rules live in one place
(the same ones the permit compiler applies: conditional steps only when the trip requires them, the
latest decision per step counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, and_, exists, not_, select

from cloud.compiler import confirmed_steps
from cloud.store import schema
from edge.config.models import SiteConfig, Step

SCAN_CAP = 5000  # trips examined for one worklist page (conditional steps are filtered after the query)


def applicable_steps(site: SiteConfig, flow: str, conditional: list[str] | None) -> list[Step]:
    """Steps a trip of ``flow`` needs on the platform, in site order: required by some gate of the flow,
    conditional ones only when the trip names them."""
    wanted = set(conditional or [])
    needed = {s for g in site.gates for s in g.requires.get(flow, [])}  # type: ignore[call-overload]
    return [s for s in site.steps if s.id in needed and (not s.conditional or s.id in wanted)]


def latest_decisions(conn: Connection, trip_id: str) -> dict[str, Any]:
    """The latest confirmation row per step of a trip (the one that counts)."""
    c = schema.confirmations
    out: dict[str, Any] = {}
    for r in conn.execute(select(c).where(c.c.trip_id == trip_id).order_by(c.c.id)):
        out[r.step] = r
    return out


@dataclass
class GateLeg:
    """One gate on a trip's route: the steps it waits for and when (if) the truck passed."""

    gate_id: str
    name: str
    steps: list[tuple[Step, Any]]  # (step, latest confirmation row or None)
    passed_at: datetime | None
    ready: bool  # every applicable step it requires is confirmed


@dataclass
class Timeline:
    legs: list[GateLeg] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # confirmations and passages, in time order


def timeline(conn: Connection, site: SiteConfig, trip: Any) -> Timeline:
    """The trip across the site's gates (in site order) and everything that happened to it."""
    decisions = latest_decisions(conn, trip.id)
    confirmed = confirmed_steps(conn, trip.id)
    m = schema.milestones
    passages = {r.gate_id: r for r in conn.execute(select(m).where(m.c.trip_id == trip.id))}
    steps = {s.id: s for s in site.steps}
    wanted = set(trip.conditional_steps or [])
    out = Timeline()
    for gate in site.gates:
        if trip.flow not in gate.flows:
            continue
        required = [steps[s] for s in gate.requires.get(trip.flow, []) if not steps[s].conditional or s in wanted]
        passed = passages.get(gate.id)
        out.legs.append(GateLeg(gate.id, gate.name, [(s, decisions.get(s.id)) for s in required],
                                passed.at if passed else None, all(s.id in confirmed for s in required)))
    c = schema.confirmations
    for r in conn.execute(select(c).where(c.c.trip_id == trip.id).order_by(c.c.id)):
        out.history.append({"at": r.at, "kind": "confirmation", "step": r.step, "agency": r.agency,
                            "decision": r.decision, "note": r.note})
    for r in passages.values():
        out.history.append({"at": r.at, "kind": "passage", "gate_id": r.gate_id, "milestone": r.milestone})
    out.history.sort(key=lambda h: _naive(h["at"]))
    return out


def agency_steps(site: SiteConfig, agency: str) -> list[Step]:
    """Steps an agency (or ``yard_operator``) confirms on the platform."""
    return [s for s in site.steps if s.agency == agency and s.on_platform]


def waiting_for(conn: Connection, site: SiteConfig, step_id: str, *, limit: int = 50,
                plate: str | None = None) -> list[Any]:
    """Open trips whose latest decision on ``step_id`` is not a confirmation (none yet, or a refusal), for
    which the step applies; newest declarations first."""
    step = next(s for s in site.steps if s.id == step_id)
    flows = [f for f in ("export", "import") if any(step_id in g.requires.get(f, []) for g in site.gates)]  # type: ignore[call-overload]
    t, c = schema.trips, schema.confirmations
    c2 = c.alias("later")
    confirmed_last = exists().where(and_(
        c.c.trip_id == t.c.id, c.c.step == step_id, c.c.decision == "confirmed",
        not_(exists().where(and_(c2.c.trip_id == c.c.trip_id, c2.c.step == c.c.step, c2.c.id > c.c.id)))))
    q = (select(t).where(t.c.status == "open", t.c.flow.in_(flows), not_(confirmed_last))
         .order_by(t.c.created_at.desc()))
    if plate:
        q = q.where(t.c.plate == plate)
    if not step.conditional:
        return list(conn.execute(q.limit(limit)))
    out: list[Any] = []
    offset = 0
    while len(out) < limit and offset < SCAN_CAP:
        rows = conn.execute(q.limit(500).offset(offset)).all()
        out += [r for r in rows if step_id in (r.conditional_steps or [])]
        if len(rows) < 500:
            break
        offset += 500
    return out[:limit]


@dataclass
class YardView:
    yard_id: str
    name: str
    capacity: int
    occupancy: int
    expected: list[Any]  # permits of the yard's entry gates not yet used
    inside: list[Any]  # trips that passed an entry gate and no exit gate


def yard_view(conn: Connection, site: SiteConfig, yard_id: str, limit: int = 100) -> YardView:
    yard = next(y for y in site.yards if y.id == yard_id)
    ins = [g.id for g in site.gates if g.yard == yard_id and g.direction == "in"]
    outs = [g.id for g in site.gates if g.yard == yard_id and g.direction == "out"]
    row = conn.execute(select(schema.yards).where(schema.yards.c.id == yard_id)).first()
    p, t, m = schema.permits, schema.trips, schema.milestones
    expected = conn.execute(
        select(p.c.gate_id, p.c.plate, p.c.valid_until, t.c.id, t.c.plate_display, t.c.goods, t.c.flow)
        .select_from(p.join(t, t.c.id == p.c.trip_id))
        .where(p.c.gate_id.in_(ins), p.c.deleted.is_(False), t.c.status == "open")
        .order_by(p.c.cursor.desc()).limit(limit)).all() if ins else []
    m2 = m.alias("left")
    inside = conn.execute(
        select(m.c.trip_id, m.c.gate_id, m.c.at, t.c.plate_display, t.c.goods, t.c.flow)
        .select_from(m.join(t, t.c.id == m.c.trip_id))
        .where(m.c.gate_id.in_(ins),
               not_(exists().where(and_(m2.c.trip_id == m.c.trip_id, m2.c.gate_id.in_(outs or ["-"])))))
        .order_by(m.c.at.desc()).limit(limit)).all() if ins else []
    return YardView(yard_id, yard.name, yard.capacity, row.occupancy if row else 0, list(expected), list(inside))


def _naive(dt: datetime) -> datetime:
    """UTC without tzinfo (SQLite returns naive UTC, PostgreSQL aware): comparable either way."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt
