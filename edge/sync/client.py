"""The box's side of the sync contract (shared/DESIGN.md, "Sync protocol"; cloud/api/gate.py).

- Events: unsent events go in local ``seq`` order, ``batch_size`` per gzip-compressed POST; only the ids
  the service answers in ``"stored"`` are marked sent. A crash or a lost answer between the service
  storing and the box marking only means the batch is sent again: the service stores each ``event_id``
  once and confirms it again. A batch the service refuses as a whole (422/413) is split in halves until
  the event it refuses is found; that event stays unsent (never lost), is remembered in ``sync_rejected``
  so that it cannot block the outbox, and is offered again every ``REJECTED_RETRY_S`` (all those due in
  one batch). More than ``MAX_REFUSED_PER_ROUND`` refusals in a round stop the push: that is a service
  refusing everything, not bad events.
- Snapshots: content-addressed; asked for first (GET: 204 held, 404 not), uploaded with PUT when not
  held, marked synced on 204.
- Permits: GET by cursor until ``more`` is false; each page is applied in one transaction with its
  cursor (``full`` replaces the cache); the central watchlist replaces the central entries of the local
  one (local entries stay).
- Queue calls (the border guard's "call next"): pulled after the permits, by the time of the newest call
  held, into the store, where the gate shows each once (``edge.sync.queuecalls``, ``edge.sync.callstore``).

Every request retries on connection errors, timeouts and 5xx with capped exponential backoff and full
jitter (tenacity), never on 4xx. 401/403 stop the round with a clear "token refused" state. What each
round did is written to the store (``edge.sync.state``) for ``gatectl sync status``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from tenacity import (Retrying, retry_if_exception_type, stop_after_attempt, stop_when_event_set,
                      wait_random_exponential)

from edge.config.models import SyncConfig
from edge.localstore import LocalStore, StoreError
from edge.localstore.outbox import Event
from edge.sync import state as S
from edge.sync.callstore import QueueCalls
from edge.sync.queuecalls import pull_queue_calls
from edge.sync.state import SyncState

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/gate/events"
SNAPSHOT_PATH = "/api/v1/gate/snapshots/{sha}"
PERMITS_PATH = "/api/v1/gate/permits"

REJECTED_RETRY_S = 3600.0  # an event the service refused is offered again after this long
MAX_REFUSED_PER_ROUND = 20  # more refusals than this in one round stop the push (see _send)
MAX_PULL_PAGES = 100_000  # guards against a service that never says more=false
USER_AGENT = "border-gate-edge/0.1"
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError)


# ------------------------------------------------------------------------------------------ errors


class SyncError(Exception):
    """A round could not finish; ``kind`` is the sync state it leaves (see edge.sync.state)."""

    kind = S.ERROR


class Unreachable(SyncError):
    """Connection errors, timeouts or 5xx answers, still after the per-request retries."""

    kind = S.UNREACHABLE


class TokenRefused(SyncError):
    """401/403: the gate token is wrong, expired, revoked or not a gate device's token."""

    kind = S.TOKEN_REFUSED


class Refused(SyncError):
    """Another 4xx, or an answer that does not follow the contract."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Stopped(SyncError):
    """The daemon is shutting down."""


class _ServerError(Exception):
    def __init__(self, response: requests.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


# ------------------------------------------------------------------------------------------ results


@dataclass
class PushResult:
    events_sent: int = 0  # marked sent (confirmed by the service) in this round
    events_offered: int = 0
    batches: int = 0
    unconfirmed: int = 0  # offered, answered 200, but not in "stored": stay unsent
    refused: int = 0  # events the service refused one by one (stay unsent, in sync_rejected)
    snapshots_uploaded: int = 0
    snapshots_already_held: int = 0
    snapshots_unreadable: int = 0  # file missing or not matching its sha256 on the box
    snapshots_refused: int = 0


@dataclass
class PullResult:
    yard_occupancy: int | None = None  # the gate's yard as the service counts it, plus this box's unsent
    pages: int = 0
    full: bool = False
    upserts: int = 0
    deletes: int = 0
    rejected_permits: int = 0
    cursor: int | None = None
    watchlist: int | None = None  # central entries after the pull
    queue_calls: int = 0  # queue calls new to the box


@dataclass
class SyncResult:
    ok: bool
    push: PushResult
    pull: PullResult
    error: str | None = None
    kind: str = S.OK
    duration_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "state": self.kind, "error": self.error, "errors": self.errors,
                "duration_s": round(self.duration_s, 3), "push": asdict(self.push), "pull": asdict(self.pull)}


# ------------------------------------------------------------------------------------------ client


class SyncClient:
    def __init__(self, cfg: SyncConfig, store: LocalStore, site_id: str, gate_id: str, token: str, *,
                 stop: threading.Event | None = None, page_limit: int = 5000):
        if not cfg.endpoint:
            raise ValueError("sync.endpoint is not set: this box is configured offline")
        if not token or any(c.isspace() for c in token):
            raise ValueError("the gate token is empty or contains whitespace")
        self.cfg = cfg
        self.store = store
        self.site_id = site_id
        self.gate_id = gate_id
        self.base = cfg.endpoint.rstrip("/")
        self.state = SyncState(store.db)
        self.calls = QueueCalls(store.db)
        self.stop = stop or threading.Event()
        self.page_limit = page_limit
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json",
                                     "User-Agent": f"{USER_AGENT} ({site_id}/{gate_id})"})
        if cfg.ca_file is not None:
            self.session.verify = str(cfg.ca_file)
        self._lock = threading.Lock()  # one round at a time per client
        self.push = PushResult()
        self.pull = PullResult()

    def close(self) -> None:
        self.session.close()

    # -------------------------------------------------------------- HTTP with retries

    def _request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """One request with retries on transient failures; 401/403 raise TokenRefused. Any other answer
        is returned for the caller to judge."""
        url = self.base + path

        def once() -> requests.Response:
            if self.stop.is_set():
                raise Stopped("stopping")
            r = self.session.request(method, url, timeout=self.cfg.timeout_s, **kw)
            if r.status_code >= 500:
                raise _ServerError(r)
            return r

        retrying = Retrying(
            stop=stop_after_attempt(self.cfg.retry_attempts) | stop_when_event_set(self.stop),
            wait=wait_random_exponential(multiplier=min(0.5, self.cfg.retry_max_s), max=self.cfg.retry_max_s),
            retry=retry_if_exception_type((*TRANSIENT_ERRORS, _ServerError)),
            sleep=self.stop.wait,
            reraise=True,
            before_sleep=lambda rs: log.info("sync_retry", extra={
                "method": method, "path": path, "attempt": rs.attempt_number,
                "error": _describe(rs.outcome.exception() if rs.outcome else None)}),
        )
        try:
            r = retrying(once)
        except (*TRANSIENT_ERRORS, _ServerError) as exc:
            if self.stop.is_set():
                raise Stopped("stopping") from exc
            raise Unreachable(f"{method} {path}: {_describe(exc)} (after {self.cfg.retry_attempts} tries)") from exc
        except requests.RequestException as exc:  # invalid URL, TLS misconfiguration and the like
            raise SyncError(f"{method} {path}: {_describe(exc)}") from exc
        if r.status_code in (401, 403):
            detail = _detail(r)
            raise TokenRefused(
                f"the central service refused the gate token (HTTP {r.status_code}: {detail}); issue a new one "
                f"(gate-cloud gate-token {self.gate_id}, or the admin API), install it as the gate-token "
                "credential and restart gate-daemon")
        return r

    # -------------------------------------------------------------- events

    def push_events(self) -> PushResult:
        """Push every unsent event (in seq order, ``batch_size`` at a time); mark sent only what the
        service confirmed. Returns (and keeps in ``self.push``) what this call did."""
        res = self.push = PushResult()
        # Events recorded during the round wait for the next one, so that a busy gate cannot keep a
        # round (and the permits pull behind it) going for ever.
        upto = int(self.store.db.query("SELECT coalesce(max(seq), 0) FROM events")[0][0])
        after = 0
        while not self.stop.is_set():
            page = [e for e in self.store.outbox.unsent(self.cfg.batch_size, after=after) if e.seq <= upto]
            if not page:
                break
            after = page[-1].seq
            refused = self.state.rejected_among([e.event_id for e in page])
            batch = [e for e in page if e.event_id not in refused]
            if batch:
                self._push_batch(batch, res)
        due = self.state.rejected_due(REJECTED_RETRY_S, limit=self.cfg.batch_size)
        if due and not self.stop.is_set():
            marks = ",".join("?" * len(due))
            rows = self.store.db.query(f"SELECT * FROM events WHERE sent_at IS NULL AND event_id IN ({marks})"
                                       " ORDER BY seq", tuple(due))
            gone = set(due) - {r["event_id"] for r in rows}
            if gone:
                self.state.unreject(sorted(gone))  # sent meanwhile (e.g. by gatectl) or gone
            if rows:  # offered again, together: if the service now takes them, one request does it
                self._push_batch([Event.from_row(r) for r in rows], res, retrying_refused=True)
        return res

    def _push_batch(self, batch: list[Event], res: PushResult, *, retrying_refused: bool = False) -> None:
        res.events_offered += len(batch)
        stored = self._send(batch, res)
        ids = {e.event_id for e in batch}
        confirmed = [i for i in stored if i in ids]
        res.unconfirmed += len(ids) - len(set(confirmed))
        if confirmed:
            res.events_sent += self.store.outbox.mark_sent(confirmed)
            if retrying_refused:
                self.state.unreject(confirmed)

    def _send(self, batch: list[Event], res: PushResult) -> list[str]:
        """POST one batch; return the ids the service says it holds. Splits a refused batch."""
        body = json.dumps({"events": [_wire(e) for e in batch]}, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode()
        r = self._request("POST", EVENTS_PATH, data=gzip.compress(body, compresslevel=6, mtime=0),
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        res.batches += 1
        if r.status_code == 200:
            try:
                stored = r.json()["stored"]
                if not isinstance(stored, list) or not all(isinstance(i, str) for i in stored):
                    raise TypeError("stored is not a list of ids")
            except (ValueError, KeyError, TypeError) as exc:
                raise Refused(f"POST {EVENTS_PATH}: answer does not follow the contract ({exc})", 200) from exc
            return stored
        if r.status_code in (413, 422):
            if len(batch) > 1:
                mid = len(batch) // 2
                return self._send(batch[:mid], res) + self._send(batch[mid:], res)
            e = batch[0]
            if res.refused >= MAX_REFUSED_PER_ROUND:
                # So many refusals look like a service that refuses everything (a bug, a version skew),
                # not like bad events: stop here instead of setting the whole outbox aside.
                raise Refused(f"POST {EVENTS_PATH}: the service refused {res.refused} events one by one in this "
                              f"round (last: HTTP {r.status_code}: {_detail(r)}); push stopped until the next round",
                              r.status_code)
            res.refused += 1
            self.state.reject(e.event_id, e.seq, r.status_code, _detail(r))
            log.error("sync_event_refused", extra={"event_id": e.event_id, "seq": e.seq, "status": r.status_code,
                                                   "error": _detail(r)})
            return []
        raise Refused(f"POST {EVENTS_PATH}: HTTP {r.status_code}: {_detail(r)}", r.status_code)

    # -------------------------------------------------------------- snapshots

    def push_snapshots(self) -> PushResult:
        """Upload every unsynced snapshot the service does not hold yet; mark synced on 204."""
        res = self.push
        skip = 0  # unsynced ones at the head that cannot be synced this round
        while not self.stop.is_set():
            shas = self.store.snapshots.unsynced(100, skip=skip)
            if not shas:
                break
            for sha in shas:
                if self.stop.is_set():
                    break
                if self._push_snapshot(sha, res):
                    self.store.snapshots.mark_synced([sha])
                else:
                    skip += 1
        return res

    def _push_snapshot(self, sha: str, res: PushResult) -> bool:
        try:
            data = self.store.snapshots.read(sha)
        except OSError as exc:
            res.snapshots_unreadable += 1
            log.error("snapshot_unreadable", extra={"sha256": sha, "error": str(exc)})
            return False
        if hashlib.sha256(data).hexdigest() != sha:
            res.snapshots_unreadable += 1
            log.error("snapshot_damaged", extra={"sha256": sha, "path": str(self.store.snapshots.path_of(sha))})
            return False
        path = SNAPSHOT_PATH.format(sha=sha)
        r = self._request("GET", path)
        if r.status_code == 204:
            res.snapshots_already_held += 1
            return True
        if r.status_code != 404:
            raise Refused(f"GET {path}: HTTP {r.status_code}: {_detail(r)}", r.status_code)
        r = self._request("PUT", path, data=data, headers={"Content-Type": "application/octet-stream"})
        if r.status_code in (200, 201, 204):
            res.snapshots_uploaded += 1
            return True
        if r.status_code in (413, 422):
            res.snapshots_refused += 1
            log.error("snapshot_refused", extra={"sha256": sha, "status": r.status_code, "error": _detail(r)})
            return False
        raise Refused(f"PUT {path}: HTTP {r.status_code}: {_detail(r)}", r.status_code)

    # -------------------------------------------------------------- permits

    def pull_permits(self) -> PullResult:
        """Pull permit pages from the local cursor until ``more`` is false; replace the central watchlist."""
        res = self.pull = PullResult()
        watchlist: list[Any] | None = None
        yard: dict[str, Any] | None = None
        races = 0
        while not self.stop.is_set():
            cursor = self.store.permits.cursor()
            r = self._request("GET", PERMITS_PATH, params={"cursor": cursor, "limit": self.page_limit})
            if r.status_code != 200:
                raise Refused(f"GET {PERMITS_PATH}: HTTP {r.status_code}: {_detail(r)}", r.status_code)
            page = _permits_page(r)
            res.pages += 1
            watchlist = page["watchlist"]
            yard = page["yard"]
            unchanged = (not page["full"] and not page["upserts"] and not page["deletes"]
                         and page["cursor"] == cursor)
            if not unchanged:
                try:
                    applied = self.store.permits.apply_delta(page["upserts"], page["deletes"], page["cursor"],
                                                             full=page["full"])
                except ValueError:
                    # The cursor moved on under us: another process (gatectl sync now beside the daemon)
                    # applied a newer page meanwhile. Nothing was applied; ask again from the new cursor.
                    races += 1
                    if races > 5:
                        raise
                    continue
                res.full = res.full or page["full"]
                res.upserts += applied.applied
                res.deletes += applied.deleted
                res.rejected_permits += len(applied.rejected)
            res.cursor = page["cursor"]
            if not page["more"]:
                break
            if res.pages >= MAX_PULL_PAGES:
                raise Refused(f"GET {PERMITS_PATH}: more than {MAX_PULL_PAGES} pages; the service keeps saying more")
        if watchlist is not None and not self.stop.is_set():
            res.watchlist = self.store.watchlist.replace_central(watchlist).central
        if yard is not None and not self.stop.is_set():
            res.yard_occupancy = self.store.state.adopt_central_occupancy(yard["id"], yard["occupancy"],
                                                                         yard["direction"])
        return res

    def pull_queue_calls(self) -> PullResult:
        """Pull the queue calls made since the last one held (the gate runtime shows them)."""
        self.pull.queue_calls += pull_queue_calls(self)
        return self.pull

    # -------------------------------------------------------------- one round

    def sync_once(self) -> SyncResult:
        """Pull permits, pull queue calls, push events, push snapshots; record the outcome in the store. Never raises for
        network, service or store trouble: the result (and ``gatectl sync status``) says what happened.

        Permits come first: they are small and decide who may pass; queue calls next, so that a call does
        not wait behind a large backlog of events. A failure of one part that leaves
        the link usable (a 4xx on one call) does not stop the others; an unreachable service or a
        refused token ends the round.
        """
        with self._lock:
            t0 = time.monotonic()
            self.push, self.pull = PushResult(), PullResult()
            errors: list[tuple[str, str]] = []
            try:
                self.state.attempt()
            except StoreError as exc:
                return self._failed(t0, S.ERROR, f"store: {exc}", [])
            for part in (self.pull_permits, self.pull_queue_calls, self.push_events, self.push_snapshots):
                try:
                    part()
                except Stopped:
                    return SyncResult(False, self.push, self.pull, error="stopping", kind="stopped",
                                      duration_s=time.monotonic() - t0, errors=["stopping"])
                except (Unreachable, TokenRefused) as exc:
                    errors.append((exc.kind, str(exc)))
                    break
                except (SyncError, ValueError) as exc:
                    errors.append((getattr(exc, "kind", S.ERROR), str(exc)))
                except StoreError as exc:
                    errors.append((S.ERROR, f"store: {exc}"))
                    break
            push, pull = asdict(self.push), asdict(self.pull)
            if errors:
                kind, message = errors[0]
                return self._failed(t0, kind, message, [m for _, m in errors], push, pull)
            try:
                self.state.success(push, pull)
            except StoreError as exc:
                return self._failed(t0, S.ERROR, f"store: {exc}", [])
            result = SyncResult(True, self.push, self.pull, duration_s=time.monotonic() - t0)
            log.debug("sync_done", extra=result.as_dict())
            return result

    def _failed(self, t0: float, kind: str, message: str, messages: list[str],
                push: dict[str, Any] | None = None, pull: dict[str, Any] | None = None) -> SyncResult:
        if kind != S.ERROR or not message.startswith("store:"):
            try:
                self.state.failure(kind, message, push=push, pull=pull)
            except StoreError as exc:
                log.error("sync_state_not_recorded", extra={"error": str(exc)})
        log.warning("sync_failed", extra={"kind": kind, "error": message})
        return SyncResult(False, self.push, self.pull, error=message, kind=kind,
                          duration_s=time.monotonic() - t0, errors=messages or [message])


# ------------------------------------------------------------------------------------------ helpers


def _wire(e: Event) -> dict[str, Any]:
    return {"event_id": e.event_id, "seq": e.seq, "ts": e.ts, "type": e.type, "plate": e.plate,
            "reason": e.reason, "payload": e.payload, "snapshot": e.snapshot}


def _permits_page(r: requests.Response) -> dict[str, Any]:
    try:
        doc = r.json()
        page = {"full": doc["full"], "cursor": doc["cursor"], "more": doc["more"], "upserts": doc["upserts"],
                "deletes": doc["deletes"], "watchlist": doc.get("watchlist", []), "yard": _yard(doc.get("yard"))}
        if not (isinstance(page["full"], bool) and isinstance(page["more"], bool)
                and isinstance(page["cursor"], int) and page["cursor"] >= 0
                and isinstance(page["upserts"], list) and isinstance(page["deletes"], list)
                and all(isinstance(d, str) for d in page["deletes"]) and isinstance(page["watchlist"], list)):
            raise TypeError("wrong field types")
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"GET {PERMITS_PATH}: answer does not follow the contract ({exc})", r.status_code) from exc
    return page


def _yard(doc: Any) -> dict[str, Any] | None:
    """The optional yard figure of a permits page (older services send none)."""
    if doc is None:
        return None
    if not (isinstance(doc, dict) and isinstance(doc.get("id"), str) and doc.get("direction") in ("in", "out")
            and type(doc.get("occupancy")) is int and 0 <= doc["occupancy"] < 1_000_000):
        raise TypeError("wrong yard figure")
    return {"id": doc["id"], "direction": doc["direction"], "occupancy": doc["occupancy"]}


def _detail(r: requests.Response) -> str:
    try:
        doc = r.json()
        detail = doc.get("detail", doc) if isinstance(doc, dict) else doc
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    except ValueError:
        text = r.text
    return (text or r.reason or "").strip()[:500]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, _ServerError):
        return f"HTTP {exc.response.status_code}: {_detail(exc.response)}"
    if isinstance(exc, requests.Timeout):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({type(exc).__name__}: {str(exc)[:200]})"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
