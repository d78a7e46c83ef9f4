"""End to end in a real VS Code: code-server 4.100.3 (VS Code 1.100.3) with the packaged .vsix,
driven by headless Chromium (plugins/vscode/e2e/drive.js).

Not collected by the default suite (the file name does not start with ``test_``): it needs
code-server and Chromium and takes minutes. ``./scripts/e2e-vscode`` installs both and runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crowdcode_sdk.config import set_value
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.store import Store

from .lsp_harness import actions, replay

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "vscode"
INITIAL = "first line\n"
SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "git.enabled": False,
    "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
    "editor.suggestOnTriggerCharacters": False,
    "editor.acceptSuggestionOnEnter": "off",
    "editor.autoClosingBrackets": "never",
    "editor.autoClosingQuotes": "never",
    "editor.wordBasedSuggestions": "off",
    "editor.inlineSuggest.enabled": False,
    "files.autoSave": "off",
    "terminal.integrated.enablePersistentSessions": False,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vscode_extension_records_a_session_that_replays_to_the_saved_file(home, tmp_path):
    entry = os.environ.get("CROWDCODE_E2E_CODE_SERVER")
    if not entry:
        pytest.fail("run this through ./scripts/e2e-vscode (it installs code-server and Chromium)")
    workspace = tmp_path / "project"
    workspace.mkdir()
    notes = workspace / "notes.txt"
    notes.write_text(INITIAL)
    set_value(Locations.default(), "consent.status", "declined")  # no consent modal in the way
    user_data, extensions = tmp_path / "user-data", tmp_path / "extensions"
    (user_data / "User").mkdir(parents=True)
    # Only the .vsix: no crowdcode on PATH and no crowdcode.path, so the extension runs its bundled
    # recorder with the python3 it finds on PATH.
    (user_data / "User" / "settings.json").write_text(json.dumps(SETTINGS))
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    assert shutil.which("crowdcode", path=path) is None, "a crowdcode on PATH would stand in for the bundle"
    (tmp_path / "code-server.yaml").write_text("auth: none\n")
    env = {
        **os.environ,
        "PATH": path,
        "PYTHONPATH": "",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "EXTENSIONS_GALLERY": "{}",
    }
    common = [
        "--config",
        str(tmp_path / "code-server.yaml"),
        "--extensions-dir",
        str(extensions),
        "--user-data-dir",
        str(user_data),
    ]
    subprocess.run(
        ["node", entry, *common, "--install-extension", str(PLUGIN / "crowdcode.vsix")],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = open(tmp_path / "code-server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            "node",
            entry,
            *common,
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            str(workspace),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"code-server did not start: {(tmp_path / 'code-server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        out = tmp_path / "drive.json"
        drive = subprocess.run(
            [
                "node",
                "drive.js",
                f"http://127.0.0.1:{port}/?folder={workspace}",
                notes.name,
                str(tmp_path / "chromium"),
                str(out),
            ],
            cwd=PLUGIN / "e2e",
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        seen = json.loads(out.read_text())
        assert "error" not in seen, (seen, drive.stderr[-3000:])
        time.sleep(1.5)  # the journal is flushed every 500 ms
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    assert seen["statusLabels"][0].startswith("crowdcode: recording")
    assert "removed" in seen["notifications"][0]
    store = Store(Locations.default())
    sessions = [s for s in store.sessions() if s.metadata["adapter"] == "lsp"]
    events = [e for info in sessions for e in store.events(info)]
    metadata = next(e.payload.metadata for e in events if e.kind == "session_start")
    assert metadata.editor.host == "code-server"
    saved = notes.read_text()
    assert "hello é🎉 world" in saved and saved.endswith("!")
    assert replay(events, "notes.txt", INITIAL) == saved
    selections = actions(events, "selection")
    assert any(s.selected_text == "second line" for s in selections)
    assert actions(events, "panic")
    assert "file_save" in [e.kind for e in events]
    assert any(e.reason is not None and e.reason.value == "undo" for e in actions(events, "edit"))
    (command,) = actions(events, "terminal_command")
    assert command.command == "echo crowdcode-e2e; (exit 3)" and command.terminal_id == "terminal-1"
    (end,) = actions(events, "terminal_command_end")
    assert end.exit_code == 3 and end.terminal_id == "terminal-1"
    cast = next((Locations.default().data_dir / "sessions").glob("*/terminals/terminal-1.cast"))
    assert "crowdcode-e2e" in cast.read_text()
