"""A real n8n, installed from npm, driven headlessly against a running Tiergate.

The pieces the end-to-end test (``test_n8n_e2e.py``) composes:

* ``install_n8n`` — the pinned n8n from the npm registry, installed once into a cache directory
  outside the clone (``~/.cache/tiergate-n8n`` unless ``TIERGATE_N8N_CACHE`` says otherwise) and
  reused by later runs;
* ``pack_node_package`` — builds ``n8n-nodes/`` and packs it as npm would publish it;
* ``N8n`` — one headless n8n on loopback with SQLite and its own ports, the packed node installed
  into ``.n8n/nodes`` the way a community install puts it, credentials and workflows imported and
  published with n8n's own CLI, executions read back from its database;
* ``Tiergate`` — ``tiergate up`` in a data directory of its own, with an API key for n8n.

Every process is started in its own session and stopped with its descendants (``processes``), so
a failed run leaves nothing behind. Every wait has a deadline.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.n8n.processes import (LOG_TAIL_CHARS, POLL_SECONDS, HarnessError, free_port, locked, run, stop_process,
                                 tail)

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "n8n-nodes"
WORKFLOWS_DIR = PACKAGE_DIR / "workflows"

N8N_VERSION = "2.8.4"  # newer n8n needs Node 24; 2.8.x runs on the Node 20 of these machines
# n8n-nodes-base depends on xlsx from an outside URL; the registry's last release replaces it.
XLSX_VERSION = "0.18.5"
NODE_PACKAGE_NAME = "n8n-nodes-tiergate"
NODE_TYPE = "n8n-nodes-tiergate.tiergate"

NPM_INSTALL_TIMEOUT_SECONDS = 1200  # a cold install of n8n takes about four minutes here
NPM_STEP_TIMEOUT_SECONDS = 300
N8N_CLI_TIMEOUT_SECONDS = 180
N8N_BOOT_TIMEOUT_SECONDS = 180
TIERGATE_BOOT_TIMEOUT_SECONDS = 90


def cache_dir() -> Path:
    return Path(os.environ.get("TIERGATE_N8N_CACHE", "~/.cache/tiergate-n8n")).expanduser()


# -- installing -------------------------------------------------------------------------------------
def install_n8n(version: str = N8N_VERSION, root: Path | None = None) -> Path:
    """Install n8n ``version`` into the cache once (locked against parallel runs); return its binary."""
    root = root or cache_dir()
    target = root / f"n8n-{version}"
    binary = target / "node_modules" / ".bin" / "n8n"
    marker = target / ".tiergate-installed"
    with locked(root / ".install.lock"):
        if marker.exists() and binary.exists():
            return binary
        target.mkdir(parents=True, exist_ok=True)
        (target / "package.json").write_text(json.dumps({
            "name": "tiergate-n8n-runtime",
            "private": True,
            "dependencies": {"n8n": version},
            "overrides": {"xlsx": XLSX_VERSION},
        }, indent=2))
        started = time.monotonic()
        run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
            log=target / "install.log", timeout=NPM_INSTALL_TIMEOUT_SECONDS)
        if not binary.exists():
            raise HarnessError(f"npm install finished but {binary} is missing:\n{tail(target / 'install.log')}")
        marker.write_text(f"n8n {version} installed in {time.monotonic() - started:.0f} s\n")
    return binary


def pack_node_package(dest: Path, log: Path) -> Path:
    """Build ``n8n-nodes/`` with @n8n/node-cli and ``npm pack`` it into ``dest``."""
    if not (PACKAGE_DIR / "node_modules" / ".bin" / "n8n-node").exists():
        # @n8n/node-cli's tree has install scripts that need newer Node; none is needed to build.
        # Not `npm ci`: the lock lacks optional platform binaries the registry mirror does not
        # carry, which `npm ci` refuses; `install --no-save` takes the locked versions and leaves
        # the lock as it is.
        run(["npm", "install", "--ignore-scripts", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PACKAGE_DIR, log=log, timeout=NPM_STEP_TIMEOUT_SECONDS)
    run(["npm", "run", "build"], cwd=PACKAGE_DIR, log=log, timeout=NPM_STEP_TIMEOUT_SECONDS)
    dest.mkdir(parents=True, exist_ok=True)
    out = run(["npm", "pack", "--json", "--pack-destination", str(dest)], cwd=PACKAGE_DIR, log=log,
              timeout=NPM_STEP_TIMEOUT_SECONDS)
    names = re.findall(r'"filename":\s*"([^"]+)"', out)
    if not names or not (dest / names[-1]).exists():
        raise HarnessError(f"npm pack left no tarball in {dest}:\n{tail(log)}")
    return dest / names[-1]


def load_workflows() -> dict[str, dict[str, Any]]:
    """The exported workflow files, by file stem (``list-classification`` ...)."""
    return {path.name.removesuffix(".workflow.json"): json.loads(path.read_text())
            for path in sorted(WORKFLOWS_DIR.glob("*.workflow.json"))}


def webhook_path(workflow: dict[str, Any]) -> str:
    (hook,) = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.webhook"]
    return hook["parameters"]["path"]


# -- executions -------------------------------------------------------------------------------------
def unflatten(text: str) -> Any:
    """Decode n8n's execution data, stored in the ``flatted`` format (shared refs as string indices)."""
    table = json.loads(text)
    seen: dict[int, Any] = {}

    def resolve(index: int) -> Any:
        if index in seen:
            return seen[index]
        value = table[index]
        if isinstance(value, list):
            seen[index] = out = []
            out.extend(resolve(int(v)) if isinstance(v, str) else v for v in value)
            return out
        if isinstance(value, dict):
            seen[index] = out = {}
            for key, v in value.items():
                out[key] = resolve(int(v)) if isinstance(v, str) else v
            return out
        seen[index] = value
        return value

    return resolve(0)


def node_output(execution: dict[str, Any], node_name: str, output: int = 0) -> list[dict[str, Any]]:
    """The JSON of the items ``node_name`` sent on ``output`` in its last run."""
    runs = execution["resultData"]["runData"].get(node_name)
    if not runs:
        return []
    main = (runs[-1].get("data") or {}).get("main") or []
    items = main[output] if output < len(main) else None
    return [item["json"] for item in items or []]


# -- n8n --------------------------------------------------------------------------------------------
class N8n:
    """One headless n8n with its own user folder, ports and SQLite database."""

    def __init__(self, binary: Path, home: Path):
        self.binary = binary
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "n8n.log"
        self.proc: subprocess.Popen | None = None
        self._editor: requests.Session | None = None
        (home / ".n8n" / "nodes").mkdir(parents=True, exist_ok=True)  # also creates home

    @property
    def database(self) -> Path:
        return self.home / ".n8n" / "database.sqlite"

    def env(self) -> dict[str, str]:
        """The environment for one n8n process; each gets its own task-broker port."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_", "EXECUTIONS_"))}
        env.update({
            "N8N_USER_FOLDER": str(self.home),
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1",
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"{self.url}/",  # what $execution.resumeUrl is built from
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": "127.0.0.1",
            "DB_TYPE": "sqlite",
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_SECURE_COOKIE": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
            # `info`, not `error`: the CLI prints execution JSON and import results through the logger.
            "N8N_LOG_LEVEL": "info",
            "EXECUTIONS_DATA_PRUNE": "false",
            "EXECUTIONS_DATA_SAVE_ON_SUCCESS": "all",
            "EXECUTIONS_DATA_SAVE_ON_ERROR": "all",
        })
        return env

    def install_node_package(self, tarball: Path) -> Path:
        """Install the packed node where n8n's community-package install puts it."""
        nodes_dir = self.home / ".n8n" / "nodes"
        if not (nodes_dir / "package.json").exists():
            (nodes_dir / "package.json").write_text(json.dumps(
                {"name": "installed-nodes", "private": True, "dependencies": {}}, indent=2))
        # Like n8n's own installer: the package's peer n8n-workflow comes from n8n, not the folder.
        run(["npm", "install", str(tarball), "--omit=peer", "--omit=dev", "--ignore-scripts",
             "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"],
            cwd=nodes_dir, log=self.home / "npm-nodes.log", timeout=NPM_STEP_TIMEOUT_SECONDS)
        installed = nodes_dir / "node_modules" / NODE_PACKAGE_NAME
        if not (installed / "package.json").exists():
            raise HarnessError(f"{NODE_PACKAGE_NAME} not found in {nodes_dir / 'node_modules'}")
        return installed

    def cli(self, *args: str) -> str:
        """Run one n8n CLI command against this instance's database."""
        return run([str(self.binary), *args], cwd=self.home, env=self.env(), log=self.home / "n8n-cli.log",
                   timeout=N8N_CLI_TIMEOUT_SECONDS)

    def execute(self, workflow_id: str) -> dict[str, Any]:
        """Run a workflow from its Manual Trigger with ``n8n execute``; return the execution data."""
        out = self.cli("execute", f"--id={workflow_id}", "--rawOutput")
        # The JSON follows the log lines of the run, starting on a line of its own.
        start = re.search(r"^\{\s*$", out, re.MULTILINE)
        if start is None:
            raise HarnessError(f"n8n execute printed no execution JSON:\n{out[-LOG_TAIL_CHARS:]}")
        run_data, _ = json.JSONDecoder().raw_decode(out[start.start():])
        return run_data["data"]

    def import_credentials(self, credentials: list[dict[str, Any]]) -> None:
        path = self.home / "credentials.json"
        path.write_text(json.dumps(credentials))
        try:
            out = self.cli("import:credentials", f"--input={path}")
        finally:
            path.unlink()  # holds the API key in clear text
        if "Successfully imported" not in out:
            raise HarnessError(f"credential import did not report success:\n{out[-LOG_TAIL_CHARS:]}")

    def import_workflows(self, directory: Path = WORKFLOWS_DIR) -> None:
        out = self.cli("import:workflow", "--separate", f"--input={directory}")
        if "Successfully imported" not in out:
            raise HarnessError(f"workflow import did not report success:\n{out[-LOG_TAIL_CHARS:]}")

    def publish(self, workflow_id: str) -> None:
        """Publish (activate) an imported workflow; it takes effect at the next start."""
        self.cli("publish:workflow", f"--id={workflow_id}")

    def start(self, expect_active: list[str]) -> None:
        """Start n8n and wait until it serves and has activated ``expect_active`` (workflow names)."""
        out = self.log.open("ab")
        try:
            self.proc = subprocess.Popen([str(self.binary), "start"], cwd=self.home, env=self.env(), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + N8N_BOOT_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"n8n exited with {self.proc.returncode} while starting:\n{tail(self.log)}")
            text = tail(self.log, 10**6)
            if "Editor is now accessible" in text and all(
                    f'Activated workflow "{name}"' in text for name in expect_active):
                return
            time.sleep(POLL_SECONDS)
        raise HarnessError(f"n8n not ready after {N8N_BOOT_TIMEOUT_SECONDS} s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self._editor is not None:
            self._editor.close()
        if self.proc is not None:
            stop_process(self.proc)

    def editor_session(self) -> requests.Session:
        """A session of the instance owner on n8n's editor API (set up on first use).

        The editor API is n8n's internal one, pinned with n8n's version; the tests use it only for
        what a person does in the editor, such as pressing a credential's Test button.
        """
        if self._editor is None:
            session = requests.Session()
            response = session.post(f"{self.url}/rest/owner/setup", timeout=30, json={
                "email": "owner@example.com", "firstName": "Tiergate", "lastName": "E2E",
                "password": "Tiergate-e2e-1"})
            if response.status_code != 200:
                raise HarnessError(f"n8n owner setup failed: {response.status_code} {response.text[:500]}")
            self._editor = session
        return self._editor

    def test_credential(self, credential: dict[str, Any]) -> dict[str, Any]:
        """What the credential's Test button reports: ``{"status": "OK" | "Error", "message"}``."""
        response = self.editor_session().post(f"{self.url}/rest/credentials/test", timeout=60,
                                              json={"credentials": credential})
        if response.status_code != 200:
            raise HarnessError(f"credential test request failed: {response.status_code} {response.text[:500]}")
        return response.json()["data"]

    def webhook(self, path: str, payload: dict[str, Any], timeout: float) -> requests.Response:
        return requests.post(f"{self.url}/webhook/{path}", json=payload, timeout=timeout)

    # executions, read from n8n's own database
    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)) as db:
            return db.execute(sql, params).fetchall()

    def last_execution_id(self, workflow_id: str) -> int:
        rows = self._query("SELECT MAX(CAST(id AS INTEGER)) FROM execution_entity WHERE workflowId = ?",
                           (workflow_id,))
        return rows[0][0] or 0

    def wait_for_execution(self, workflow_id: str, after_id: int, statuses: set[str], timeout: float,
                           ) -> tuple[int, str]:
        """The first execution of ``workflow_id`` newer than ``after_id`` once it reaches ``statuses``."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            rows = self._query("SELECT id, status FROM execution_entity WHERE workflowId = ? AND "
                               "CAST(id AS INTEGER) > ? ORDER BY CAST(id AS INTEGER) LIMIT 1",
                               (workflow_id, after_id))
            if rows:
                seen = rows[0]
                if seen[1] in statuses:
                    return int(seen[0]), seen[1]
                if seen[1] in {"error", "crashed", "canceled"}:
                    raise HarnessError(self.describe_last_execution(workflow_id))
            time.sleep(POLL_SECONDS)
        raise HarnessError(f"no execution of {workflow_id} reached {sorted(statuses)} in {timeout:.0f} s "
                           f"(last seen: {seen}):\n{tail(self.log)}")

    def describe_last_execution(self, workflow_id: str) -> str:
        """Status and error of the newest execution of ``workflow_id``, for failure messages."""
        rows = self._query("SELECT id, status FROM execution_entity WHERE workflowId = ? "
                           "ORDER BY CAST(id AS INTEGER) DESC LIMIT 1", (workflow_id,))
        if not rows:
            return f"no execution of {workflow_id}"
        error = self.execution(int(rows[0][0]))["resultData"].get("error") or {}
        detail = {k: error.get(k) for k in ("message", "description", "httpCode", "node") if error.get(k)}
        if isinstance(detail.get("node"), dict):
            detail["node"] = detail["node"].get("name")
        return f"execution {rows[0][0]} {rows[0][1]}: {json.dumps(detail)[:LOG_TAIL_CHARS]}"

    def execution(self, execution_id: int) -> dict[str, Any]:
        rows = self._query("SELECT data FROM execution_data WHERE executionId = ?", (execution_id,))
        if not rows:
            raise HarnessError(f"execution {execution_id} has no stored data")
        return unflatten(rows[0][0])


# -- Tiergate ---------------------------------------------------------------------------------------
class Tiergate:
    """``tiergate up`` on loopback with a data directory of its own."""

    SCOPES = "route,classify,fallback,review,admin"

    def __init__(self, data_dir: Path, extra_env: dict[str, str]):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "tiergate.log"
        self.env = dict(os.environ, TIERGATE_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **extra_env)
        self.proc: subprocess.Popen | None = None
        self.api_key = ""
        data_dir.mkdir(parents=True, exist_ok=True)

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "app.cli", *args]

    def create_key(self) -> str:
        out = subprocess.run(self._cli("keys", "create", "--name", "n8n", "--scopes", self.SCOPES, "--quiet"),
                             cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
                             timeout=TIERGATE_BOOT_TIMEOUT_SECONDS)
        if out.returncode != 0 or not out.stdout.strip():
            raise HarnessError(f"tiergate keys create failed ({out.returncode}): {out.stderr[-LOG_TAIL_CHARS:]}")
        self.api_key = out.stdout.strip().splitlines()[-1]
        return self.api_key

    def start(self) -> None:
        out = self.log.open("ab")
        try:
            self.proc = subprocess.Popen(self._cli("up", "--port", str(self.port), "--workers", "1"), cwd=REPO_ROOT,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        deadline = time.monotonic() + TIERGATE_BOOT_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"tiergate up exited with {self.proc.returncode}:\n{tail(self.log)}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(POLL_SECONDS)
        raise HarnessError(f"Tiergate not ready after {TIERGATE_BOOT_TIMEOUT_SECONDS} s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.url}{path}", headers={"X-API-Key": self.api_key}, **kwargs)
