"""The "always on" recipes of docs/shell.md, tried for real: tmux's default-command and a line in
the login shell's profile."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pexpect
from shell_helpers import CROWDCODE, PROMPT, actions, only_session


def test_tmux_default_command(user_home: Path, home: Path, tmp_path: Path) -> None:
    conf = tmp_path / "tmux.conf"
    conf.write_text(f'set -g default-command "{CROWDCODE} shell"\n')
    tmux = ["tmux", "-L", f"cc-{uuid.uuid4().hex[:8]}", "-f", str(conf)]
    try:
        subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24"], check=True, env=dict(os.environ))
        _wait(lambda: PROMPT.strip() in _capture(tmux))  # capture-pane trims trailing blanks
        subprocess.run([*tmux, "send-keys", "echo from-tmux-$((6*7))", "Enter"], check=True)
        _wait(lambda: "from-tmux-42" in _capture(tmux))
        subprocess.run([*tmux, "send-keys", "exit", "Enter"], check=True)
        _wait(lambda: subprocess.run([*tmux, "has-session"], capture_output=True).returncode != 0)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    only_session(ended=True)
    assert "echo from-tmux-$((6*7))" in [c["command"] for c in actions(only_session(ended=True), "terminal_command")]


def test_login_shell_line(user_home: Path, home: Path, tmp_path: Path) -> None:
    (user_home / ".bash_profile").write_text(
        f'[ -z "$CROWDCODE_SHELL" ] && [ -t 0 ] && exec {CROWDCODE} shell\n. ~/.bashrc\n'
    )
    login = pexpect.spawn("bash", ["-l"], env=dict(os.environ), cwd=str(tmp_path), timeout=15)
    login.expect_exact(PROMPT)
    login.sendline("echo login-$((1+1))")
    login.expect_exact("login-2")
    login.expect_exact(PROMPT)
    login.sendline("exit")
    login.expect(pexpect.EOF)
    assert "echo login-$((1+1))" in [c["command"] for c in actions(only_session(ended=True), "terminal_command")]


def _capture(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout


def _wait(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except AssertionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
