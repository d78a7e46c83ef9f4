"""Shell integration for zsh and fish (bash is covered in test_shell_session), and the fallback
where no integration runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from shell_helpers import actions, only_session


@pytest.mark.parametrize("shell_name", ["zsh", "fish"])
def test_commands_from_zsh_and_fish(shell, shell_name: str, tmp_path: Path, user_home: Path) -> None:
    path = shutil.which(shell_name)
    assert path is not None, f"{shell_name} missing: scripts/install --test installs it"
    (tmp_path / "sub").mkdir()
    s = shell("--", path)
    s.prompt()
    s.run("echo hello")
    s.run("cd sub")
    s.run("false")
    s.child.sendline("exit")
    assert s.finish() == 1  # `exit` keeps the last command's status
    info = only_session(ended=True)
    starts = actions(info, "terminal_command")
    ends = actions(info, "terminal_command_end")
    assert [c["command"] for c in starts] == ["echo hello", "cd sub", "false", "exit"]
    assert [c["cwd"] for c in starts] == [".", ".", "sub", "sub"]
    assert [e["exitCode"] for e in ends][:3] == [0, 0, 1]


def test_user_rc_files_are_untouched_and_still_run(shell, user_home: Path) -> None:
    (user_home / ".bashrc").write_text((user_home / ".bashrc").read_text() + "export FROM_RC=yes\n")
    before = {p: p.read_bytes() for p in user_home.rglob("*") if p.is_file()}
    s = shell()
    s.prompt()
    s.child.sendline("echo rc-$FROM_RC")
    s.child.expect_exact("rc-yes")
    s.prompt()
    s.child.sendline("exit")
    s.finish()
    assert {p: p.read_bytes() for p in user_home.rglob("*") if p.is_file() and p in before} == before


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("sleep 0.6", "sleep 0.6"),
        # The shell's child has the shell's own command line until it execs the command, and on
        # a busy machine a sample can fall in between (``bash --norc --noprofile`` was recorded
        # instead of ``sleep 0.6`` under CI): a subshell that runs ``sleep 0.4`` before its
        # ``exec`` holds that state long enough to be sampled every time.
        ("( sleep 0.4; exec sleep 0.8 )", "sleep 0.8"),
    ],
)
def test_fallback_without_integration_records_foreground_programs(shell, line: str, command: str) -> None:
    """`bash --norc` (integration declined): commands come from the foreground process group,
    each the program the shell's child execs."""
    s = shell("--", "bash", "--norc", "--noprofile")
    s.child.expect(r"[$#] ")
    s.child.sendline(line)
    s.child.expect(r"[$#] ")
    s.child.sendline("exit")
    s.finish()
    info = only_session(ended=True)
    assert [c["command"] for c in actions(info, "terminal_command")] == [command]
    (end,) = actions(info, "terminal_command_end")
    assert end["exitCode"] is None and end["durationMs"] >= 400


@pytest.mark.parametrize("login", [False, True])
@pytest.mark.parametrize("user_zdotdir", [False, True])
def test_zsh_leaves_no_variables_of_ours_behind(
    shell, login: bool, user_zdotdir: bool, user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After start-up, zsh's programs see ZDOTDIR as the user had it (unset, or their own) and
    none of the integration's variables; the user's .zshrc still ran."""
    expected = "unset"
    if user_zdotdir:
        own = user_home / "zdot"
        own.mkdir()
        (own / ".zshrc").write_text((user_home / ".zshrc").read_text())
        monkeypatch.setenv("ZDOTDIR", str(own))
        expected = str(own)
    s = shell("--", "zsh", *(["-l"] if login else []))
    s.prompt()
    s.child.sendline("echo zd=${ZDOTDIR-unset} ours=$(env | grep -c -e CROWDCODE_USER_ZDOTDIR -e INTEGRATION_DIR)")
    s.child.expect(r"zd=(\S+) ours=(\d+)")
    assert (s.child.match.group(1).decode(), s.child.match.group(2).decode()) == (expected, "0")
    s.prompt()
    s.child.sendline("exit")
    assert s.finish() == 0
    assert "echo zd=${ZDOTDIR-unset}" in actions(only_session(ended=True), "terminal_command")[0]["command"]


def test_fish_status_of_background_and_stopped_jobs(shell) -> None:
    """fish leaves $status stale for `cmd &` and for a job stopped with Ctrl-Z; the recording has
    what bash reports: 0, and 128+SIGTSTP."""
    from shell_helpers import wait_for_process

    s = shell("--", "fish")
    s.prompt()
    s.run("false")
    s.run("sleep 30 &")
    s.run("false")
    s.child.sendline("sleep 31")
    wait_for_process("sleep", "31", under=s.child.pid)
    s.child.sendcontrol("z")
    s.prompt()
    s.run("kill -9 (jobs -p)")
    s.child.sendline("exit")
    s.finish()
    info = only_session(ended=True)
    starts = [c["command"] for c in actions(info, "terminal_command")]
    codes = [e["exitCode"] for e in actions(info, "terminal_command_end")]
    assert starts[:4] == ["false", "sleep 30 &", "false", "sleep 31"]
    assert codes[:4] == [1, 0, 1, 148]
