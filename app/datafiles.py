"""Files in the data directory are the owner's alone: 0600 files in a 0700 directory.

They hold the generated secrets, every request's text (the SQLite file and its -wal/-shm) and the
queued jobs (the embedded Redis AOF and dump). Under the usual umask (022) they would be created
world-readable on a shared machine, so they are created private, and files left by an older version
are tightened when Tiergate starts.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "private_dir", "private_file", "tighten"]

log = logging.getLogger(__name__)

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# For child processes that create their own files (redis-server): rw for the owner only.
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; make it 0700."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists (then make it 0600); never truncates."""
    path = Path(path)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE))
    tighten(path, PRIVATE_FILE_MODE)
    return path


def tighten(path: Path, mode: int = PRIVATE_FILE_MODE) -> None:
    """Take group and other permissions off ``path`` if it exists; a file we do not own is left as it is."""
    try:
        current = os.stat(path).st_mode & 0o777
        if current & ~mode:
            os.chmod(path, current & mode)
    except FileNotFoundError:
        pass
    except PermissionError:
        log.warning("cannot make %s private (mode %o); it belongs to another user", path, current)
