"""The one-command start: ``tiergate up`` serves, prints the first admin key once, and stops cleanly."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

START_TIMEOUT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(data_dir: Path, port: int, env_extra: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    log = data_dir.parent / f"up-{port}.log"
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    # XDG_STATE_HOME: where `tiergate up` records its data directory for the other commands (not the tester's home).
    env.update(TIERGATE_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", XDG_STATE_HOME=str(data_dir.parent / "state"),
               **env_extra)
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(port), "--web-workers", "1"],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return process, log
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.kill()
    pytest.fail(f"tiergate up did not become ready:\n{log.read_text()}")


def _descendants(pid: int) -> list[int]:
    output = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,sid="], capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in output.splitlines() if line.strip()]
    found, frontier = [], {pid}
    while frontier:
        children = {child for child, parent, _sid in rows if parent in frontier}
        found.extend(children)
        frontier = children
    return found


def test_up_serves_routes_and_stops_on_ctrl_c(tmp_path):
    data_dir = tmp_path / "data"
    port = _free_port()
    process, log = _start(data_dir, port, {})
    try:
        output = log.read_text()
        key = re.search(r"admin API key \(shown once, store it now\): (tg_\S+)", output).group(1)
        assert "embedded Redis" in output and "dry-run" in output
        response = requests.post(f"http://127.0.0.1:{port}/v1/route", headers={"X-API-Key": key},
                                 data={"task_type": "classification", "text": "Acme GmbH, B2B or B2C?"}, timeout=5)
        assert response.status_code == 200
        assert response.json()["tier"] == "tier1" and response.json()["reasons"][0]["rule"] == "task_type"
        children = _descendants(process.pid)
        assert len(children) >= 3  # redis, gunicorn (+ its worker), rq worker
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        process.wait(timeout=40)
    assert process.returncode == 0
    time.sleep(0.5)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == [], f"left running: {alive}\n{log.read_text()}"
    assert "stopped" in log.read_text()
    assert (data_dir / "tiergate.db").exists() and (data_dir / "redis.aof").exists()
    # Other commands, run from any folder, find this data directory through what `up` recorded.
    assert (tmp_path / "state" / "tiergate" / "data-dir").read_text().strip() == str(data_dir.resolve())


def test_second_start_reuses_data_and_prints_no_new_key(tmp_path):
    data_dir = tmp_path / "data"
    for attempt in range(2):
        port = _free_port()
        process, log = _start(data_dir, port, {})
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
        printed = "admin API key" in log.read_text()
        assert printed == (attempt == 0)


def test_a_killed_worker_or_redis_is_restarted_while_the_web_server_keeps_serving(tmp_path):
    import psutil

    data_dir = tmp_path / "data"
    port = _free_port()
    process, log = _start(data_dir, port, {})
    url = f"http://127.0.0.1:{port}"
    key = re.search(r"admin API key \(shown once, store it now\): (tg_\S+)", log.read_text()).group(1)
    route = {"task_type": "classification", "text": "Acme GmbH, B2B or B2C?"}

    def children(marker: str) -> list[psutil.Process]:
        found = []
        for child in psutil.Process(process.pid).children():
            try:
                if marker in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:  # a killed child the supervisor has not reaped yet
                pass
        return found

    try:
        (worker,) = children("-m workers")
        worker.kill()
        assert requests.post(url + "/v1/route", headers={"X-API-Key": key}, data=route, timeout=5).status_code == 200
        deadline = time.monotonic() + 30
        while not [p for p in children("-m workers") if p.pid != worker.pid]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "worker 1 exited (killed by SIGKILL); restarting" in log.read_text()

        (redis_server,) = children("redis-server")
        redis_server.kill()
        killed = time.monotonic()
        while True:  # a fallback call needs Redis-backed parts (the circuit breaker, the queue) to be back
            try:
                answer = requests.post(url + "/v1/fallback", headers={"X-API-Key": key},
                                       json={"task_type": "summary", "text": "notes", "exec": "async"}, timeout=5)
                ready = requests.get(url + "/readyz", timeout=5).status_code
                if (answer.status_code == 202 and ready == 200 and children("redis-server")
                        and "embedded Redis restarted" in log.read_text()):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() - killed < 30, log.read_text()
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
    assert process.returncode == 0


def test_the_callback_secret_is_shown_on_the_first_start_only(tmp_path):
    data_dir = tmp_path / "data"
    shown = []
    for _attempt in range(2):
        process, log = _start(data_dir, _free_port(), {})
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
        shown.append("callback signing secret" in log.read_text())
    assert shown == [True, False]


def test_a_sigkilled_supervisor_takes_every_child_with_it(tmp_path):
    """Issue 25 item 5: SIGKILL runs no cleanup, yet gunicorn (and its workers), the RQ worker and the
    embedded Redis go too; before, gunicorn and the worker stayed, kept the port and served unsupervised."""
    import psutil

    process, log = _start(tmp_path / "data", _free_port(), {})
    family = psutil.Process(process.pid).children(recursive=True)
    names = " ".join(" ".join(member.cmdline()) for member in family)
    assert "gunicorn" in names and "-m workers" in names and "redis-server" in names
    process.send_signal(signal.SIGKILL)
    process.wait()
    _gone, alive = psutil.wait_procs(family, timeout=10)
    alive = [member for member in alive if member.status() != psutil.STATUS_ZOMBIE]
    for member in alive:  # leave nothing behind for the next test, then fail
        member.kill()
    assert alive == [], f"left running: {[' '.join(member.cmdline()) for member in alive]}\n{log.read_text()}"


def _refused(data_dir: Path, port: int) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(TIERGATE_DATA_DIR=str(data_dir), XDG_STATE_HOME=str(data_dir.parent / "state"))
    second = subprocess.run([sys.executable, "-m", "app.cli", "up", "--port", str(port), "--web-workers", "1"],
                            capture_output=True, text=True, env=env, timeout=30)
    return second.returncode, second.stdout + second.stderr


def test_a_second_up_on_the_same_data_dir_or_port_is_refused_with_a_message(tmp_path):
    data_dir, port = tmp_path / "data", _free_port()
    process, log = _start(data_dir, port, {})
    try:
        code, output = _refused(data_dir, _free_port())
        assert code != 0 and f"running on the data directory {data_dir.resolve()}" in output, output
        assert f"pid {process.pid}" in output
        code, output = _refused(tmp_path / "other", port)
        assert code != 0 and f"port {port} on 127.0.0.1 is already in use" in output, output
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200  # the first serves on
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
    assert process.returncode == 0
