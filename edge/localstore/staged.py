"""Large upserts written by SQLite on the second core while Python prepares the next chunk.

A 100,000-permit delta costs about as much Python work (validation, binding 11 values per row) as
SQLite B-tree work, and ``executemany`` does the two one after the other: binding holds the GIL and
each row's step is too short to hand the other core anything useful. Here the Python side binds
each chunk into a private in-memory database and hands its serialised bytes to a writer thread,
which loads them into a schema attached to the write connection and runs one ``INSERT … SELECT``.
That statement is a single ``sqlite3_step``, run with the GIL released, so the B-tree work of one
chunk overlaps the validation of the next (on this 2-core box the delta takes about a third less).

Everything still happens inside the caller's one write transaction: a failure anywhere rolls the
whole delta back. Schemas cannot be attached inside a transaction, so :func:`memory_schemas` attaches
them first, and each schema is written once per transaction (a schema read in a transaction cannot
be replaced before it ends).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

#: Chunks per staged write: SQLite attaches at most 10 databases by default; 8 leaves two spare.
STAGES = 8


def available(conn: sqlite3.Connection) -> bool:
    """True where this Python and SQLite can (de)serialise databases (CPython 3.11+, SQLite 3.36+)."""
    return hasattr(conn, "deserialize") and hasattr(conn, "serialize")


@contextmanager
def memory_schemas(conn: sqlite3.Connection, prefix: str, n: int = STAGES) -> Iterator[list[str]]:
    """Attach ``n`` empty in-memory schemas (outside any transaction) and detach them afterwards."""
    names: list[str] = []
    try:
        for i in range(n):
            name = f"{prefix}{i}"
            conn.execute("ATTACH DATABASE ':memory:' AS " + name)
            names.append(name)
        yield names
    finally:
        for name in names:
            try:
                conn.execute("DETACH DATABASE " + name)
            except sqlite3.DatabaseError as exc:
                # Left attached, the name would refuse the next staged write's ATTACH: say so once here.
                log.error("staging_schema_not_detached", extra={"schema": name, "error": str(exc)})


def serialise(create_sql: str, insert_sql: str, rows: Sequence[tuple[Any, ...]]) -> bytes:
    """``rows`` in table ``s`` of a fresh in-memory database, as the bytes of that database."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    try:
        mem.execute(create_sql)
        mem.execute("BEGIN")
        mem.executemany(insert_sql, rows)
        mem.execute("COMMIT")
        return mem.serialize()
    finally:
        mem.close()


class StagedWriter:
    """Runs ``sql.format(schema=…)`` for each staged chunk on a thread of its own, in order.

    The caller holds the write transaction on ``conn`` and must not use ``conn`` until :meth:`close`
    has returned; close re-raises the first error the writer met.
    """

    def __init__(self, conn: sqlite3.Connection, schemas: list[str], sql: str):
        self.conn, self.schemas, self.sql = conn, schemas, sql
        self.error: BaseException | None = None
        self._used = 0
        self._queue: queue.SimpleQueue[tuple[str, bytes] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-staged-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the caller learns of the error at put() or close()
            schema, data = item
            try:
                self.conn.deserialize(data, name=schema)
                self.conn.execute(self.sql.format(schema=schema))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self.error = exc

    def put(self, data: bytes) -> None:
        """Hand over one serialised chunk (at most one per schema)."""
        if self.error is not None:
            raise self.error
        if self._used >= len(self.schemas):
            raise RuntimeError(f"more chunks than the {len(self.schemas)} staging schemas")
        self._queue.put((self.schemas[self._used], data))
        self._used += 1

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until every chunk is written; raise the writer's error, if any (and asked to)."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None and raise_error:
            raise self.error


def chunks(n: int, parts: int = STAGES) -> Iterator[slice]:
    """At most ``parts`` contiguous slices covering ``range(n)``."""
    size = max(1, -(-n // parts))
    for start in range(0, n, size):
        yield slice(start, start + size)
