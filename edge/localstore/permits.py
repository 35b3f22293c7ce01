"""Permits cache (pulled from the central service by cursor) and the watchlist."""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.localstore import staged
from edge.localstore.db import Database
from edge.localstore.outbox import insert_event
from edge.plate.text import InvalidPlate, normalize, plate_text, skeleton


#: ``json.dumps(info, ensure_ascii=False)`` without building an encoder per permit.
_INFO_JSON = json.JSONEncoder(ensure_ascii=False)
#: Sort key of an insert row: its skeleton. Rows written in the order of the permits' one index keep
#: its page writes local (a large delta commits in about half the time); the sort is stable, so
#: permits of one plate keep their order (and lookups theirs).
_SKELETON_OF = itemgetter(2)
#: Deltas at least this large take the staged path (:mod:`edge.localstore.staged`); the service's
#: pages are smaller, a full snapshot or a bulk load is not.
STAGED_MIN_ROWS = 20_000

_COLUMNS = ("permit_id, plate, skeleton, trip_id, flow, direction, valid_from, valid_until, max_passes, company,"
            " info")
_ON_CONFLICT = (" ON CONFLICT(permit_id) DO UPDATE SET plate=excluded.plate, skeleton=excluded.skeleton,"
                " trip_id=excluded.trip_id, flow=excluded.flow, direction=excluded.direction,"
                " valid_from=excluded.valid_from, valid_until=excluded.valid_until,"
                " max_passes=excluded.max_passes, company=excluded.company, info=excluded.info")
_UPSERT_VALUES = f"INSERT INTO permits ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)" + _ON_CONFLICT
# "WHERE true": without it SQLite would read ON CONFLICT as a join constraint of the FROM clause.
_UPSERT_STAGED = (f"INSERT INTO permits ({_COLUMNS}) SELECT {_COLUMNS} FROM {{schema}}.s WHERE true"
                  " ORDER BY rowid" + _ON_CONFLICT)
_STAGE_TABLE = f"CREATE TABLE s ({_COLUMNS})"
_STAGE_INSERT = "INSERT INTO s VALUES (?,?,?,?,?,?,?,?,?,?,?)"


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """100,000 new row tuples would set off the cyclic garbage collector again and again (a third of
    the validation time), though none of them can be part of a cycle."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


_FIELDS = frozenset(("permit_id", "plate", "trip_id", "flow", "direction", "valid_from", "valid_until",
                     "max_passes", "company", "info"))
_REQUIRED = frozenset(("permit_id", "plate", "trip_id", "flow", "direction", "valid_from", "valid_until"))


def _fast_row(raw: Any) -> tuple[Any, ...] | None:
    """The row of a plainly well-formed permit as the service sends it, or None to take the slow path.

    Accepts exactly what :class:`PermitIn` accepts for this common shape (ISO strings with a zone,
    plain types), so a large delta skips pydantic; anything else, valid or not, goes through
    :class:`PermitIn`, which also words the errors.
    """
    if type(raw) is not dict or not raw.keys() <= _FIELDS or not _REQUIRED <= raw.keys():
        return None
    pid, trip, flow, direction = raw["permit_id"], raw["trip_id"], raw["flow"], raw["direction"]
    if not (type(pid) is str and 0 < len(pid) <= 64 and type(trip) is str and 0 < len(trip) <= 64
            and flow in ("export", "import") and direction in ("in", "out")):
        return None
    max_passes = raw.get("max_passes", 1)
    company = raw.get("company")
    info = raw.get("info", {})
    if type(max_passes) is not int or not 1 <= max_passes <= 1000 or type(info) is not dict:
        return None
    if company is not None and (type(company) is not str or len(company) > 200):
        return None
    try:
        start, end = datetime.fromisoformat(raw["valid_from"]), datetime.fromisoformat(raw["valid_until"])
        plate = plate_text(raw["plate"]) if type(raw["plate"]) is str and len(raw["plate"]) <= 64 else None
    except (TypeError, ValueError):
        return None
    if plate is None or start.tzinfo is None or end.tzinfo is None or end <= start:
        return None
    try:
        info_json = orjson.dumps(info).decode()
    except orjson.JSONEncodeError:
        return None
    return (pid, plate, skeleton(plate), trip, flow, direction, start.timestamp(), end.timestamp(), max_passes,
            company, info_json)


class PermitIn(BaseModel):
    """A permit as the central service sends it; validated at the boundary before it is cached."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permit_id: str = Field(min_length=1, max_length=64, description="Unique permit id")
    plate: str = Field(min_length=1, max_length=64, description="Plate as declared")
    trip_id: str = Field(min_length=1, max_length=64, description="Trip the permit belongs to")
    flow: Literal["export", "import"] = Field(description="Trip flow")
    direction: Literal["in", "out"] = Field(description="Direction of travel the permit allows at this gate")
    valid_from: datetime = Field(description="Start of validity (timezone-aware)")
    valid_until: datetime = Field(description="End of validity (timezone-aware)")
    max_passes: int = Field(default=1, ge=1, le=1000, description="Passages allowed at this gate")
    company: str | None = Field(default=None, max_length=200, description="Declaring company")
    info: dict[str, Any] = Field(default_factory=dict, description="Display data (goods, driver)")

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str) -> str:
        try:
            return normalize(v).text
        except InvalidPlate as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("time must carry a timezone")
        return v

    @model_validator(mode="after")
    def _window(self) -> "PermitIn":
        if self.valid_until <= self.valid_from:
            raise ValueError(f"impossible validity window: {self.valid_from} .. {self.valid_until}")
        return self


@dataclass(frozen=True)
class Permit:
    permit_id: str
    plate: str
    trip_id: str
    flow: str
    direction: str
    valid_from: float
    valid_until: float
    max_passes: int
    company: str | None
    info: dict[str, Any]

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> "Permit":
        return cls(r["permit_id"], r["plate"], r["trip_id"], r["flow"], r["direction"], r["valid_from"],
                   r["valid_until"], r["max_passes"], r["company"], json.loads(r["info"]))

    def as_dict(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        for k in ("valid_from", "valid_until"):
            d[k] = datetime.fromtimestamp(d[k], timezone.utc).isoformat()
        return d


@dataclass(frozen=True)
class DeltaResult:
    applied: int
    deleted: int
    rejected: list[dict[str, str]]
    cursor: int


class Permits:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ sync side

    def cursor(self) -> int:
        rows = self.db.query("SELECT value FROM sync_state WHERE key = 'permits_cursor'")
        return int(rows[0][0]) if rows else 0

    def apply_delta(self, upserts: list[dict[str, Any]], deletes: list[str], cursor: int, *,
                    full: bool = False) -> DeltaResult:
        """Apply one delta (or a full snapshot) and advance the cursor, all in one transaction.

        Invalid permits are refused one by one (recorded as a fault event naming them); the rest apply.
        """
        if len(upserts) >= STAGED_MIN_ROWS and staged.available(self.db.conn):
            return self._apply_staged(upserts, deletes, cursor, full)
        rows: list[tuple[Any, ...]] = []
        rejected: list[dict[str, str]] = []
        with _no_cyclic_gc():
            self._validate(upserts, rows, rejected)
        if len({r[0] for r in rows}) == len(rows):
            rows.sort(key=_SKELETON_OF)
        # Permits can always be pulled again, and the cursor commits with them: no fsync needed here
        # (unless a fault event about refused permits commits with them: events are always fsynced).
        with self.db.transaction(durable=not rejected) as conn:
            deleted = self._begin_delta(conn, deletes, cursor, full)
            conn.executemany(_UPSERT_VALUES, rows)
            self._end_delta(conn, cursor, rejected)
        return DeltaResult(len(rows), deleted, rejected, cursor)

    def _apply_staged(self, upserts: list[dict[str, Any]], deletes: list[str], cursor: int,
                      full: bool) -> DeltaResult:
        """:meth:`apply_delta` for a large delta: validation of each chunk overlaps the writing of the
        one before (see :mod:`edge.localstore.staged`).

        The whole delta, with any fault event about refused permits, commits without an fsync: it is
        atomic with the cursor, so a power cut takes the box back to before it, the next pull brings
        it (and its refusals) again, and the checkpointer makes it durable within a second anyway.
        """
        rejected: list[dict[str, str]] = []
        applied = 0
        # Distinct permit ids (the usual case): the outcome does not depend on the order.
        ids = {r.get("permit_id") if type(r) is dict and type(r.get("permit_id")) is str else None for r in upserts}
        distinct = len(ids) == len(upserts) and None not in ids
        with self.db.lock, staged.memory_schemas(self.db.conn, "permits_stage") as schemas, \
                self.db.transaction(durable=False) as conn, _no_cyclic_gc():
            deleted = self._begin_delta(conn, deletes, cursor, full)
            writer = staged.StagedWriter(conn, schemas, _UPSERT_STAGED)
            try:
                for part in staged.chunks(len(upserts), len(schemas)):
                    rows: list[tuple[Any, ...]] = []
                    self._validate(upserts[part], rows, rejected)
                    if distinct:
                        rows.sort(key=_SKELETON_OF)
                    applied += len(rows)
                    writer.put(staged.serialise(_STAGE_TABLE, _STAGE_INSERT, rows))
            except BaseException:
                writer.close(raise_error=False)  # the conn is free again before the transaction rolls back
                raise
            writer.close()
            self._end_delta(conn, cursor, rejected)
        return DeltaResult(applied, deleted, rejected, cursor)

    def _begin_delta(self, conn: sqlite3.Connection, deletes: list[str], cursor: int, full: bool) -> int:
        """Check the cursor and apply the deletions (all permits for a full snapshot); the count deleted."""
        if cursor < self._cursor_in(conn) and not full:
            raise ValueError(f"permit cursor would go back from {self._cursor_in(conn)} to {cursor}")
        if full:
            return int(conn.execute("DELETE FROM permits").rowcount)
        return sum(conn.execute("DELETE FROM permits WHERE permit_id = ?", (d,)).rowcount for d in deletes)

    @staticmethod
    def _end_delta(conn: sqlite3.Connection, cursor: int, rejected: list[dict[str, str]]) -> None:
        conn.execute("INSERT INTO sync_state (key, value) VALUES ('permits_cursor', ?)"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(cursor),))
        if rejected:
            insert_event(conn, "fault", reason="permit_rejected",
                         payload={"count": len(rejected), "permits": rejected[:50]})

    @staticmethod
    def _validate(upserts: list[dict[str, Any]], rows: list[tuple[Any, ...]], rejected: list[dict[str, str]]) -> None:
        """The row of each valid permit into ``rows``; each invalid one, with its errors, into ``rejected``."""
        for raw in upserts:
            fast = _fast_row(raw)
            if fast is not None:
                rows.append(fast)
                continue
            try:
                p = PermitIn.model_validate(raw)
            except ValidationError as exc:
                pid = str(raw.get("permit_id", "?")) if isinstance(raw, dict) else "?"
                rejected.append({"permit_id": pid[:64], "error": "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'permit'}: {e['msg']}" for e in exc.errors())})
                continue
            rows.append((p.permit_id, p.plate, skeleton(p.plate), p.trip_id, p.flow, p.direction,
                         p.valid_from.timestamp(), p.valid_until.timestamp(), p.max_passes, p.company,
                         _INFO_JSON.encode(p.info)))

    @staticmethod
    def _cursor_in(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM sync_state WHERE key = 'permits_cursor'").fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ lookups

    def by_plate(self, plate: str) -> list[Permit]:
        # Through the skeleton index (an exact plate is one of its skeleton's few rows): one index
        # fewer to maintain on every permit write.
        rows = self.db.query("SELECT * FROM permits WHERE skeleton = ? AND plate = ?", (skeleton(plate), plate))
        return [Permit.from_row(r) for r in rows]

    def by_skeleton(self, skel: str) -> list[Permit]:
        return [Permit.from_row(r) for r in self.db.query("SELECT * FROM permits WHERE skeleton = ?", (skel,))]

    def count(self) -> int:
        return int(self.db.query("SELECT count(*) FROM permits")[0][0])


@dataclass(frozen=True)
class WatchlistResult:
    central: int
    added_or_changed: int
    removed: int
    invalid: int


class Watchlist:
    def __init__(self, db: Database):
        self.db = db

    def add(self, plate: str, reason: str) -> str:
        """Add (or re-reason) a local entry; a local entry is kept whatever the central service lists."""
        text = normalize(plate).text
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO watchlist (plate, skeleton, reason, added_at, source) VALUES (?,?,?,?,'local')"
                " ON CONFLICT(plate) DO UPDATE SET reason = excluded.reason, source = 'local'",
                (text, skeleton(text), reason, datetime.now(timezone.utc).isoformat()),
            )
        return text

    def replace_central(self, entries: list[dict[str, Any]]) -> WatchlistResult:
        """Make the central entries exactly ``entries`` ({plate, reason}), in one transaction.

        Entries added locally (``gatectl watchlist add``) are left as they are, and a plate listed both
        locally and centrally keeps its local entry. Plates that do not normalise are skipped and counted.
        """
        wanted: dict[str, str] = {}
        invalid = 0
        for e in entries:
            try:
                text = normalize(str(e["plate"])).text
                reason = str(e.get("reason") or "")[:500] or "central watchlist"
            except (InvalidPlate, KeyError, TypeError):
                invalid += 1
                continue
            wanted[text] = reason
        now = datetime.now(timezone.utc).isoformat()
        with self.db.transaction() as conn:
            have = {r[0]: r[1] for r in conn.execute("SELECT plate, reason FROM watchlist WHERE source = 'central'")}
            local = {r[0] for r in conn.execute("SELECT plate FROM watchlist WHERE source = 'local'")}
            gone = [p for p in have if p not in wanted]
            conn.executemany("DELETE FROM watchlist WHERE plate = ? AND source = 'central'", [(p,) for p in gone])
            rows = [(p, skeleton(p), r, now) for p, r in wanted.items() if p not in local and have.get(p) != r]
            conn.executemany(
                "INSERT INTO watchlist (plate, skeleton, reason, added_at, source) VALUES (?,?,?,?,'central')"
                " ON CONFLICT(plate) DO UPDATE SET reason = excluded.reason", rows)
        return WatchlistResult(central=len([p for p in wanted if p not in local]), added_or_changed=len(rows),
                               removed=len(gone), invalid=invalid)

    def entries(self) -> list[dict[str, str]]:
        return [dict(r) for r in self.db.query("SELECT plate, reason, source, added_at FROM watchlist ORDER BY plate")]

    def remove(self, plate: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM watchlist WHERE plate = ?", (normalize(plate).text,)).rowcount > 0

    def match(self, plate: str) -> list[sqlite3.Row]:
        """Watchlist entries equal to ``plate`` or confusable with it (exact ones first)."""
        rows = self.db.query("SELECT plate, reason FROM watchlist WHERE skeleton = ?", (skeleton(plate),))
        return sorted(rows, key=lambda r: r["plate"] != plate)
