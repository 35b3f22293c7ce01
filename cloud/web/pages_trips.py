"""Companies: declare, correct and cancel trips, follow their timeline; everyone: yard capacity.

The forms are checked with the API's own boundary models (TripIn, TripPatch) and the work is done by
cloud/trips.py, so the console and the API apply the same rules.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from starlette.responses import Response

from cloud import trips as T
from cloud import worklist as W
from cloud.api.people import TripIn, TripPatch
from cloud.store import schema
from cloud.web.deps import Company, Person, PageError, domain_errors, form, validate
from cloud.web.render import Ctx, redirect

router = APIRouter(include_in_schema=False)
TripId = Annotated[str, Path(max_length=36)]
FIELDS = ("plate", "flow", "goods", "driver_name", "driver_phone", "driver_id_number", "registered_load_t")


def conditional_choices(ctx: Ctx) -> list[Any]:
    return [s for s in ctx.svc.site.steps if s.conditional]


@router.get("/trips")
def trips(ctx: Company, status: Annotated[str | None, Query(pattern="^(open|cancelled|completed)$")] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    t = schema.trips
    q = select(t).where(t.c.company_id == ctx.who.company_id).order_by(t.c.created_at.desc()).limit(limit)  # type: ignore[union-attr]
    if status:
        q = q.where(t.c.status == status)
    with ctx.svc.db.begin() as conn:
        rows = conn.execute(q).all()
    return ctx.render("trips.html", trips=rows, status=status or "")


@router.get("/trips/new")
def new_trip(ctx: Company) -> Response:
    return ctx.render("trip_form.html", trip=None, values={"flow": "export", "conditional_steps": []}, errors={},
                      choices=conditional_choices(ctx))


def _trip_form(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data.get(k, "") for k in FIELDS if k in data}
    steps = data.get("conditional_steps", [])
    out["conditional_steps"] = steps if isinstance(steps, list) else [steps] if steps else []
    if isinstance(out.get("driver_id_number"), str):
        out["driver_id_number"] = out["driver_id_number"].upper()
    return out


@router.post("/trips/new")
async def declare(ctx: Company) -> Response:
    data = _trip_form(await form(ctx))
    body, errors = validate(TripIn, data)
    if body is None:
        return ctx.render("trip_form.html", 422, trip=None, values=data, errors=errors, choices=conditional_choices(ctx))
    with domain_errors(), ctx.svc.db.begin() as conn:
        trip_id, changed = T.declare(conn, ctx.svc.site, ctx.who, body.model_dump())  # type: ignore[arg-type]
    ctx.svc.notify(changed)
    return redirect(f"/trips/{trip_id}")


@router.get("/trips/{trip_id}")
def trip(trip_id: TripId, ctx: Person) -> Response:
    with domain_errors(), ctx.svc.db.begin() as conn:
        row = T.visible_trip(conn, ctx.who, trip_id)  # type: ignore[arg-type]
        view = T.trip_view(conn, ctx.who, row)  # type: ignore[arg-type]
        line = W.timeline(conn, ctx.svc.site, row)
    steps = {s.id: s for s in ctx.svc.site.steps}
    gates = {g.id: g for g in ctx.svc.site.gates}
    mine = W.agency_steps(ctx.svc.site, ctx.who.agency or "") if ctx.who.role == "agency" else (  # type: ignore[union-attr]
        W.agency_steps(ctx.svc.site, "yard_operator") if ctx.who.role == "yard_operator" else [])  # type: ignore[union-attr]
    applicable = {s.id for s in W.applicable_steps(ctx.svc.site, row.flow, row.conditional_steps)}
    return ctx.render("trip.html", trip=view, row=row, line=line, steps=steps, gates=gates,
                      my_steps=[s for s in mine if s.id in applicable])


@router.get("/trips/{trip_id}/edit")
def edit_trip(trip_id: TripId, ctx: Company) -> Response:
    with domain_errors(), ctx.svc.db.begin() as conn:
        row = T.visible_trip(conn, ctx.who, trip_id)  # type: ignore[arg-type]
    if row.status != "open":
        raise PageError(409, "conflict", detail=row.status)
    values = {k: getattr(row, k) for k in FIELDS} | {"conditional_steps": row.conditional_steps or []}
    return ctx.render("trip_form.html", trip=row, values=values, errors={}, choices=conditional_choices(ctx))


@router.post("/trips/{trip_id}/edit")
async def correct(trip_id: TripId, ctx: Company) -> Response:
    data = _trip_form(await form(ctx))
    data.pop("plate", None)
    data.pop("flow", None)
    # An emptied field clears it: the patch names every editable field.
    patch = {k: (v if v != "" else None) for k, v in data.items()}
    body, errors = validate(TripPatch, patch, drop_empty=False)
    if body is None:
        with domain_errors(), ctx.svc.db.begin() as conn:
            row = T.visible_trip(conn, ctx.who, trip_id)  # type: ignore[arg-type]
        return ctx.render("trip_form.html", 422, trip=row, values=data, errors=errors, choices=conditional_choices(ctx))
    with domain_errors(), ctx.svc.db.begin() as conn:
        changed = T.update_trip(conn, ctx.svc.site, ctx.who, trip_id, body.model_dump())  # type: ignore[arg-type]
    ctx.svc.notify(changed)
    return redirect(f"/trips/{trip_id}")


@router.post("/trips/{trip_id}/cancel")
async def cancel(trip_id: TripId, ctx: Company) -> Response:
    await form(ctx)
    with domain_errors(), ctx.svc.db.begin() as conn:
        changed = T.cancel_trip(conn, ctx.svc.site, ctx.who, trip_id)  # type: ignore[arg-type]
    ctx.svc.notify(changed)
    return redirect(f"/trips/{trip_id}")


@router.get("/yards")
def yards(ctx: Person) -> Response:
    with ctx.svc.db.begin() as conn:
        live = {r.id: r.occupancy for r in conn.execute(select(schema.yards.c.id, schema.yards.c.occupancy))}
    rows = [{"id": y.id, "name": y.name, "capacity": y.capacity, "occupancy": live.get(y.id, 0)}
            for y in ctx.svc.site.yards]
    return ctx.render("yards.html", yards=rows)
