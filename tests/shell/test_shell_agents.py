"""CLI agents in the foreground: sessions, prompts, responses and the live registry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from shell_helpers import actions, live_entry, only_session, python_program_on_path

FAKE_AGENT = """\
import sys
print("Welcome to the agent", flush=True)
while True:
    try:
        line = input("agent> ")
    except EOFError:
        break
    if line == "/exit":
        break
    print(f"Answer: {line[::-1]}", flush=True)
"""


@pytest.fixture
def claude_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for Claude Code: a program called `claude` run by an interpreter, as the real
    one is run by node."""
    return python_program_on_path(tmp_path / "bin", "claude", FAKE_AGENT, monkeypatch)


def test_agent_session_prompts_and_responses(shell, claude_on_path: Path, tmp_path: Path) -> None:
    s = shell()
    s.prompt()
    s.child.sendline("claude --model test")
    s.child.expect_exact("agent> ")
    entry = live_entry(lambda e: e["foreground"]["agent"] == "claude")
    assert entry["foreground"]["process"] == "claude"
    assert entry["foreground"]["cwd"] == str(tmp_path)
    s.child.send("write a haiku\r")  # Enter, as a terminal sends it
    s.child.expect_exact("Answer: ukiah a etirw")
    s.child.expect_exact("agent> ")
    time.sleep(0.3)
    s.child.send("fix teh")
    s.child.send("\x7f\x7f")  # backspace twice: "fix t"
    s.child.send("he bug\r")
    s.child.expect_exact("Answer: gub eht xif")
    s.child.expect_exact("agent> ")
    time.sleep(0.3)
    s.child.send("/exit\r")
    s.prompt()
    entry = live_entry(lambda e: "foreground" not in e and e["recent"])
    assert entry["recent"][-1]["agent"] == "claude"
    assert entry["recent"][-1]["command"] == "claude --model test"
    s.child.sendline("exit")
    s.finish()

    info = only_session()
    (start,) = actions(info, "agent_session_start")
    assert start["agent"] == "claude" and start["cwd"] == "."  # the workspace
    assert "claude" in start["command"]
    prompts = [p["text"] for p in actions(info, "agent_prompt")]
    assert prompts == ["write a haiku", "fix the bug", "/exit"]
    responses = [r["text"] for r in actions(info, "agent_response")]
    assert any("Answer: ukiah a etirw" in r for r in responses)
    assert any("Answer: gub eht xif" in r for r in responses)
    assert all(r["source"] == "agent" for r in actions(info, "agent_response"))
    (end,) = actions(info, "agent_session_end")
    assert end["agent"] == "claude"


def test_agent_as_the_terminal_command(shell, claude_on_path: Path) -> None:
    """`crowdcode shell -- claude`: the agent is the terminal's program; its exit status ends it."""
    s = shell("--", "claude")
    s.child.expect_exact("agent> ")
    time.sleep(0.3)
    s.child.send("hello\r")
    s.child.expect_exact("Answer: olleh")
    s.child.expect_exact("agent> ")
    s.child.sendeof()
    assert s.finish() == 0
    info = only_session()
    assert [p["text"] for p in actions(info, "agent_prompt")] == ["hello"]
    (end,) = actions(info, "agent_session_end")
    assert end["agent"] == "claude" and end["exitCode"] == 0
    (command,) = actions(info, "terminal_command")  # the fallback: the program (as /proc has it)
    assert command["command"].endswith("/bin/claude")
