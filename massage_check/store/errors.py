"""Storage errors a front-end can catch and a staff member can act on."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from massage_check.errors import UserError

_FIX_DIR = ("Make the directory writable by this user (chown/chmod), or point the "
            "`data_dir` setting or MASSAGE_CHECK_DATA_DIR at a writable directory.")


class StorageError(UserError):
    """The transcript store cannot read or write its files: says which path and how to fix it."""

    def __init__(self, path: Path | str, problem: str, fix: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem}. {fix}")


class UnknownSession(UserError, LookupError):
    """No stored session has that id (or the id prefix is ambiguous)."""


def from_sqlite(path: Path, exc: sqlite3.Error) -> StorageError:
    """Turn an sqlite3 error into a StorageError with the fix for that kind of failure."""
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if code == sqlite3.SQLITE_FULL or "full" in text:
        return StorageError(path, f"the disk is full ({text})",
                            "Free space on that disk (e.g. `massage-check transcripts purge`), "
                            "or move `data_dir` to a disk with room.")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM) or \
            "readonly" in text or "unable to open" in text:
        return StorageError(path, f"cannot write the transcript database ({text})", _FIX_DIR)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text:
        return StorageError(path, f"the database stayed locked by another process ({text})",
                            "Retry; if it persists, stop other massage-check processes.")
    return StorageError(path, f"database error ({text})",
                        "Check the disk (dmesg, df -h); if the file is damaged, move it aside "
                        "and a fresh database will be created.")


def from_os(path: Path | str, exc: OSError, doing: str) -> StorageError:
    """Turn an OSError (permissions, full disk, read-only file system) into a StorageError."""
    import errno
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return StorageError(path, f"cannot {doing}: {reason}",
                            "Free space on that disk, or move `data_dir` to a disk with room.")
    return StorageError(path, f"cannot {doing}: {reason}", _FIX_DIR)
