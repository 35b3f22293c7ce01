"""Opening the box's SQLite database: WAL, fsync on commit, damage detection and quarantine."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from edge.localstore.errors import StoreCorrupt, StoreError, translate
from edge.localstore.migrations import migrate

log = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


class Checkpointer:
    """Copies committed WAL pages into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: the writer
    that happens to commit then (a decision's event, a large permit delta) waits for the copy and
    its fsync. Here the writer's automatic checkpoint is off and this thread checkpoints (PASSIVE:
    it never blocks a reader or writer) every ``interval_s``. Durability does not depend on it: a
    commit is durable once its WAL frames are fsynced.
    """

    def __init__(self, path: Path, interval_s: float = 1.0):
        self.path, self.interval_s = path, interval_s
        self._stop = threading.Event()
        self._failed_logged = False
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = _connect(self.path)
        try:
            while not self._stop.wait(self.interval_s):
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self._failed_logged = False
        except sqlite3.DatabaseError as exc:  # full disk, I/O error: the WAL keeps the data meanwhile
            if not self._failed_logged:
                log.warning("checkpoint_failed", extra={"path": str(self.path), "error": str(exc)})
                self._failed_logged = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True for errors that say the file itself is damaged (not locked, unreadable or unwritable)."""
    return isinstance(translate(exc, ""), StoreCorrupt)


def _check(conn: sqlite3.Connection) -> str | None:
    """Return a description of the damage, or None when the database is sound.

    Errors that are not damage (locked, cannot open, permission) are raised, not reported as damage:
    a sound database must never be quarantined because it could not be read just now.
    """
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        if _is_damage(exc):
            return str(exc)
        raise
    if rows != ["ok"]:
        return "; ".join(rows[:5])
    return None


def _check_read_only(path: Path) -> tuple[bool, str | None]:
    """Check an existing file through a read-only connection: (checked, damage).

    Read-only, so that closing it cannot checkpoint the WAL into a damaged file: a quarantined
    database keeps the bytes (main file and WAL) it was found with. ``checked`` is False where a
    read-only look is not possible (e.g. a hot rollback journal); the caller then checks read-write.
    """
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=10)
    except sqlite3.DatabaseError as exc:
        return (True, str(exc)) if _is_damage(exc) else (False, None)
    try:
        return True, _check(conn)
    except sqlite3.DatabaseError:
        return False, None
    finally:
        conn.close()


def quarantine(path: Path) -> Path:
    """Move a damaged database (and its WAL/SHM) aside for analysis; return the new main file path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("",) + SIDE_FILES:
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(target) + suffix))
    return target


class Database:
    """One connection shared by the process's threads, writes serialised by a lock.

    ``synchronous=FULL`` in WAL mode fsyncs the WAL on every commit, so a committed event survives a
    power cut or ``kill -9``.
    """

    def __init__(self, path: Path, *, on_corrupt: str = "quarantine", create: bool = True):
        self.path = Path(path)
        self.lock = threading.RLock()
        self.quarantined: tuple[Path, str] | None = None
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: no such database (is the daemon configured with this path?)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate(exc, self.path) from exc
        existed = self.path.exists() and self.path.stat().st_size > 0
        self.conn = self._open(existed, on_corrupt)
        # Reads go through their own connection: in WAL mode they see the last commit and never wait
        # for a writer, so a decision is not held up while a large permit delta is being written.
        self.read_lock = threading.Lock()
        self.reader = _connect(self.path)
        self.reader.execute("PRAGMA query_only = ON")
        self.checkpointer = Checkpointer(self.path)

    def _open(self, existed: bool, on_corrupt: str) -> sqlite3.Connection:
        checked, damage = _check_read_only(self.path) if existed else (True, None)
        conn: sqlite3.Connection | None = None
        if damage is None:
            try:
                conn = _connect(self.path)
                if not checked:
                    damage = _check(conn)
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                if not _is_damage(exc):
                    raise translate(exc, self.path) from exc
                damage = str(exc)
        if damage is not None:
            if conn is not None:
                conn.close()
            if on_corrupt == "refuse":
                raise StoreCorrupt(
                    f"{self.path}: database is damaged ({damage}); left in place for analysis. "
                    "Copy it aside and start again, or set store.on_corrupt = 'quarantine'"
                )
            try:
                moved = quarantine(self.path)
            except OSError as exc:
                raise translate(exc, self.path) from exc
            log.critical("store_corrupt", extra={"path": str(self.path), "moved_to": str(moved), "damage": damage})
            self.quarantined = (moved, damage)
            try:
                conn = _connect(self.path)
            except sqlite3.DatabaseError as exc:
                raise translate(exc, self.path) from exc
        assert conn is not None
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: large deltas rewrite fewer index pages
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer thread does it, off the commit path
            conn.execute("PRAGMA journal_size_limit = 67108864")  # a WAL grown by a large delta shrinks back
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise translate(exc, self.path) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE … COMMIT); sqlite errors become :class:`StoreError`.

        ``durable=False`` commits without the fsync (``synchronous=NORMAL``), for data that can be fetched
        again: the commit stays atomic, and a power cut can only take the box back to the state before it
        (the next fsynced commit, e.g. any event, makes it durable too). Events always use the default.
        """
        with self.lock:
            if not durable:
                self.conn.execute("PRAGMA synchronous = NORMAL")
            try:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.DatabaseError as exc:
                    raise translate(exc, self.path) from exc
                try:
                    yield self.conn
                    self.conn.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    self._rollback()
                    raise translate(exc, self.path) from exc
                except BaseException:
                    self._rollback()
                    raise
            finally:
                if not durable:
                    self.conn.execute("PRAGMA synchronous = FULL")

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """A read of committed data (its own connection; never blocked by a write in progress)."""
        with self.read_lock:
            try:
                return self.reader.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise translate(exc, self.path) from exc

    def close(self) -> None:
        self.checkpointer.stop()
        with self.lock, self.read_lock:
            self.conn.close()
            self.reader.close()
