"""Errors of the local store, each with a message a technician can act on."""

import errno


class StoreError(Exception):
    """The local store cannot do what was asked."""


class StoreCorrupt(StoreError):
    """The database file is damaged."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full."""


class StoreReadOnly(StoreError):
    """The database or its folder cannot be written."""


def translate(exc: Exception, path: object) -> StoreError:
    """Turn a sqlite3/OS error into the matching :class:`StoreError` with a hint."""
    msg = str(exc).lower()
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if "disk is full" in msg or "database or disk is full" in msg or code in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(f"{path}: disk full ({exc}); free space or lower snapshot retention")
    if ("readonly" in msg or "read-only" in msg or "permission denied" in msg
            or code in (errno.EACCES, errno.EPERM, errno.EROFS)):
        return StoreReadOnly(f"{path}: cannot write ({exc}); check the file, its folder and the mount")
    if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
        return StoreCorrupt(f"{path}: database is damaged ({exc})")
    return StoreError(f"{path}: {exc}")
