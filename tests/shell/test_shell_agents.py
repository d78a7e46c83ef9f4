"""CLI agents in the foreground: sessions, prompts, responses and the live registry."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from shell_helpers import (
    actions,
    ended_sessions,
    forked_recorder,
    live_entry,
    only_session,
    python_program_on_path,
)

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

    info = only_session(ended=True)
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


def test_keys_typed_before_the_agent_is_seen_are_its_prompt(shell, claude_on_path: Path) -> None:
    """A prompt typed once the shell has started the agent's command, before the recorder's
    sampler has seen the agent (it samples at 10 Hz; here it is stopped meanwhile, as a loaded
    machine would delay it): it is the agent's first prompt, the agent having had the terminal
    since the shell's command-start mark; the command line typed at the shell is not."""
    s = shell()
    s.prompt()
    recorder = forked_recorder(s.child.pid)
    s.child.sendline("claude --model test")
    s.child.expect(r"\x1b\]6973;[0-9a-f]+;C;")  # the shell has run the command: its start is marked
    os.kill(recorder, signal.SIGSTOP)
    try:
        s.child.send("write a haiku\r")
        s.child.expect_exact("Answer: ukiah a etirw")  # output does not wait for the recorder
        s.child.expect_exact("agent> ")
    finally:
        os.kill(recorder, signal.SIGCONT)
    info = _leave(s)
    assert [p["text"] for p in actions(info, "agent_prompt")] == ["write a haiku", "/exit"]
    assert any("Answer: ukiah a etirw" in r["text"] for r in actions(info, "agent_response"))


def test_a_prompt_typed_ahead_with_the_command_line_in_zsh_is_the_agents(shell, claude_on_path: Path) -> None:
    """The agent's command line and its first prompt arrive in one read (typed ahead, or pasted)
    at zsh's prompt: zsh reads the line up to its Enter and the agent reads the rest, so the rest
    is the agent's first prompt, although the keys came before the command-start mark. (bash's
    readline reads such keys itself, for its next line.)"""
    s = shell("--", "zsh")
    s.prompt()
    s.child.send("claude --model test\rwrite a haiku\r")
    s.child.expect_exact("Answer: ukiah a etirw")
    s.child.expect_exact("agent> ")
    info = _leave(s)
    assert [p["text"] for p in actions(info, "agent_prompt")] == ["write a haiku", "/exit"]


def test_keys_typed_in_a_subshell_are_not_the_prompts_of_an_agent_it_starts(shell, claude_on_path: Path) -> None:
    """A command that is a shell of its own (`poetry shell`, `nix develop`): the agent started in
    it is not the first program of the outer command, so the keys typed into the subshell before
    it (its command line included) are not the agent's prompts."""
    s = shell()
    s.prompt()
    s.child.sendline("sh")
    time.sleep(0.5)  # the sampler sees the subshell
    s.child.sendline("echo in-$((6*7))")
    s.child.expect_exact("in-42")
    s.child.sendline("claude --model test")
    s.child.expect_exact("agent> ")
    time.sleep(0.3)
    s.child.send("write a haiku\r")
    s.child.expect_exact("Answer: ukiah a etirw")
    s.child.expect_exact("agent> ")
    info = _leave(s, shells=2)
    assert [p["text"] for p in actions(info, "agent_prompt")] == ["write a haiku", "/exit"]


def _leave(s, shells: int = 1):
    """``/exit`` the agent once its answer has settled, then each shell; the session, ended."""
    time.sleep(0.3)
    s.child.send("/exit\r")
    for _ in range(shells - 1):
        s.child.sendline("exit")
    s.prompt()
    s.child.sendline("exit")
    assert s.finish() == 0
    return only_session(ended=True)


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
    info = only_session(ended=True)
    assert [p["text"] for p in actions(info, "agent_prompt")] == ["hello"]
    (end,) = actions(info, "agent_session_end")
    assert end["agent"] == "claude" and end["exitCode"] == 0
    (command,) = actions(info, "terminal_command")  # the fallback: the program (as /proc has it)
    assert command["command"].endswith("/bin/claude")


BOXED_AGENT = r"""
import os, sys, time, tty, termios

# Draws like Claude Code: the transcript, then a bordered input box and a status line under it;
# bracketed paste on; the answer is streamed word by word.
out = sys.stdout
transcript = ["* Welcome to the boxed agent"]
line = ""

def draw():
    cols, rows = os.get_terminal_size()
    width = min(cols, 60)
    body = transcript[-(rows - 5):]
    out.write("\x1b[H\x1b[2J" + "\r\n".join(body) + "\r\n")
    out.write("╭" + "─" * (width - 2) + "╮\r\n")
    shown = line.replace("\n", " ⏎ ")
    out.write("│ > " + shown[: width - 6].ljust(width - 6) + " │\r\n")
    out.write("╰" + "─" * (width - 2) + "╯\r\n")
    out.write("  ? for shortcuts · model: stand-in · 0 tokens")
    out.flush()

fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setraw(fd)
out.write("\x1b[?2004h")
draw()
pasting = False
buffer = b""
try:
    while True:
        buffer += os.read(fd, 1024)
        while buffer:
            if buffer.startswith(b"\x1b[200~"):
                pasting, buffer = True, buffer[6:]
            elif buffer.startswith(b"\x1b[201~"):
                pasting, buffer = False, buffer[6:]
            elif buffer.startswith(b"\x1b") and len(buffer) < 6:
                break
            else:
                ch, buffer = buffer[:1].decode("latin-1"), buffer[1:]
                if ch == "\r" and not pasting:
                    prompt, line = line, ""
                    if prompt == "/exit":
                        raise SystemExit(0)
                    transcript.extend("> " + part for part in prompt.split("\n"))
                    draw()
                    words = ("Streamed answer to " + prompt.split("\n")[0] + " done").split()
                    transcript.append("●")
                    for word in words:
                        transcript[-1] += " " + word
                        draw()
                        time.sleep(0.05)
                    transcript.append("")
                elif ch in "\r\n":
                    line += "\n"
                elif ch == "\x7f":
                    line = line[:-1]
                elif ch >= " ":
                    line += ch
                draw()
finally:
    out.write("\x1b[?2004l\r\n")
    out.flush()
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
"""


def test_boxed_agent_in_tmux_in_a_recorded_terminal(shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """crowdcode shell -> tmux -> crowdcode shell -> an agent that draws like Claude Code. A
    two-line paste (tmux paste-buffer -p: bracketed) is one prompt, /exit is marked as the agent's
    command, and the response is the streamed answer without the input box or the status line.
    The pane's session has the agent; the outer one, which sees tmux, has none of its prompts."""
    import subprocess
    import uuid

    from shell_helpers import CROWDCODE, PROMPT

    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions

    python_program_on_path(tmp_path / "bin", "claude", BOXED_AGENT, monkeypatch)
    tmux = ["tmux", "-L", f"cc-{uuid.uuid4().hex[:8]}", "-f", "/dev/null"]
    s = shell()
    s.prompt()
    s.child.sendline(f"{' '.join(tmux)} new-session '{CROWDCODE} shell'")
    s.prompt()
    s.child.sendline("claude")
    s.child.expect_exact("? for shortcuts")
    deadline = time.monotonic() + 15
    while not any(e.get("foreground", {}).get("agent") == "claude" for e in live_sessions(Locations.default())):
        assert time.monotonic() < deadline, "the pane's recorder never saw the agent"
        time.sleep(0.05)
    subprocess.run([*tmux, "set-buffer", "explain this\nand that too"], check=True)
    subprocess.run([*tmux, "paste-buffer", "-p"], check=True)
    s.child.expect_exact("and that too")
    s.child.send("\r")
    s.child.expect_exact("explain this done")
    time.sleep(2)  # the answer settles (1.5 s without change) before the next prompt
    s.child.send("/exit\r")
    s.prompt()
    s.leave_tmux_pane()

    sessions = ended_sessions(2)
    inner, outer = sorted(sessions, key=lambda info: not actions(info, "agent_session_start"))
    assert not actions(outer, "agent_prompt")
    prompts = actions(inner, "agent_prompt")
    assert [(p["text"], p.get("command")) for p in prompts] == [("explain this\nand that too", None), ("/exit", True)]
    (response,) = actions(inner, "agent_response")
    assert "● Streamed answer to explain this done" in response["text"]
    assert "╭" not in response["text"] and "for shortcuts" not in response["text"]
    assert "> explain this" not in response["text"]
    assert PROMPT not in response["text"]
