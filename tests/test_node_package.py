"""The n8n node package is ready to publish and to install offline: ``npm pack`` gives the file the
README names, holding the built node and credential and nothing else; the compose file's n8n image
installs the same package."""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = json.loads((ROOT / "n8n-nodes" / "package.json").read_text())
PACKED_NAME = f"{PACKAGE['name']}-{PACKAGE['version']}.tgz"


def test_readmes_name_the_packed_file_and_the_install_paths():
    readme = (ROOT / "n8n-nodes" / "README.md").read_text()
    assert f"npm pack            # writes {PACKED_NAME}" in readme
    assert f"npm install --omit=peer ./{PACKED_NAME}" in readme
    assert "npm publish --access public" in readme  # the publish steps
    assert "docker-compose.yml" in readme
    assert f"/opt/tiergate/{PACKED_NAME}" in readme
    assert PACKAGE["n8n"]["nodes"] == ["dist/nodes/Tiergate/Tiergate.node.js"]
    assert "n8n-community-node-package" in PACKAGE["keywords"]


def test_npm_pack_gives_the_named_file_with_the_built_node(tmp_path):
    if not shutil.which("npm"):
        pytest.skip("npm is not installed")
    from tests.n8n.harness import pack_node_package

    tarball = pack_node_package(tmp_path / "packed", tmp_path / "npm.log")
    assert tarball.name == PACKED_NAME
    with tarfile.open(tarball) as packed:
        names = set(packed.getnames())
        manifest = json.loads(packed.extractfile("package/package.json").read())
    assert {"package/dist/nodes/Tiergate/Tiergate.node.js", "package/dist/credentials/TiergateApi.credentials.js",
            "package/package.json", "package/README.md"} <= names
    assert not [name for name in names if name.endswith(".ts") and not name.endswith(".d.ts")]  # no sources
    assert manifest["n8n"]["credentials"] == ["dist/credentials/TiergateApi.credentials.js"]
