"""The VS Code extension's own checks, run from pytest so that CI runs them: the TypeScript
compiles, Node's test runner passes its unit tests, and `npm run package` builds a .vsix whose
manifest Open VSX accepts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "vscode"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("npm") is None or not (PLUGIN / "node_modules").is_dir():
        pytest.fail("npm or plugins/vscode/node_modules is missing: run ./scripts/install")
    return subprocess.run(
        ["npm", *args],
        cwd=PLUGIN,
        env={**os.environ, "npm_config_yes": "true"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_typescript_compiles_and_unit_tests_pass():
    done = npm("test")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.M)
    assert passed and int(passed.group(1)) >= 15, output
    assert re.search(r"^# fail 0$", output, re.M), output


def test_package_builds_an_open_vsx_compatible_vsix(tmp_path):
    done = npm("run", "package")
    assert done.returncode == 0, done.stdout + done.stderr
    vsix = PLUGIN / "crowdcode.vsix"
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    assert {"extension.vsixmanifest", "extension/out/src/extension.js", "extension/LICENSE.txt"} <= names
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    assert not any(name.startswith(("extension/src/", "extension/e2e/", "extension/test/")) for name in names)
    # What Open VSX requires of a manifest: a publisher (namespace), name, version, license, engine.
    for key in ("publisher", "name", "version", "license", "repository"):
        assert manifest.get(key), key
    assert manifest["engines"]["vscode"].startswith("^1.")
    commands = {c["command"] for c in manifest["contributes"]["commands"]}
    assert {
        "crowdcode.start",
        "crowdcode.stop",
        "crowdcode.panic",
        "crowdcode.consent",
        "crowdcode.status",
        "crowdcode.openDataFolder",
    } <= commands
