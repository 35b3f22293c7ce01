"""Trips (declared by companies, by plate) and confirmations (per agency and step), with the audit log.

Every change recompiles the trip's permits in the same transaction and returns the gates whose
permits changed (for the live channel's "permits changed" notice).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cloud.auth import Principal
from cloud.compiler import compile_trip
from cloud.store import schema
from cloud.store.db import utcnow
from edge.config.models import SiteConfig
from edge.plate.text import normalize

TRIP_VALIDITY = timedelta(days=3)
EDITABLE = ("goods", "driver_name", "driver_phone", "driver_id_number", "registered_load_t", "conditional_steps")


class NotFound(Exception):
    """Absent or not visible to the caller (the two are told apart by nobody)."""


class Forbidden(Exception):
    pass


class Conflict(Exception):
    pass


def audit(conn: Connection, who: Principal | None, action: str, obj: str | None, detail: dict[str, Any]) -> None:
    conn.execute(insert(schema.audit_log).values(
        at=utcnow(), account_id=who.account_id if who else None, gate_id=who.gate_id if who else None,
        action=action, object=obj, detail=detail))


def declare(conn: Connection, site: SiteConfig, who: Principal, data: dict[str, Any]) -> tuple[str, set[str]]:
    if who.role != "company" or who.company_id is None:
        raise Forbidden("only a company declares trips")
    plate = normalize(data["plate"])
    _check_conditional(site, data.get("conditional_steps") or [])
    trip_id = str(uuid.uuid4())
    now = utcnow()
    conn.execute(insert(schema.trips).values(
        id=trip_id, company_id=who.company_id, plate=plate.text, plate_display=data["plate"].strip()[:32],
        flow=data["flow"], goods=data.get("goods"), driver_name=data.get("driver_name"),
        driver_phone=data.get("driver_phone"), driver_id_number=data.get("driver_id_number"),
        registered_load_t=data.get("registered_load_t"), conditional_steps=list(data.get("conditional_steps") or []),
        status="open", valid_until=now + TRIP_VALIDITY, created_at=now, updated_at=now))
    audit(conn, who, "trip_declared", trip_id, {"plate": plate.text, "flow": data["flow"]})
    return trip_id, compile_trip(conn, site, trip_id)


def visible_trip(conn: Connection, who: Principal, trip_id: str) -> Any:
    """The trip if the caller may see it; companies see only their own (others: NotFound, not 403)."""
    row = conn.execute(select(schema.trips).where(schema.trips.c.id == trip_id)).first()
    if row is None or (who.role == "company" and row.company_id != who.company_id):
        raise NotFound(trip_id)
    if who.role not in ("company", "admin", "agency", "yard_operator"):
        raise NotFound(trip_id)
    return row


def update_trip(conn: Connection, site: SiteConfig, who: Principal, trip_id: str,
                changes: dict[str, Any]) -> set[str]:
    row = visible_trip(conn, who, trip_id)
    if who.role != "company":
        raise Forbidden("only the declaring company corrects a trip")
    if row.status != "open":
        raise Conflict(f"trip is {row.status}")
    values = {k: v for k, v in changes.items() if k in EDITABLE}
    if "conditional_steps" in values:
        _check_conditional(site, values["conditional_steps"] or [])
    conn.execute(update(schema.trips).where(schema.trips.c.id == trip_id).values(**values, updated_at=utcnow()))
    audit(conn, who, "trip_corrected", trip_id, {"changes": values})
    return compile_trip(conn, site, trip_id)


def cancel_trip(conn: Connection, site: SiteConfig, who: Principal, trip_id: str) -> set[str]:
    row = visible_trip(conn, who, trip_id)
    if who.role not in ("company", "admin"):
        raise Forbidden("only the declaring company or the management board cancels a trip")
    if row.status != "open":
        raise Conflict(f"trip is {row.status}")
    conn.execute(update(schema.trips).where(schema.trips.c.id == trip_id)
                 .values(status="cancelled", updated_at=utcnow()))
    audit(conn, who, "trip_cancelled", trip_id, {})
    return compile_trip(conn, site, trip_id)


def confirm(conn: Connection, site: SiteConfig, who: Principal, trip_id: str, step: str, decision: str,
            note: str | None) -> set[str]:
    """An agency confirms (or refuses) one of its steps for a trip; a yard operator the yard's own steps."""
    steps = {s.id: s for s in site.steps}
    if step not in steps:
        raise NotFound(f"step {step}")
    owner = steps[step].agency
    as_agency = who.role == "agency" and who.agency == owner
    as_yard = who.role == "yard_operator" and owner == "yard_operator"
    if not (as_agency or as_yard):
        raise Forbidden(f"step {step!r} is confirmed by {owner}")
    row = visible_trip(conn, who, trip_id)
    if row.status != "open":
        raise Conflict(f"trip is {row.status}")
    conn.execute(insert(schema.confirmations).values(
        trip_id=trip_id, step=step, agency=owner, decision=decision, account_id=who.account_id, note=note,
        at=utcnow()))
    audit(conn, who, f"step_{decision}", trip_id, {"step": step, "note": note})
    return compile_trip(conn, site, trip_id)


def trip_view(conn: Connection, who: Principal, row: Any) -> dict[str, Any]:
    """A trip as the caller may see it: agencies get what their function needs, not the driver's ID."""
    c, m = schema.confirmations, schema.milestones
    confirmations = [{"step": r.step, "agency": r.agency, "decision": r.decision, "note": r.note,
                      "at": _iso(r.at)} for r in conn.execute(select(c).where(c.c.trip_id == row.id).order_by(c.c.id))]
    milestones = [{"milestone": r.milestone, "gate_id": r.gate_id, "at": _iso(r.at)}
                  for r in conn.execute(select(m).where(m.c.trip_id == row.id).order_by(m.c.at))]
    out = {"id": row.id, "plate": row.plate, "plate_display": row.plate_display, "flow": row.flow,
           "goods": row.goods, "registered_load_t": row.registered_load_t, "status": row.status,
           "conditional_steps": row.conditional_steps, "created_at": _iso(row.created_at),
           "valid_until": _iso(row.valid_until), "confirmations": confirmations, "milestones": milestones}
    if who.role in ("company", "admin") or (who.role == "agency" and who.agency == "border_guard"):
        out |= {"driver_name": row.driver_name, "driver_phone": row.driver_phone,
                "driver_id_number": row.driver_id_number}
    return out


def _check_conditional(site: SiteConfig, steps: list[str]) -> None:
    conditional = {s.id for s in site.steps if s.conditional}
    unknown = sorted(set(steps) - conditional)
    if unknown:
        raise ValueError(f"not conditional steps of this site: {unknown}")


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    from datetime import timezone
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).isoformat()
