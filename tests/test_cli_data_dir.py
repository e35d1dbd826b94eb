"""The CLI finds the running server's data directory, or refuses and says where it looked; it never
creates a new empty database in whatever folder it was run from (keys made there got 401)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tiergate(args: list[str], cwd: Path, state: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("TIERGATE_DATA_DIR", "DATABASE_URL", "REDIS_URL")}
    env.update(XDG_STATE_HOME=str(state), PYTHONPATH=str(ROOT), **env_extra)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_from_another_folder_refuses_and_creates_nothing(tmp_path):
    elsewhere = tmp_path / "home-of-someone"
    elsewhere.mkdir()
    result = _tiergate(["keys", "create", "--name", "n8n", "--quiet"], elsewhere, tmp_path / "state")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no Tiergate data directory found" in result.stderr
    assert str(elsewhere / "data") in result.stderr  # says where it looked
    assert "TIERGATE_DATA_DIR" in result.stderr
    assert not (elsewhere / "data").exists()


def test_cli_uses_the_data_directory_tiergate_up_recorded(tmp_path):
    server_dir = tmp_path / "srv"
    server_dir.mkdir()
    state = tmp_path / "state"
    # What `tiergate up` leaves behind: a data directory with its database, and the pointer to it.
    from app.cli.common import record_data_dir
    from app.config import load_settings

    settings = load_settings(TIERGATE_DATA_DIR=server_dir / "data").ensure_secrets()
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(state)
    try:
        record_data_dir(settings)
    finally:
        if old is None:
            del os.environ["XDG_STATE_HOME"]
        else:
            os.environ["XDG_STATE_HOME"] = old
    assert (state / "tiergate" / "data-dir").read_text().strip() == str((server_dir / "data").resolve())

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    created = _tiergate(["keys", "create", "--name", "n8n", "--quiet"], elsewhere, state)
    assert created.returncode == 0, created.stderr
    assert f"using the data directory of `tiergate up`: {(server_dir / 'data').resolve()}" in created.stderr
    assert not (elsewhere / "data").exists()
    # The key is in the server's database: listed from the server's folder too.
    listed = _tiergate(["keys", "list"], server_dir, tmp_path / "no-state")
    assert listed.returncode == 0 and "n8n" in listed.stdout


def test_with_database_url_any_folder_will_do(tmp_path):
    """Keys live in the DATABASE_URL's database (a PaaS one-off process has no data folder at all)."""
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    elsewhere = tmp_path / "one-off"
    elsewhere.mkdir()
    created = _tiergate(["keys", "create", "--name", "zapier", "--quiet"], elsewhere, tmp_path / "state",
                        DATABASE_URL=database)
    assert created.returncode == 0, created.stderr
    listed = _tiergate(["keys", "list"], tmp_path, tmp_path / "state", DATABASE_URL=database)
    assert "zapier" in listed.stdout
