"""The gate devices' side of the sync contract: push events, put snapshots, pull permits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from cloud.api.body import parse, read_body
from cloud.api.deps import Gate, Svc
from cloud.compiler import permits_since
from cloud.ingest import SHA256, Batch, ingest, store_snapshot
from cloud.store import schema
from sqlalchemy import select

router = APIRouter(prefix="/api/v1/gate", tags=["gate device"])


@router.post("/events", summary="Push a batch of events (gzip allowed); answers with the ids now stored")
async def push_events(request: Request, svc: Svc, who: Gate) -> dict[str, Any]:
    batch = await parse(request, Batch, svc.max_body_bytes)

    def work() -> dict[str, Any]:
        with svc.db.begin() as conn:
            return ingest(svc.db, conn, svc.site, who.gate_id or "", batch.events)

    result = await run_in_threadpool(work)
    if result["changed_gates"]:
        svc.notify(set(result["changed_gates"]))
    return {"stored": result["stored"], "new": result["new"]}


@router.put("/snapshots/{sha256}", status_code=204, summary="Upload a snapshot (content-addressed, idempotent)")
async def put_snapshot(sha256: Annotated[str, Path(pattern=SHA256)], request: Request, svc: Svc, who: Gate) -> Response:
    data = await read_body(request, svc.max_body_bytes)

    def work() -> bool:
        with svc.db.begin() as conn:
            return store_snapshot(svc.db, conn, who.gate_id or "", sha256, data)

    if not await run_in_threadpool(work):
        raise HTTPException(422, "body does not match its sha256")
    return Response(status_code=204)


@router.get("/snapshots/{sha256}", status_code=204, summary="Whether the service holds a snapshot")
def has_snapshot(sha256: str, svc: Svc, who: Gate) -> Response:
    with svc.db.begin() as conn:
        found = conn.execute(select(schema.snapshots.c.sha256).where(schema.snapshots.c.sha256 == sha256)).first()
    return Response(status_code=204 if found else 404)


@router.get("/permits", summary="Permit changes since a cursor (full snapshot when the cursor is 0 or too old)")
def pull_permits(svc: Svc, who: Gate, cursor: Annotated[int, Query(ge=0)] = 0,
                 limit: Annotated[int, Query(ge=1, le=20000)] = 5000) -> dict[str, Any]:
    with svc.db.begin() as conn:
        out = permits_since(conn, who.gate_id or "", cursor, limit)
        out["watchlist"] = [{"plate": r.plate, "reason": r.reason}
                            for r in conn.execute(select(schema.watchlist.c.plate, schema.watchlist.c.reason))]
        out["yard"] = _yard_of(svc, conn, who.gate_id or "")
    return out


def _yard_of(svc: Any, conn: Any, gate_id: str) -> dict[str, Any] | None:
    """The occupancy of the gate's yard as the service counts it (every gate's passages).

    An entry box counts only its own entries and an exit box only its own exits; without this figure
    an entry box would call its yard full after ``capacity`` entries, whatever left meanwhile.
    """
    gate = next((g for g in svc.site.gates if g.id == gate_id), None)
    if gate is None or not gate.yard:
        return None
    row = conn.execute(select(schema.yards.c.occupancy).where(schema.yards.c.id == gate.yard)).first()
    return {"id": gate.yard, "direction": gate.direction, "occupancy": int(row.occupancy) if row else 0}
