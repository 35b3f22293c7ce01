"""Snapshot images, content-addressed on disk, with a retention policy that never deletes unsynced ones."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from edge.localstore.db import Database
from edge.localstore.errors import StoreFull, translate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionResult:
    deleted: int
    freed_bytes: int
    kept_unsynced: int


class Snapshots:
    def __init__(self, db: Database, folder: Path, *, retention_days: float, max_mb: int, min_free_mb: int):
        self.db = db
        self.folder = Path(folder)
        self.retention_s = retention_days * 86400
        self.max_bytes = max_mb * 1024 * 1024
        self.min_free_bytes = min_free_mb * 1024 * 1024
        self.folder.mkdir(parents=True, exist_ok=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.folder).free

    def path_of(self, sha: str) -> Path:
        return self.folder / sha[:2] / f"{sha}.jpg"

    def save(self, data: bytes) -> str:
        """Store an image (idempotent by content) and return its sha256.

        Raises :class:`StoreFull` when free space stays under the floor even after retention; the
        caller records the event without a snapshot rather than losing the event.
        """
        sha = hashlib.sha256(data).hexdigest()
        if self.db.query("SELECT 1 FROM snapshots WHERE sha256 = ?", (sha,)):
            return sha
        if self.free_bytes() - len(data) < self.min_free_bytes:
            self.apply_retention(force_free=True)
            if self.free_bytes() - len(data) < self.min_free_bytes:
                raise StoreFull(f"{self.folder}: less than {self.min_free_bytes // 2**20} MB free; snapshot not kept")
        target = self.path_of(sha)
        tmp = target.with_suffix(".tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise translate(exc, target) from exc
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO snapshots (sha256, relpath, size, created_at) VALUES (?,?,?,?)",
                         (sha, str(target.relative_to(self.folder)), len(data), time.time()))
        return sha

    def read(self, sha: str) -> bytes:
        return self.path_of(sha).read_bytes()

    def mark_synced(self, shas: list[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("UPDATE snapshots SET synced_at = ? WHERE sha256 = ? AND synced_at IS NULL",
                             [(time.time(), s) for s in shas])

    def unsynced(self, limit: int = 100, *, skip: int = 0) -> list[str]:
        rows = self.db.query("SELECT sha256 FROM snapshots WHERE synced_at IS NULL ORDER BY created_at, sha256"
                             " LIMIT ? OFFSET ?", (limit, skip))
        return [r[0] for r in rows]

    def unsynced_count(self) -> int:
        return int(self.db.query("SELECT count(*) FROM snapshots WHERE synced_at IS NULL")[0][0])

    def apply_retention(self, *, now: float | None = None, force_free: bool = False) -> RetentionResult:
        """Delete synced snapshots: older than retention, then oldest first above the size cap (or, with
        ``force_free``, until the free-space floor is met). Unsynced snapshots are never touched."""
        now = now or time.time()
        total = int(self.db.query("SELECT coalesce(sum(size), 0) FROM snapshots")[0][0])
        synced = self.db.query(
            "SELECT sha256, relpath, size, created_at FROM snapshots WHERE synced_at IS NOT NULL ORDER BY created_at"
        )
        doomed: list[tuple[str, str, int]] = []
        for sha, rel, size, created in synced:
            too_old = created < now - self.retention_s
            too_big = total > self.max_bytes
            too_full = force_free and self.free_bytes() + sum(d[2] for d in doomed) < self.min_free_bytes
            if not (too_old or too_big or too_full):
                break
            doomed.append((sha, rel, size))
            total -= size
        for _, rel, _ in doomed:
            (self.folder / rel).unlink(missing_ok=True)
        if doomed:
            with self.db.transaction() as conn:
                conn.executemany("DELETE FROM snapshots WHERE sha256 = ?", [(d[0],) for d in doomed])
        kept = int(self.db.query("SELECT count(*) FROM snapshots WHERE synced_at IS NULL")[0][0])
        return RetentionResult(len(doomed), sum(d[2] for d in doomed), kept)
