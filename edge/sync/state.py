"""What the sync has done, kept in the box database so that any process can read it.

The daemon's sync thread and ``gatectl sync now`` both write here; ``gatectl sync status`` reads it from
another process. Each field is its own ``sync_state`` row (written with an upsert), so two writers never
undo each other's fields. Events the central service refused are kept in ``sync_rejected``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from edge.localstore.db import Database

# sync.state values
OK, ERROR, UNREACHABLE, TOKEN_REFUSED = "ok", "error", "unreachable", "token_refused"
NO_TOKEN, NEVER = "no_token", "never"

_PREFIX = "sync."


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


class SyncState:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ raw fields

    def _set(self, values: dict[str, Any]) -> None:
        rows = [(_PREFIX + k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str))
                for k, v in values.items()]
        with self.db.transaction() as conn:
            conn.executemany("INSERT INTO sync_state (key, value) VALUES (?, ?)"
                             " ON CONFLICT(key) DO UPDATE SET value = excluded.value", rows)

    def _all(self) -> dict[str, str]:
        rows = self.db.query("SELECT key, value FROM sync_state WHERE key LIKE 'sync.%'")
        return {r[0][len(_PREFIX):]: r[1] for r in rows}

    @staticmethod
    def _json(raw: str | None) -> Any:
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    # ------------------------------------------------------------------ writers

    def attempt(self, now: float | None = None) -> None:
        self._set({"last_attempt": _iso(now or time.time())})

    def success(self, push: dict[str, Any], pull: dict[str, Any], now: float | None = None) -> None:
        at = _iso(now or time.time())
        self._set({"state": OK, "last_success": at, "last_push": push | {"at": at}, "last_pull": pull | {"at": at}})

    def failure(self, kind: str, message: str, *, push: dict[str, Any] | None = None,
                pull: dict[str, Any] | None = None, now: float | None = None) -> None:
        at = _iso(now or time.time())
        values: dict[str, Any] = {"state": kind, "last_error": {"at": at, "kind": kind, "message": message[:1000]}}
        if push is not None:
            values["last_push"] = push | {"at": at}
        if pull is not None:
            values["last_pull"] = pull | {"at": at}
        self._set(values)

    def set_state(self, kind: str, message: str | None = None) -> None:
        """A state found without a sync round (e.g. no token at start)."""
        if message is None:
            self._set({"state": kind})
        else:
            self.failure(kind, message)

    # ------------------------------------------------------------------ readers

    def last_success_epoch(self) -> float | None:
        rows = self.db.query("SELECT value FROM sync_state WHERE key = 'sync.last_success'")
        return _epoch(rows[0][0]) if rows else None

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the last successful round (-1 when never)."""
        t = self.last_success_epoch()
        return -1.0 if t is None else max(0.0, (now or time.time()) - t)

    def status(self) -> dict[str, Any]:
        raw = self._all()
        last_success = raw.get("last_success")
        t = _epoch(last_success)
        return {
            "state": raw.get("state", NEVER),
            "last_success": last_success,
            "sync_age_s": None if t is None else round(max(0.0, time.time() - t), 1),
            "last_attempt": raw.get("last_attempt"),
            "last_error": self._json(raw.get("last_error")),
            "last_push": self._json(raw.get("last_push")),
            "last_pull": self._json(raw.get("last_pull")),
            "rejected_events": self.rejected_count(),
        }

    # ------------------------------------------------------------------ refused events

    def rejected_among(self, event_ids: list[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(event_ids), 500):
            chunk = event_ids[i:i + 500]
            rows = self.db.query(f"SELECT event_id FROM sync_rejected WHERE event_id IN ({','.join('?' * len(chunk))})",
                                 tuple(chunk))
            out |= {r[0] for r in rows}
        return out

    def reject(self, event_id: str, seq: int, status: int, error: str, now: float | None = None) -> None:
        now = now or time.time()
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO sync_rejected (event_id, seq, status, error, first_at, last_at)"
                         " VALUES (?,?,?,?,?,?)"
                         " ON CONFLICT(event_id) DO UPDATE SET status = excluded.status, error = excluded.error,"
                         " last_at = excluded.last_at, tries = tries + 1",
                         (event_id, seq, status, error[:2000], now, now))

    def unreject(self, event_ids: list[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM sync_rejected WHERE event_id = ?", [(i,) for i in event_ids])

    def rejected_due(self, older_than_s: float, limit: int = 50, now: float | None = None) -> list[str]:
        """Refused events last offered more than ``older_than_s`` ago (to offer again, one by one)."""
        rows = self.db.query("SELECT event_id FROM sync_rejected WHERE last_at < ? ORDER BY seq LIMIT ?",
                             ((now or time.time()) - older_than_s, limit))
        return [r[0] for r in rows]

    def rejected(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM sync_rejected ORDER BY seq LIMIT ?", (limit,))
        return [{"event_id": r["event_id"], "seq": r["seq"], "status": r["status"], "error": r["error"],
                 "first_at": _iso(r["first_at"]), "last_at": _iso(r["last_at"]), "tries": r["tries"]} for r in rows]

    def rejected_count(self) -> int:
        return int(self.db.query("SELECT count(*) FROM sync_rejected")[0][0])
