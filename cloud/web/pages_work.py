"""Agency officers and yard operators: the worklist and confirm/refuse; the yard view; the border guard's
export queue with "call next"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from cloud import queuecalls as Q
from cloud import trips as T
from cloud import worklist as W
from cloud.api.people import ConfirmIn
from cloud.web.deps import PageError, domain_errors, form, signed_in, validate
from cloud.web.render import Ctx, redirect
from edge.plate.text import InvalidPlate, normalize

router = APIRouter(include_in_schema=False)
Officer = Annotated[Ctx, Depends(signed_in("agency", "yard_operator"))]
Yard = Annotated[Ctx, Depends(signed_in("yard_operator"))]
Guard = Annotated[Ctx, Depends(signed_in("agency", "admin"))]


def my_steps(ctx: Ctx) -> list:  # type: ignore[type-arg]
    who = ctx.who
    return W.agency_steps(ctx.svc.site, who.agency if who.role == "agency" else "yard_operator")  # type: ignore[union-attr,arg-type]


@router.get("/work")
def worklist(ctx: Officer, step: Annotated[str | None, Query(max_length=64)] = None,
             plate: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    steps = my_steps(ctx)
    if not steps:
        return ctx.render("work.html", steps=[], step=None, trips=[], plate="")
    chosen = next((s for s in steps if s.id == step), None)
    if step and chosen is None:
        raise PageError(403, "forbidden")
    chosen = chosen or steps[0]
    key = None
    if plate:
        try:
            key = normalize(plate).text
        except InvalidPlate as exc:
            raise PageError(422, "conflict", detail=str(exc)) from exc
    with ctx.svc.db.begin() as conn:
        rows = W.waiting_for(conn, ctx.svc.site, chosen.id, plate=key)
        latest = {r.id: W.latest_decisions(conn, r.id).get(chosen.id) for r in rows}
    return ctx.render("work.html", steps=steps, step=chosen, trips=rows, latest=latest, plate=plate or "")


@router.post("/trips/{trip_id}/confirm")
async def confirm(trip_id: Annotated[str, Path(max_length=36)], ctx: Officer) -> Response:
    data = await form(ctx)
    body, errors = validate(ConfirmIn, {k: data.get(k, "") for k in ("step", "decision", "note")})
    if body is None:
        raise PageError(422, "conflict", detail="; ".join(f"{k}: {v}" for k, v in errors.items()))
    with domain_errors(), ctx.svc.db.begin() as conn:
        changed = T.confirm(conn, ctx.svc.site, ctx.who, trip_id, body.step, body.decision, body.note)  # type: ignore[arg-type]
    ctx.svc.notify(changed)
    back = data.get("back")
    return redirect(f"/work?step={body.step}" if back == "work" else f"/trips/{trip_id}")


@router.get("/yard")
def yard(ctx: Yard) -> Response:
    yard_id = ctx.who.yard  # type: ignore[union-attr]
    if yard_id not in {y.id for y in ctx.svc.site.yards}:
        raise PageError(404, "not_found")
    with ctx.svc.db.begin() as conn:
        view = W.yard_view(conn, ctx.svc.site, yard_id)  # type: ignore[arg-type]
    return ctx.render("yard.html", yard=view)


def _guard(ctx: Ctx) -> None:
    if not Q.may_call(ctx.who):  # type: ignore[arg-type]
        raise PageError(403, "forbidden")


@router.get("/queue")
def queue(ctx: Guard, called: str | None = None) -> Response:
    _guard(ctx)
    with ctx.svc.db.begin() as conn:
        rows = Q.queue(conn, ctx.svc.site)
    return ctx.render("queue.html", rows=rows, day=Q.site_day(ctx.svc.site), called=called)


@router.post("/queue/call-next")
async def call_next(ctx: Guard) -> Response:
    _guard(ctx)
    await form(ctx)
    with domain_errors(), ctx.svc.db.begin() as conn:
        call = Q.call_next(conn, ctx.svc.site, ctx.who)  # type: ignore[arg-type]
    if call is None:
        return redirect("/queue?called=none")
    ctx.svc.announce(call["gate_id"], call)
    return redirect(f"/queue?called={call['number']}")
