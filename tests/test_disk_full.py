"""Issue 25 item 1: the data directory's disk fills up under ``tiergate up``, then space returns.

A 20 MiB tmpfs holds the data directory (SQLite, the embedded Redis's AOF and RDB); a file fills it. While
full, a request that cannot be stored is a 507 naming the disk (was a 503 "the database is unreachable"),
the web processes live on (the Prometheus files they mmap were on that disk: SIGBUS), and only one
redis-server ever holds the directory (it answers MISCONF, PING included: was taken for dead and a second
started). Once the file is removed, every request acknowledged before, during and after is finished.
"""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import redis
import requests

from app.execution.embedded_redis import EmbeddedRedis
from tests.test_up import _free_port, _start

FULL_SECONDS = 15


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)],
                                                   capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("needs root and a tmpfs mount to give the data directory a small disk that fills up")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\1" * (1 << 16))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_data_disk_is_a_507_naming_it_and_everything_acknowledged_finishes_when_space_returns(small_disk):
    data_dir, port = small_disk / "data", _free_port()
    process, log = _start(data_dir, port, {})
    url = f"http://127.0.0.1:{port}"
    key = re.search(r"admin API key \(shown once, store it now\): (tg_\S+)", log.read_text()).group(1)
    headers = {"X-API-Key": key}

    def family(marker: str) -> set[int]:
        found = set()
        for member in psutil.Process(process.pid).children(recursive=True):
            try:
                if marker in " ".join(member.cmdline()):
                    found.add(member.pid)
            except psutil.Error:
                pass
        return found

    def ask(n: int) -> requests.Response:
        return requests.post(url + "/v1/fallback", headers=headers, timeout=30,
                             json={"task_type": "summary", "text": f"notes {n} " + "x" * 2000, "exec": "async"})

    try:
        web, redis_servers = family("gunicorn"), family("redis-server")
        assert len(redis_servers) == 1
        acknowledged = [ask(n).json()["job_id"] for n in range(3)]
        filler = _fill(small_disk)
        answers, refused = [], []
        deadline = time.monotonic() + FULL_SECONDS
        n = 100
        while time.monotonic() < deadline:
            answer = ask(n)
            n += 1
            answers.append(answer.status_code)
            if answer.status_code == 202:
                acknowledged.append(answer.json()["job_id"])
            else:
                refused.append(answer)
            assert family("redis-server") == redis_servers, "a second redis-server on the same directory"
            time.sleep(0.2)
        assert refused, answers
        for answer in refused:
            assert answer.status_code == 507 and answer.headers.get("Retry-After"), (answer.status_code, answer.text)
            assert answer.json()["error"]["code"] == "disk_full" and "disk" in answer.json()["error"]["message"]
        print("while full:", sorted({answer.json()["error"]["message"] for answer in refused}))
        assert family("gunicorn") == web, f"the web processes died:\n{log.read_text()[-3000:]}"
        assert "SIGBUS" not in log.read_text()

        filler.unlink()
        back = time.monotonic()
        acknowledged.append(ask(n).json()["job_id"])
        pending = set(acknowledged)
        while pending and time.monotonic() - back < 90:
            for job_id in list(pending):
                job = requests.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=10)
                if job.status_code == 200 and job.json()["status"] == "done":
                    pending.discard(job_id)
            time.sleep(1)
        assert not pending, f"{len(pending)} of {len(acknowledged)} never finished:\n{log.read_text()[-3000:]}"
        assert family("redis-server") == redis_servers and family("gunicorn") == web
        print(f"{len(refused)} refused with 507 while full, {len(acknowledged)} acknowledged all done "
              f"{time.monotonic() - back:.1f} s after space returned")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def test_an_embedded_redis_that_answers_misconf_is_alive_and_never_started_twice(small_disk):
    server = EmbeddedRedis(small_disk / "redis").start()
    try:
        client = redis.Redis(unix_socket_path=str(server.socket))
        _fill(small_disk)
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            for n in range(100_000):  # until its append-only file cannot grow
                client.set(f"key-{n}", "x" * 1000)
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            client.ping()  # even PING: what made the supervisor take it for dead
        assert server.running() and server.alive()
        servers = [p for p in psutil.Process().children() if p.name() == "redis-server"]
        server.start()
        assert [p for p in psutil.Process().children() if p.name() == "redis-server"] == servers
    finally:
        (small_disk / "filler").unlink(missing_ok=True)
        server.stop()
