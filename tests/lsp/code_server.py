"""A private code-server (VS Code 1.100.3 in a browser) for the real-VS-Code test and the typing
benchmark: its own profile, with or without the packaged .vsix (and the test's stand-in agent
extension), on a free loopback port, stopped by a signal to its whole process group.
``./scripts/install-e2e-vscode`` installs it into the cache."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "vscode"
CACHE = Path(os.environ.get("CROWDCODE_E2E_DIR", ROOT / ".cache" / "e2e-vscode"))
ENTRY = CACHE / "code-server"
AGENT = CACHE / "agent.vsix"
"""plugins/vscode/e2e/agent: a command that applies a WorkspaceEdit, as an in-editor agent does."""
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
    "workbench.editor.enablePreview": False,  # a file opened from Quick Open keeps its tab
}


QUIET = ["--disable-telemetry", "--disable-update-check", "--disable-workspace-trust"]


class NotInstalled(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_env(base: Path) -> dict[str, str]:
    """The environment of code-server and the driver: private XDG dirs, and only the .vsix: no
    crowdcode on PATH (the venv's bin is left out) and no PYTHONPATH, so the extension runs its
    bundled recorder with the python3 it finds on PATH."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    assert shutil.which("crowdcode", path=path) is None, "a crowdcode on PATH would stand in for the bundle"
    return {
        **os.environ,
        "PATH": path,
        "PYTHONPATH": "",
        "XDG_CONFIG_HOME": str(base / "xdg-config"),
        "XDG_DATA_HOME": str(base / "xdg-data"),
        "EXTENSIONS_GALLERY": "{}",
    }


@contextlib.contextmanager
def code_server(
    base: Path,
    workspace: Path,
    *,
    extension: bool = True,
    agent: bool = False,
    others: Sequence[Path] = (),
    settings: Mapping[str, object] | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[str]:
    """Run code-server on ``workspace`` (its files under ``base``); yields the URL that opens it.
    ``others`` are more extensions' .vsix files to install (crowd-code 2.0 beside crowdcode), and
    ``settings`` more user settings. Leaving the block sends ``stop`` to code-server's whole
    process group (SIGINT: Ctrl+C in its terminal; SIGHUP: that terminal closed; SIGTERM: a
    service manager) and waits for it to exit."""
    vsixes = [PLUGIN / "crowdcode.vsix"] if extension else []
    vsixes += [AGENT] if agent else []
    vsixes += others
    if not ENTRY.exists() or not all(vsix.exists() for vsix in vsixes):
        raise NotInstalled(f"no code-server in {CACHE}: run ./scripts/install-e2e-vscode (./scripts/test does)")
    user_data, extensions = base / "user-data", base / "extensions"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(json.dumps({**SETTINGS, **(settings or {})}))
    (base / "code-server.yaml").write_text("auth: none\n")
    env = browser_env(base)
    common = ["--config", str(base / "code-server.yaml"), "--extensions-dir", str(extensions)]
    common += ["--user-data-dir", str(user_data)]
    if vsixes:
        subprocess.run(
            ["node", str(ENTRY), *common, *(arg for vsix in vsixes for arg in ("--install-extension", str(vsix)))],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    port = _free_port()
    log_path = base / "code-server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            ["node", str(ENTRY), *common, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none", *QUIET, str(workspace)],
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
                        raise RuntimeError(f"code-server did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/?folder={workspace}"
        finally:
            os.killpg(server.pid, stop)
            server.wait(timeout=30)
