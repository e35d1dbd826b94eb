"""A full disk told apart from a database that is down: the cure is space, not patience.

SQLite says "database or disk is full" (or "disk I/O error" when its journal cannot grow), PostgreSQL
raises SQLSTATE 53100, a file write ENOSPC, and Redis refuses every write with ``MISCONF`` once it cannot
save. The API's error handler (``app.web.errors``) answers all of these 507 naming the disk, where they
used to be a 503 "the database is unreachable" (the wrong diagnosis: waiting never fixes it).
"""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

# Below this much free space a SQLite "disk I/O error" is taken for a full disk.
NEARLY_FULL_BYTES = 1 << 20
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def disk_full(exc: BaseException, data_dir: Path) -> str | None:
    """The disk ``exc`` ran out of, as a sentence for the caller; None when ``exc`` is no full disk."""
    for cause in _chain(exc):
        text = str(cause)
        if getattr(cause, "sqlstate", None) == "53100":  # psycopg's DiskFull
            return "the database server's disk is full"
        if text.startswith("MISCONF"):
            return f"Redis cannot save to its disk (data directory {data_dir}, if Redis is embedded)"
        if (isinstance(cause, OSError) and cause.errno in _FULL_ERRNOS) or "database or disk is full" in text \
                or ("disk I/O error" in text and _free_bytes(data_dir) < NEARLY_FULL_BYTES):
            return f"the disk holding the data directory {data_dir} is full"
    return None


def _chain(exc: BaseException):
    """``exc``, the driver's error inside a SQLAlchemy one, and what caused them."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        cause = pending.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        pending += [getattr(cause, "orig", None), cause.__cause__, cause.__context__]


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return NEARLY_FULL_BYTES
