"""The VS Code extension's own checks, run from pytest so that CI runs them: the TypeScript
compiles, Node's test runner passes its unit tests, and `npm run package` builds a .vsix whose
manifest Open VSX accepts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import IO

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


@pytest.fixture(scope="module")
def vsix() -> Path:
    """`npm run package`: the Python bundle (scripts/bundle-python), then vsce."""
    done = npm("run", "package")
    assert done.returncode == 0, done.stdout + done.stderr
    return PLUGIN / "crowdcode.vsix"


def test_package_builds_an_open_vsx_compatible_vsix(vsix: Path):
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    assert {"extension.vsixmanifest", "extension/out/src/extension.js", "extension/LICENSE.txt"} <= names
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    assert not any(name.startswith(("extension/src/", "extension/e2e/", "extension/test/")) for name in names)
    assert {"extension/bundled/tool/crowdcode_lsp.py", "extension/bundled/libs/crowdcode_lsp/server.py"} <= names
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


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _read_message(stream: IO[bytes]) -> dict:
    length = None
    while (line := stream.readline().strip()) != b"":
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    assert length is not None
    return json.loads(stream.read(length))


def test_the_vsix_runs_its_bundled_recorder_with_a_plain_python(vsix: Path, home, tmp_path):
    """What the extension does with no crowdcode installed: the interpreter it finds (here the base
    Python, without this venv or checkout on its path) runs bundled/tool/crowdcode_lsp.py."""
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(tmp_path / "vsix")
    script = tmp_path / "vsix" / "extension" / "bundled" / "tool" / "crowdcode_lsp.py"
    python = getattr(sys, "_base_executable", sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    check = subprocess.run([python, str(script), "--check"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert json.loads(check.stdout) == {
        "ok": True,
        "missing": [],
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
    }
    server = subprocess.Popen(
        [python, str(script)], cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdin and server.stdout
    try:
        server.stdin.write(
            _frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}, "rootUri": None}})
        )
        server.stdin.flush()
        reply = _read_message(server.stdout)
        assert reply["id"] == 1 and "capabilities" in reply["result"]
        server.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        server.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
        server.stdin.close()
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
