"""Terminal-only work in a git repository: `crowdcode shell` records every file change on disk,
once, with who made it — and every live terminal on the workspace shares one watcher."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from shell_helpers import actions, only_session

from crowdcode_sdk import Store
from crowdcode_sdk.store import SessionInfo

STAND_IN_AGENT = """\
import os, sys, termios, tty
from pathlib import Path

def act(prompt):
    if prompt == "build it":
        Path("feature.py").write_text("def feature():\\n    return 42\\n")
        app = Path("app.py")
        app.write_text(app.read_text().replace("x = 1", "x = 2"))
        os.unlink("old.txt")

saved = termios.tcgetattr(0)
tty.setraw(0)
out = os.fdopen(1, "w")
out.write("\\x1b[?1049h\\x1b[?2004hagent> ")  # alternate screen, bracketed paste
out.flush()
pending = b""
while True:
    chunk = os.read(0, 1024)
    if not chunk:
        break
    pending += chunk
    if b"\\r" not in pending:
        continue
    line, _, pending = pending.partition(b"\\r")
    prompt = line.replace(b"\\x1b[200~", b"").replace(b"\\x1b[201~", b"").decode()
    if prompt == "/exit":
        break
    act(prompt)
    out.write("\\r\\ndone\\r\\nagent> ")
    out.flush()
termios.tcsetattr(0, termios.TCSADRAIN, saved)
out.write("\\x1b[?2004l\\x1b[?1049l")
out.flush()
"""

RUFF = str(Path(sys.executable).with_name("ruff"))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    (root / "app.py").write_text("x = 1\n")
    (root / "old.txt").write_text("old\n")
    (root / "notes.txt").write_text("alpha\n")
    (root / "fmt.py").write_text("def f( a ):\n  return a\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    git(root, "checkout", "-q", "-b", "other")
    (root / "branch.txt").write_text("on other\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "other")
    git(root, "checkout", "-q", "main")
    return root


@pytest.fixture
def agent_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "claude"
    script.write_text(f"#!{sys.executable}\n{STAND_IN_AGENT}")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return script


def changes(info: SessionInfo) -> list[dict]:
    return actions(info, "file_change")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """The owner decides a change after git settles and the journal flushes it: wait for it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def recorded(info: SessionInfo, count: int) -> Callable[[], bool]:
    return lambda: len(changes(info)) >= count


def test_terminal_only_work_is_captured_once_with_its_source(shell, repo: Path, agent_on_path: Path) -> None:
    s = shell(cwd=repo)
    s.prompt()
    wait_for(lambda: bool(Store().sessions()), "the recorder's session")
    info = only_session()
    wait_for(
        lambda: any(e.to_wire()["type"] == "workspace_snapshot" for e in Store().events(info)),
        "the start snapshot",
    )

    s.run("sed -i 's/alpha/beta/' notes.txt")
    wait_for(recorded(info, 1), "the sed change")

    s.child.sendline("claude")
    s.child.expect_exact("agent> ")
    s.child.send("\x1b[200~build it\x1b[201~\r")  # pasted, as a terminal pastes
    s.child.expect_exact("done")
    s.child.expect_exact("agent> ")
    wait_for(recorded(info, 4), "the agent's three changes")
    s.child.send("/exit\r")
    s.prompt()

    s.run(f"{RUFF} format --no-cache -q fmt.py")
    wait_for(recorded(info, 5), "the formatter's change")

    s.run("git checkout -q other")
    wait_for(recorded(info, 6), "the checkout")
    s.run("echo changed >> branch.txt")
    wait_for(recorded(info, 7), "the append")
    s.run("git stash -q")  # puts back every tracked file the session changed
    wait_for(recorded(info, 12), "the stash")
    s.child.sendline("exit")
    assert s.finish() == 0

    info = only_session(ended=True)
    found = changes(info)
    summary = [(c["file"], str(c["changeType"]), str(c["source"])) for c in found]
    assert [summary[0], *sorted(summary[1:4]), *summary[4:7], *sorted(summary[7:])] == [
        ("notes.txt", "change", "external"),
        ("app.py", "change", "agent"),
        ("feature.py", "create", "agent"),
        ("old.txt", "delete", "agent"),
        ("fmt.py", "change", "external"),
        ("branch.txt", "create", "git_checkout"),
        ("branch.txt", "change", "external"),
        ("app.py", "change", "git"),
        ("branch.txt", "change", "git"),
        ("fmt.py", "change", "git"),
        ("notes.txt", "change", "git"),
        ("old.txt", "create", "git"),
    ], summary
    assert "sed -i" in found[0]["evidence"]["command"]
    assert "-alpha\n+beta" in found[0]["diff"]
    assert {c["evidence"]["agent"] for c in found[1:4]} == {"claude"}
    assert "ruff format" in found[4]["evidence"]["command"]
    assert found[4]["diff"] is not None and "+def f(a):" in found[4]["diff"]
    assert "echo changed" in found[6]["evidence"]["command"]
    # A snapshot before the agent's batch (after the start snapshot), none before the others.
    kinds = [
        w["action"]["kind"] if w["type"] == "action" else w["type"] for w in (e.to_wire() for e in Store().events(info))
    ]
    kinds = [k for k in kinds if k in ("workspace_snapshot", "file_change")]
    assert kinds[:3] == ["workspace_snapshot", "file_change", "workspace_snapshot"], kinds
    assert kinds.count("workspace_snapshot") == 2, kinds
    # The last recorded text of each file is what is on disk.
    last = {c["file"]: c for c in found}
    for name, change in last.items():
        assert change["content"]["sha256"] == hashlib.sha256((repo / name).read_bytes()).hexdigest(), name
