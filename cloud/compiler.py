"""Permit compiler: from a trip, its confirmations and the site workflow, the permits of every gate.

A trip may pass a gate when the gate serves its flow, it has not passed that gate yet, and every step
the gate requires for that flow is confirmed (conditional steps only when the trip requires them; the
latest decision per step counts, so a refusal after a confirmation withdraws it). Each change to a
gate's permits takes the next value of one global cursor, in commit order (the counter row is locked
until the transaction commits), so a gate that pulls "everything after cursor N" never misses a change.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cloud.store import schema
from cloud.store.db import next_value
from edge.config.models import SiteConfig

CURSOR = "permit_cursor"


def confirmed_steps(conn: Connection, trip_id: str) -> set[str]:
    c = schema.confirmations
    latest: dict[str, str] = {}
    for step, decision in conn.execute(select(c.c.step, c.c.decision).where(c.c.trip_id == trip_id).order_by(c.c.id)):
        latest[step] = decision
    return {s for s, d in latest.items() if d == "confirmed"}


def passed_gates(conn: Connection, trip_id: str) -> set[str]:
    m = schema.milestones
    return set(conn.execute(select(m.c.gate_id).where(m.c.trip_id == trip_id)).scalars())


def desired_permits(site: SiteConfig, trip: Any, confirmed: set[str], passed: set[str],
                    company: str | None) -> dict[str, dict[str, Any]]:
    if trip.status != "open":
        return {}
    steps = {s.id: s for s in site.steps}
    wanted = set(trip.conditional_steps or [])
    out = {}
    for gate in site.gates:
        if trip.flow not in gate.flows or gate.id in passed:
            continue
        required = [s for s in gate.requires.get(trip.flow, []) if not steps[s].conditional or s in wanted]
        if all(s in confirmed for s in required):
            out[gate.id] = {
                "gate_id": gate.id, "trip_id": trip.id, "plate": trip.plate, "flow": trip.flow,
                "direction": gate.direction, "valid_from": _aware(trip.created_at),
                "valid_until": _aware(trip.valid_until),
                "info": {"company": company, "goods": trip.goods, "driver": trip.driver_name},
            }
    return out


def compile_trip(conn: Connection, site: SiteConfig, trip_id: str) -> set[str]:
    """Bring the stored permits of one trip in line with what it may do now; return the gates changed."""
    t, p = schema.trips, schema.permits
    # Lock the trip first (PostgreSQL; SQLite's write lock is already held): a concurrent change of the same
    # trip on another instance then compiles after this one commits, from what it committed, instead of both
    # compiling from a view without the other's confirmation (the permit would be lost) or both inserting it.
    # NO KEY UPDATE does not block the foreign-key checks of inserts that reference the trip.
    trip = conn.execute(select(t).where(t.c.id == trip_id).with_for_update(key_share=True)).first()
    if trip is None:
        return set()
    company = conn.execute(select(schema.companies.c.name).where(schema.companies.c.id == trip.company_id)).scalar()
    want = desired_permits(site, trip, confirmed_steps(conn, trip_id), passed_gates(conn, trip_id), company)
    have = {r.gate_id: r for r in conn.execute(select(p).where(p.c.trip_id == trip_id))}
    changed: set[str] = set()
    for gate_id, row in want.items():
        old = have.get(gate_id)
        if old is not None and not old.deleted and _same(old, row):
            continue
        cursor = next_value(conn, CURSOR)
        values = row | {"deleted": False, "cursor": cursor}
        if old is None:
            conn.execute(insert(p).values(permit_id=f"{trip_id}:{gate_id}", **values))
        else:
            conn.execute(update(p).where(p.c.permit_id == old.permit_id).values(**values))
        changed.add(gate_id)
    for gate_id, old in have.items():
        if gate_id not in want and not old.deleted:
            conn.execute(update(p).where(p.c.permit_id == old.permit_id)
                         .values(deleted=True, cursor=next_value(conn, CURSOR)))
            changed.add(gate_id)
    return changed


def _same(old: Any, new: dict[str, Any]) -> bool:
    return (old.plate == new["plate"] and old.direction == new["direction"] and old.flow == new["flow"]
            and _aware(old.valid_from) == new["valid_from"] and _aware(old.valid_until) == new["valid_until"]
            and old.info == new["info"])


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def permits_since(conn: Connection, gate_id: str, cursor: int, limit: int = 5000) -> dict[str, Any]:
    """What a gate needs after ``cursor``: a delta, or a full snapshot when the cursor is too old (or 0)."""
    p, c = schema.permits, schema.counters
    floor = conn.execute(select(c.c.value).where(c.c.name == "permit_prune_floor")).scalar() or 0
    current = conn.execute(select(c.c.value).where(c.c.name == CURSOR)).scalar() or 0
    if cursor <= 0 or cursor < floor or cursor > current:
        rows = conn.execute(select(p).where(p.c.gate_id == gate_id, p.c.deleted.is_(False))
                            .order_by(p.c.cursor)).all()
        return {"full": True, "cursor": current, "more": False, "upserts": [_wire(r) for r in rows], "deletes": []}
    rows = conn.execute(select(p).where(p.c.gate_id == gate_id, p.c.cursor > cursor)
                        .order_by(p.c.cursor).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    new_cursor = rows[-1].cursor if more else max([cursor, current] + [r.cursor for r in rows])
    return {"full": False, "cursor": new_cursor, "more": more,
            "upserts": [_wire(r) for r in rows if not r.deleted],
            "deletes": [r.permit_id for r in rows if r.deleted]}


def _wire(r: Any) -> dict[str, Any]:
    return {"permit_id": r.permit_id, "plate": r.plate, "trip_id": r.trip_id, "flow": r.flow,
            "direction": r.direction, "valid_from": _aware(r.valid_from).isoformat(),
            "valid_until": _aware(r.valid_until).isoformat(), "max_passes": 1,
            "company": (r.info or {}).get("company"), "info": {k: v for k, v in (r.info or {}).items() if v}}
