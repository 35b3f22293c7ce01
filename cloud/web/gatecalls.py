"""Queue calls for a gate without the live channel: it pulls the calls made after the last one it showed.

Device-token authenticated like the rest of /api/v1/gate/* (the gate's own calls only). The box side
(showing a pulled or published call on its LED board and loudspeaker) belongs to edge/sync.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cloud.api.deps import Gate, Svc
from cloud.queuecalls import calls_since

router = APIRouter(prefix="/api/v1/gate", tags=["gate device"])


@router.get("/queue-calls", summary="Queue calls for this gate made after `since` (oldest first)")
def queue_calls(svc: Svc, who: Gate, since: datetime | None = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    after = since or datetime(1970, 1, 1, tzinfo=timezone.utc)
    after = after.replace(tzinfo=timezone.utc) if after.tzinfo is None else after.astimezone(timezone.utc)
    with svc.db.begin() as conn:
        return {"calls": calls_since(conn, who.gate_id or "", after, limit)}
