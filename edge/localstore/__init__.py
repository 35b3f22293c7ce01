"""The box's local store: SQLite in WAL mode with an fsynced event outbox, permits cache and snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
import sqlite3

from edge.localstore.db import Database
from edge.localstore.errors import StoreCorrupt, StoreError, StoreFull, StoreReadOnly
from edge.localstore.gatestate import GateState
from edge.localstore.outbox import Event, Outbox, insert_event
from edge.localstore.permits import Permit, Permits, Watchlist
from edge.localstore.snapshots import Snapshots

__all__ = ["Event", "LocalStore", "Permit", "StoreCorrupt", "StoreError", "StoreFull", "StoreReadOnly"]


class LocalStore:
    """Facade over the box database: ``outbox``, ``permits``, ``watchlist``, ``state``, ``snapshots``."""

    def __init__(self, path: Path, snapshot_dir: Path, *, on_corrupt: str = "quarantine", create: bool = True,
                 retention_days: float = 30, snapshot_max_mb: int = 2048, min_free_mb: int = 200):
        self.db = Database(Path(path), on_corrupt=on_corrupt, create=create)
        self.outbox = Outbox(self.db)
        self.permits = Permits(self.db)
        self.watchlist = Watchlist(self.db)
        self.state = GateState(self.db)
        self.snapshots = Snapshots(self.db, Path(snapshot_dir), retention_days=retention_days,
                                   max_mb=snapshot_max_mb, min_free_mb=min_free_mb)
        if self.db.quarantined:
            moved, damage = self.db.quarantined
            self.outbox.append("fault", reason="store_corrupt",
                               payload={"quarantined_to": str(moved), "damage": damage})

    @classmethod
    def from_config(cls, cfg: "StoreConfigLike", *, create: bool = True) -> "LocalStore":
        return cls(cfg.path, cfg.snapshot_dir, on_corrupt=cfg.on_corrupt, create=create,
                   retention_days=cfg.snapshot_retention_days, snapshot_max_mb=cfg.snapshot_max_mb,
                   min_free_mb=cfg.min_free_mb)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db.transaction() as conn:
            yield conn

    def record(self, conn: sqlite3.Connection, type: str, **kw: object) -> Event:
        return insert_event(conn, type, **kw)  # type: ignore[arg-type]

    def close(self) -> None:
        self.db.close()


from edge.config.models import StoreConfig as StoreConfigLike  # noqa: E402  (typing only, no cycle)
