"""Pulling the border guard's queue calls (``GET /api/v1/gate/queue-calls?since=``, cloud/web/gatecalls.py).

The cursor is the service's ``called_at`` of the newest call the box holds. Each pull asks from
``OVERLAP_S`` before it, because a call is stamped before it commits and two service instances may commit
out of stamp order: a call stamped just before the cursor can still appear after the box passed it. The
repeats the overlap brings back are dropped by the call's identity in the store (edge/sync/callstore.py).
A box without a cursor (new, or its store quarantined) asks only for the last ``MAX_AGE_S``: older calls
would not be shown anyway.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import requests

from edge.sync.callstore import MAX_AGE_S, QueueCall, as_utc

if TYPE_CHECKING:
    from edge.sync.client import SyncClient

log = logging.getLogger(__name__)

QUEUE_CALLS_PATH = "/api/v1/gate/queue-calls"
OVERLAP_S = 120.0
PAGE_LIMIT = 500  # the service's maximum
MAX_PAGES = 1000  # guards against a service that keeps answering full pages


def pull_queue_calls(client: "SyncClient") -> int:
    """Pull the calls made since the cursor (less the overlap), page by page; return how many were new."""
    from edge.sync.client import Refused, _detail  # the client imports this module

    cursor = client.calls.cursor()
    since = (as_utc(cursor) - timedelta(seconds=OVERLAP_S) if cursor
             else datetime.now(timezone.utc) - timedelta(seconds=MAX_AGE_S))
    new = 0
    for _ in range(MAX_PAGES):
        if client.stop.is_set():
            break
        r = client._request("GET", QUEUE_CALLS_PATH, params={"since": since.isoformat(), "limit": PAGE_LIMIT})
        if r.status_code != 200:
            raise Refused(f"GET {QUEUE_CALLS_PATH}: HTTP {r.status_code}: {_detail(r)}", r.status_code)
        try:
            page = _page(r)
        except ValueError as exc:
            raise Refused(f"GET {QUEUE_CALLS_PATH}: answer does not follow the contract ({exc})", 200) from exc
        got = client.calls.receive(page)
        if got:
            log.info("queue_calls_received", extra={"new": got, "numbers": [c.number for c in page][-20:]})
        new += got
        if len(page) < PAGE_LIMIT:
            break
        # Full page: go on from its newest call. A microsecond back, so that calls sharing that instant
        # are not lost at the page boundary (the repeats are dropped by the store).
        following = max(as_utc(c.called_at) for c in page) - timedelta(microseconds=1)
        if following <= since:
            log.warning("queue_calls_page_of_one_instant", extra={"since": since.isoformat()})
            break
        since = following
    return new


def _page(r: requests.Response) -> list[QueueCall]:
    doc: Any = r.json()
    if not isinstance(doc, dict) or not isinstance(doc.get("calls"), list):
        raise ValueError("no list of calls")
    return [QueueCall.from_wire(c) for c in doc["calls"]]
