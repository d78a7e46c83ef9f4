"""`crowdcode shell` around real bash: commands, cwd, exit codes, passwords, signals, the terminal."""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from shell_helpers import (
    CROWDCODE,
    PROMPT,
    Shell,
    actions,
    cast_file,
    ended_sessions,
    forked_recorder,
    live_entry,
    only_session,
    screens,
    wait_for_process,
)

from crowdcode_sdk import Store


def test_bash_commands_cwd_and_exit_codes(shell, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    s = shell(cwd=work)
    s.prompt()
    s.run("echo hello")
    s.run("cd sub")
    s.run("ls /nonexistent-dir")
    s.run("sh -c 'exit 7'")
    s.run("echo again")
    s.run("echo again")  # a repeat: HISTCONTROL=ignoredups keeps it out of history
    s.run(" echo private")  # HISTCONTROL=ignorespace: the user keeps it out of history
    entry = live_entry(lambda e: len(e["recent"]) >= 6)
    assert entry["cwd"] == str(work / "sub")
    assert "foreground" not in entry  # the shell itself has the terminal
    assert [r["command"] for r in entry["recent"]][:2] == ["echo hello", "cd sub"]
    s.child.sendline("exit 4")
    assert s.finish() == 4

    info = only_session(ended=True)
    starts = actions(info, "terminal_command")
    ends = actions(info, "terminal_command_end")
    commands = ["echo hello", "cd sub", "ls /nonexistent-dir", "sh -c 'exit 7'", "echo again", "echo again", "exit 4"]
    assert [c["command"] for c in starts] == commands
    assert [c["cwd"] for c in starts][:3] == [".", ".", "sub"]  # relative to the workspace
    assert [e["exitCode"] for e in ends] == [0, 0, 2, 7, 0, 0, None]
    assert ends[1]["cwd"] == "sub"  # where `cd` left the shell
    assert all(e["durationMs"] >= 0 for e in ends)
    typed = "".join(a["data"] for a in actions(info, "terminal_input"))
    assert "echo hello" in typed


def test_passwords_are_never_recorded(shell, home: Path, tmp_path: Path) -> None:
    s = shell()
    s.prompt()
    # (the prompts are split in the command lines so that their echo does not look like them)
    s.child.sendline('read -s -p "bash pass""word: " secret; echo "len=${#secret}"')
    s.child.expect_exact("bash password: ")
    s.child.sendline("hunter2-bash")
    s.child.expect_exact("len=12")
    s.prompt()
    s.child.sendline(f'{sys.executable} -c \'import getpass; print(len(getpass.getpass("py pass" + "word: ")))\'')
    s.child.expect_exact("py password: ")
    s.child.sendline("correct-horse-py")
    s.child.expect_exact("16")
    s.prompt()
    _quit_with_secrets_nowhere(s, home, "visible-input", b"hunter2", b"correct-horse")


def _quit_with_secrets_nowhere(s: Shell, home: Path, visible: str, *secrets: bytes) -> str:
    """Echo ``visible`` and exit (status 0): the one session ends with ``visible`` among the
    recorded input, and none of ``secrets`` (typed at password prompts) is in any file of the
    crowdcode home. The recorded input."""
    s.run(f"echo {visible}")
    s.child.sendline("exit")
    assert s.finish() == 0
    info = only_session(ended=True)
    typed = "".join(a["data"] for a in actions(info, "terminal_input"))
    assert visible in typed, actions(info)  # input is recorded …
    for path in home.rglob("*"):  # … but the passwords appear nowhere
        if path.is_file():
            data = path.read_bytes()
            assert not [secret for secret in secrets if secret in data], path
    return typed


def _rest_of(fd: int) -> bytes:
    """What the terminal ``fd`` still shows until it ends: EIO (or EOF) once the program on the
    other side has closed it, or 30 s without any output."""
    rest = b""
    while select.select([fd], [], [], 30)[0]:
        try:
            data = os.read(fd, 1 << 20)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        rest += data
    return rest


def test_exit_status_of_a_killed_child(shell) -> None:
    s = shell("--", "sh", "-c", "kill -TERM $$")
    assert s.finish() == 128 + 15
    s = shell("--", "sh", "-c", "exit 5")
    assert s.finish() == 5


def test_ctrl_c_ctrl_z_fg_and_ctrl_d_pass_through(shell) -> None:
    s = shell()
    s.prompt()
    s.child.sendline("sleep 30")
    wait_for_process("sleep", "30", under=s.child.pid)
    s.child.sendcontrol("c")
    s.prompt()
    s.child.sendline("sleep 31")
    wait_for_process("sleep", "31", under=s.child.pid)
    s.child.sendcontrol("z")
    s.child.expect("Stopped")
    s.prompt()
    s.child.sendline("fg")
    s.child.expect_exact("sleep 31")
    time.sleep(0.3)
    s.child.sendcontrol("c")
    s.prompt()
    s.child.sendcontrol("d")
    assert s.finish() == 130  # bash exits on Ctrl-D with the last command's status
    info = only_session(ended=True)
    ends = [(e["command"], e["exitCode"]) for e in actions(info, "terminal_command_end")]
    starts = [e["command"] for e in actions(info, "terminal_command")]
    assert ends == [("sleep 30", 130), ("sleep 31", 148), ("fg", 130)], (starts, s.shown.getvalue()[-2000:])


def test_ctrl_c_stops_a_flood(shell) -> None:
    """While the wrapper passes a flood on burst by burst, typed keys still get through at once."""
    s = shell()
    s.prompt()
    s.child.sendline("yes flooding")
    s.child.expect_exact("flooding\r\nflooding\r\nflooding")
    s.child.sendcontrol("c")
    s.prompt()
    s.child.sendline("exit 0")
    assert s.finish() == 0
    ends = actions(only_session(ended=True), "terminal_command_end")
    assert (ends[0]["command"], ends[0]["exitCode"]) == ("yes flooding", 130)


def test_resize_is_forwarded_and_recorded(shell) -> None:
    s = shell()
    s.prompt()
    s.run("stty size")
    s.child.setwinsize(30, 100)
    time.sleep(0.3)
    s.child.sendline("stty size")
    s.child.expect_exact("30 100")
    s.prompt()
    s.child.sendline("exit")
    s.finish()
    resizes = actions(only_session(ended=True), "terminal_resize")
    assert [(r["cols"], r["rows"]) for r in resizes] == [(80, 24), (100, 30)]
    events = [line for line in cast_file(only_session(ended=True)).read_text().splitlines() if '"r"' in line]
    assert events and events[-1].endswith('"r","100x30"]')
    last = screens(only_session(ended=True))[-1]  # the emulator was resized too
    assert (last["cols"], last["rows"], len(last["viewport"])) == (100, 30, 30)
    assert "30 100" in last["viewport"]


def test_terminal_settings_restored(shell, tmp_path: Path) -> None:
    """`stty -g` in the user's terminal is the same before and after, also after a kill."""
    outer = pexpect.spawn("/bin/sh", env={**os.environ, "PS1": "$ "}, timeout=15, cwd=str(tmp_path))
    outer.expect_exact("$ ")
    outer.sendline("stty -g > before; " + CROWDCODE + " shell -- sh -c 'stty raw -echo; exit 0'; stty -g > after")
    outer.expect_exact("$ ")
    outer.sendline(CROWDCODE + " shell -- sh -c 'kill -KILL $$'; stty -g > after-kill")
    outer.expect_exact("$ ")
    # the wrapper itself terminated (its child's parent is the wrapper): the interactive shell
    # inside gets SIGHUP, as from a closing window, and the terminal is restored
    outer.sendline(
        CROWDCODE + " shell -- bash -i -c 'stty raw -echo; kill -TERM $PPID; sleep 10'; stty -g > after-term"
    )
    outer.expect_exact("$ ")
    outer.sendline("exit")
    outer.expect(pexpect.EOF)
    before = (tmp_path / "before").read_text()
    assert before == (tmp_path / "after").read_text()
    assert before == (tmp_path / "after-kill").read_text()
    assert before == (tmp_path / "after-term").read_text()


def test_binary_output_is_stored_losslessly(shell) -> None:
    from crowdcode_shell.asciicast import read_output

    payload = bytes(range(256)) * 4 + "héllo wörld ✓ 😀".encode() + b"\xff\xfe\xc3"
    script = f"import sys; sys.stdout.buffer.write({payload!r}); sys.stdout.flush()"
    s = shell("--", sys.executable, "-c", script)
    assert s.finish() == 0
    raw = b"".join(data for _, data in read_output(cast_file(only_session(ended=True))))
    # the PTY turns \n into \r\n (onlcr): that is what the terminal received
    assert raw == payload.replace(b"\n", b"\r\n")


def test_stdin_not_a_terminal(home: Path, user_home: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [CROWDCODE, "shell", "--", "sh"],
        input=b"echo piped-$((6*7))\nexit 3\n",
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert b"piped-42" in result.stdout
    assert b"piped-42" in cast_file(only_session(ended=True)).read_bytes()


@pytest.mark.parametrize(
    ("shell_name", "line"),
    [
        ("bash", "echo piped-$((6*7))"),
        ("zsh", "echo piped-$((6*7))"),
        ("fish", "echo piped-(math 6 \\* 7)"),
        ("sh", "echo piped-$((6*7))"),
    ],
)
def test_piped_input_ends_the_shell(shell_name: str, line: str, home: Path, user_home: Path, tmp_path: Path) -> None:
    """``echo CMD | crowdcode shell -- SHELL`` runs the command and ends, as with script(1): the
    end of the input reaches the shell when it reads, not before."""
    result = subprocess.run(
        [CROWDCODE, "shell", "--", shell_name],
        input=f"{line}\n".encode(),
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert b"piped-42" in result.stdout
    assert b"piped-42" in cast_file(only_session(ended=True)).read_bytes()


def test_the_child_gets_default_signal_dispositions(home: Path, user_home: Path, tmp_path: Path) -> None:
    """Started from a parent that ignores SIGINT (a background job) and from Python (which
    ignores SIGPIPE), the user's programs must still see every signal at its default."""
    result = subprocess.run(
        [CROWDCODE, "shell", "--", "sh", "-c", "grep SigIgn /proc/self/status; yes | head -n 1"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert result.returncode == 0
    assert b"SigIgn:\t0000000000000000" in result.stdout
    assert b"Broken pipe" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("no-such-program", "command not found"),
        ("./not-executable", "Permission denied"),
        ("./a-directory", "Is a directory"),
    ],
)
def test_a_program_that_cannot_run_is_one_line_and_127(
    program: str, reason: str, home: Path, user_home: Path, tmp_path: Path
) -> None:
    """In a real terminal: one line from the wrapper (never written into the child's terminal as
    if the child had said it), exit status 127 as a shell gives, no session, the terminal's
    settings untouched."""
    (tmp_path / "not-executable").write_text("echo never\n")
    (tmp_path / "a-directory").mkdir()
    child = pexpect.spawn(CROWDCODE, ["shell", "--", program], cwd=str(tmp_path), env=dict(os.environ), timeout=15)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 127
    lines = child.before.decode().splitlines()  # after the first start's consent line
    assert lines[-1] == f"crowdcode shell: cannot run {program}: {reason}"
    assert [line for line in lines if "cannot run" in line or "never" in line] == lines[-1:]
    assert Store().sessions() == []


def test_the_child_has_its_argv_and_window_size_before_it_starts(shell) -> None:
    """``$0`` is the program as the user named it (not a path put in its place), and the first
    thing the child does already sees the terminal's size."""
    s = shell("--", "sh", "-c", 'echo "zero=$0"; stty size', size=(30, 100))
    s.child.expect_exact("zero=sh")
    s.child.expect_exact("30 100")
    assert s.finish() == 0
    assert only_session(ended=True)


def test_nested_shell_records_once(shell) -> None:
    s = shell()
    s.prompt()
    s.child.sendline(f"{CROWDCODE} shell")
    s.prompt()
    s.run("echo inner-$((40+2))")
    s.child.sendline("exit")
    s.prompt()
    s.child.sendline("exit")
    assert s.finish() == 0
    info = only_session(ended=True)  # one session, not two
    commands = [c["command"] for c in actions(info, "terminal_command")]
    assert "echo inner-$((40+2))" in commands  # the inner shell's commands reach the outer recorder
    assert PROMPT in cast_file(info).read_text()


def test_a_failing_recorder_never_costs_the_session(user_home: Path, tmp_path: Path, monkeypatch) -> None:
    """The data directory cannot be created: the shell works as usual, and one line after it says
    that the recording is incomplete. (The wrapper does not wait for its recorder: it reports
    what the recorder has said by the time the shell ends; here, once the recorder has exited.)"""
    root = tmp_path / "broken-home"
    root.mkdir()
    (root / "data").write_text("not a directory")
    monkeypatch.setenv("CROWDCODE_HOME", str(root))
    child = pexpect.spawn(CROWDCODE, ["shell"], env=dict(os.environ), cwd=str(tmp_path), timeout=15)
    child.expect_exact(PROMPT)
    child.sendline("echo still-$((20+1))")
    child.expect_exact("still-21")
    deadline = time.monotonic() + 30
    children = Path(f"/proc/{child.pid}/task/{child.pid}/children")

    def running(pid: str) -> bool:
        with contextlib.suppress(OSError):
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        return False

    while len([pid for pid in children.read_text().split() if running(pid)]) > 1:  # the recorder gives up
        assert time.monotonic() < deadline, "the recorder never gave up"
        time.sleep(0.05)
    child.sendline("exit 6")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6
    tail = child.before.decode().splitlines()[-1]
    assert tail.startswith("crowdcode shell: recording incomplete: recorder failed")


def test_a_broken_config_still_gives_a_shell(user_home: Path, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "home-with-bad-config"
    root.mkdir()
    (root / "config.toml").write_text("this is not toml = = =")
    monkeypatch.setenv("CROWDCODE_HOME", str(root))
    child = pexpect.spawn(CROWDCODE, ["shell", "--", "sh", "-c", "echo ran-$((1+2))"], env=dict(os.environ))
    child.expect_exact("not recording")
    child.expect_exact("ran-3")
    child.expect(pexpect.EOF)


def test_terminal_answerbacks_are_not_recorded_as_input(shell) -> None:
    """A program asks the terminal for the cursor position; the terminal's reply reaches the
    program but is not recorded as typing."""
    script = (
        "import sys, tty, termios\n"
        "fd = sys.stdin.fileno(); saved = termios.tcgetattr(fd); tty.setraw(fd)\n"
        "sys.stdout.write('\\x1b[6n'); sys.stdout.flush()\n"
        "reply = b''\n"
        "while not reply.endswith(b'R'): reply += sys.stdin.buffer.read(1)\n"
        "typed = b''\n"
        "while not typed.endswith(b'\\r'): typed += sys.stdin.buffer.read(1)\n"
        "termios.tcsetattr(fd, termios.TCSADRAIN, saved)\n"
        "print('reply', reply[1:].decode(), 'typed', typed.decode().strip())\n"
    )
    s = shell("--", sys.executable, "-c", script)
    s.child.expect_exact("\x1b[6n")
    s.child.send("\x1b[5;10R")  # what the terminal answers
    time.sleep(0.2)
    s.child.send("typed-text\r")
    s.child.expect_exact("reply [5;10R typed typed-text")
    assert s.finish() == 0
    typed = "".join(a["data"] for a in actions(only_session(ended=True), "terminal_input"))
    assert typed == "typed-text\r"


def test_a_stuck_recorder_never_holds_the_terminal_back(shell) -> None:
    """The recorder stops (SIGSTOP) for good while 70 MB are printed: once it has taken nothing
    for the stall bound, the output reaches the terminal in full and the session ends while the
    recorder is still stopped; after the session one line says how much was not recorded and why,
    and the recording is what the recorder took before it stopped, then a gap to the end."""
    import signal

    from crowdcode_shell.asciicast import read_output
    from crowdcode_shell.channel import STALL_S

    flood = "sleep 1; head -c 70000000 /dev/zero | tr '\\0' x; echo; echo flood-done; sleep 0.3"
    s = shell("--", "sh", "-c", flood)
    recorder_pid = live_entry(lambda e: e["pid"])["pid"]
    os.kill(recorder_pid, signal.SIGSTOP)
    fd, seen, shown = s.child.child_fd, 0, bytearray()
    try:
        while b"flood-done" not in shown[-200:]:
            assert select.select([fd], [], [], STALL_S + 5)[0], "the terminal waited for a stopped recorder"
            data = os.read(fd, 1 << 20)
            seen += data.count(b"x")
            shown += data
        shown += _rest_of(fd)  # to the end of the session: the recorder is still stopped
    finally:
        os.kill(recorder_pid, signal.SIGCONT)
    assert seen == 70_000_000
    message = shown.rindex(b"crowdcode shell: recording incomplete:")
    last = shown[message:].decode().strip()
    assert "not recorded" in last and "\n" not in last, last
    deadline = time.monotonic() + 30  # the recorder may still be saving after the wrapper left
    while only_session().end is None:
        assert time.monotonic() < deadline, "the recorder never finished the session"
        time.sleep(0.1)
    assert f"the recorder took nothing for {STALL_S:g} s" in last, last
    info = only_session(ended=True)
    recorded = b"".join(data for _, data in read_output(cast_file(info)))
    assert recorded == shown[: len(recorded)] and len(recorded) < message  # what it took before it stopped
    reasons = [gap["reason"] for gap in actions(info, "recording_gap")]
    assert reasons == ["the end of the terminal's I/O did not reach the recorder"]


SMALL_CHANNEL = """from crowdcode_shell import channel
defaults = channel.ChannelWriter.__init__.__defaults__
channel.ChannelWriter.__init__.__defaults__ = (1 << 20, *defaults[1:])
"""


def test_a_recorder_stopped_for_a_while_loses_nothing_of_a_flood(shell, tmp_path: Path, monkeypatch) -> None:
    """The recorder is stopped (SIGSTOP) for 2 s from the start of 15 MB of ``seq``, with the channel's
    buffer made 1 MiB (a ``sitecustomize`` in the wrapper) so that far more than the pipe and the
    buffer hold arrives meanwhile, on any machine: the wrapper stops reading the program instead
    of dropping, so the terminal shows the flood byte for byte and the cast holds every byte of
    it, with no gap and no closing message."""
    from crowdcode_shell.asciicast import read_output

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SMALL_CHANNEL)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    lines = 2_000_000
    s = shell("--", "sh", "-c", f"read ready; read go; seq 1 {lines}; echo flood-done")
    recorder_pid = live_entry(lambda e: e["pid"])["pid"]
    s.child.send("ready\r")
    s.child.expect_exact("ready\r\n")  # keys pass: the recorder is ready
    fd, shown = s.child.child_fd, bytearray()
    os.kill(recorder_pid, signal.SIGSTOP)
    s.child.send("go\r")  # the flood starts now
    resume_at = time.monotonic() + 2
    try:
        while time.monotonic() < resume_at:
            if select.select([fd], [], [], max(0.0, resume_at - time.monotonic()))[0]:
                shown += os.read(fd, 1 << 20)
    finally:
        os.kill(recorder_pid, signal.SIGCONT)
    while b"flood-done" not in shown[-200:]:
        assert select.select([fd], [], [], 10)[0], "the terminal got no output for 10 s"
        shown += os.read(fd, 1 << 20)
    shown += _rest_of(fd)
    s.child.close()
    expected = b"go\r\n" + b"".join(b"%d\r\n" % n for n in range(1, lines + 1)) + b"flood-done\r\n"
    # byte-exact, and no closing message (before it, the terminal may echo "ready" again itself if
    # the key came before the wrapper put it in raw mode)
    assert bytes(shown).endswith(expected)
    deadline = time.monotonic() + 60  # the recorder may still be saving after the wrapper left
    while only_session().end is None:
        assert time.monotonic() < deadline, "the recorder never finished the session"
        time.sleep(0.1)
    info = only_session(ended=True)
    assert not actions(info, "recording_gap")
    assert b"".join(data for _, data in read_output(cast_file(info))) == b"ready\r\n" + expected


LATE_RECORDER = """import os, time

forks = 0


def counted():
    global forks
    forks += 1


def late():
    if forks == 1:  # the wrapper's second fork: the first started the program
        time.sleep(2)


os.register_at_fork(after_in_parent=counted, after_in_child=late)
"""
"""The recorder does not run for two seconds after the wrapper forks it, as on a loaded machine."""


def test_a_recorder_that_runs_only_after_a_short_program_is_over_records_it(
    shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The program is over, the wrapper has left and the terminal has hung up before the forked
    recorder first runs: the hang-up reaches the wrapper's process group, in which the recorder is
    until its ``setsid``. It records the session all the same."""
    from crowdcode_shell.asciicast import read_output

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LATE_RECORDER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    s = shell("--", "sh", "-c", "echo over-at-once")
    s.child.expect_exact("over-at-once")
    assert s.finish() == 0
    info = only_session(ended=True)
    assert b"".join(data for _, data in read_output(cast_file(info))) == b"over-at-once\r\n"


LONG_WAITS = """from crowdcode_shell import pty_loop, spool

pty_loop.HOLD_INPUT_S = 120.0
spool.MAX_DEFER_S = 120.0
spool.MAX_DEFER_BYTES = 4 << 30
spool.FLOOD_BYTES = 1
spool.WINDOW_S = 1.0
"""
"""A test reading the terminal on a loaded machine gets a few MB/s out of a flood: every output is
made one (a pause of a second of the loaded machine is no calm), and deferring and holding keys
last two minutes (or 4 GiB), in the processes the test starts."""


def test_ctrl_c_in_a_flood_at_the_start_reaches_the_program_and_all_of_it_is_recorded(
    shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``crowdcode shell -- yes``: the recorder takes the flood into its spool before it sets itself
    up, which would wait for the flood to end (here: for two minutes at most, and keys would wait as
    long). A Ctrl-C typed a second in makes it set up at once, and stops ``yes``; the cast holds
    every byte the terminal showed."""
    from crowdcode_shell.asciicast import read_output

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LONG_WAITS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    s = shell("--", "yes")
    shown = hashlib.sha256()
    size = 0

    def read_for(seconds: float) -> bool:
        nonlocal size
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                data = s.child.read_nonblocking(1 << 20, timeout=1)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return True
            shown.update(data)
            size += len(data)
        return False

    assert not read_for(1.0)
    s.child.send("\x03")
    assert read_for(20.0), "the Ctrl-C did not stop the flood within 20 s"
    assert s.finish() == 130
    assert size > 1 << 20
    info = only_session(ended=True)
    recorded = hashlib.sha256()
    for _, data in read_output(cast_file(info)):
        recorded.update(data)
    assert recorded.hexdigest() == shown.hexdigest()


def test_output_passes_while_the_recorder_starts_and_keys_wait_for_it(shell) -> None:
    """The recorder is stopped (SIGSTOP) before it is ready — it has not even registered the
    session: the program's output reaches the terminal at once, a key typed meanwhile reaches the
    program only once the recorder runs again, and both are recorded, in order."""
    from crowdcode_shell.asciicast import read_output

    from crowdcode_sdk import Locations

    s = shell("--", "sh", "-c", "echo started-$((6*7)); read line; echo got-$line")
    recorder = forked_recorder(s.child.pid)
    os.kill(recorder, signal.SIGSTOP)
    stopped = time.monotonic()  # keys are held for 5 s at most from just before this
    try:
        live = Locations.default().live_dir
        assert not (live.is_dir() and list(live.glob("*.json"))), "stopped too late: the recorder was ready"
        s.child.expect_exact("started-42", timeout=3)  # output does not wait for the recorder
        s.child.send("k\r")  # now: the loop runs, the terminal is in raw mode
        with pytest.raises(pexpect.TIMEOUT):  # the key does (the program would echo it and answer)
            s.child.expect_exact("got-k", timeout=stopped + 4 - time.monotonic())
    finally:
        os.kill(recorder, signal.SIGCONT)
    s.child.expect_exact("got-k")
    assert s.finish() == 0
    info = only_session(ended=True)
    raw = b"".join(data for _, data in read_output(cast_file(info)))
    assert raw.index(b"started-42") < raw.index(b"k\r\n") < raw.index(b"got-k")
    assert "".join(a["data"] for a in actions(info, "terminal_input")) == "k\r"


def test_a_flood_is_recorded_byte_for_byte_and_its_command_after_it(shell) -> None:
    """15 MB of ``seq``: handled by the recorder after the flood (spool.py), losslessly, with the
    command's end and the screen after it; the spool file is gone at the end."""
    from crowdcode_shell.asciicast import read_output

    s = shell()
    s.child.maxread = 1 << 20  # read as a terminal does, or the flood is no flood
    s.prompt()
    s.child.sendline("seq 1 2000000; echo flood-$((6*7))")
    s.child.expect_exact("flood-42", timeout=60, searchwindowsize=8192)
    s.prompt()
    s.run("echo after-$((1+1))")
    s.child.sendline("exit 0")
    assert s.finish() == 0
    info = only_session(ended=True)
    raw = b"".join(data for _, data in read_output(cast_file(info)))
    assert b"".join(b"%d\r\n" % i for i in range(1, 2_000_001)) + b"flood-42\r\n" in raw
    ends = actions(info, "terminal_command_end")
    assert [(e["command"], e["exitCode"]) for e in ends][:2] == [
        ("seq 1 2000000; echo flood-$((6*7))", 0),
        ("echo after-$((1+1))", 0),
    ]
    assert any("after-2" in line for frame in screens(info) for line in frame["viewport"])
    assert not list((info.directory / "terminals").glob("*.spool"))


SLOW_RECOVERY = """import os, time
from crowdcode_shell import abandoned
abandoned.left = lambda *args, **kwargs: ["a-dead-recorder.spool"]
recover_all = abandoned.recover_all
def waiting(*args, **kwargs):
    while not os.path.exists(os.environ["RECOVERY_MAY_END"]):
        time.sleep(0.05)
    return recover_all(*args, **kwargs)
abandoned.recover_all = waiting
"""


def test_recovering_dead_recorders_spools_does_not_delay_the_session(shell, tmp_path: Path, monkeypatch) -> None:
    """The recovery of spools left by dead recorders (a ``sitecustomize`` says one is left and
    makes the recovery wait for a file here, as a 100 MB spool keeps it busy for seconds) runs
    once the recorder is ready: the session is live and keys reach the program meanwhile; the
    session ends once it is done."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_RECOVERY)
    flag = tmp_path / "recovery-may-end"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("RECOVERY_MAY_END", str(flag))
    s = shell("--", "sh", "-c", "read line; echo got-$line")
    live_entry(lambda e: e["pid"])
    s.child.send("k\r")
    s.child.expect_exact("got-k")
    assert s.finish() == 0
    assert only_session().end is None  # the recorder waits for the recovery before it ends
    flag.touch()
    deadline = time.monotonic() + 30
    while only_session().end is None:
        assert time.monotonic() < deadline, "the recorder never finished the session"
        time.sleep(0.05)


def test_a_killed_recorder_is_reported_and_its_spool_recovered(shell, tmp_path: Path) -> None:
    """kill -9 of the recorder in the middle of a flood: the closing line says that it died,
    nothing about falling behind or saving in the background; the next start leaves no spool and
    the cast whole (the spool's own recovery: test_shell_spool)."""
    import signal

    from crowdcode_shell.asciicast import read_cast

    s = shell("--", "sh", "-c", "sleep 1; head -c 30000000 /dev/zero | tr '\\0' x; echo; echo flood-done; sleep 0.3")
    recorder_pid = live_entry(lambda e: e["pid"])["pid"]
    (info,) = Store().sessions()
    fd, shown, killed = s.child.child_fd, bytearray(), False
    while b"flood-done" not in shown[-200:]:
        assert select.select([fd], [], [], 10)[0], "the terminal got no output for 10 s"
        shown += os.read(fd, 1 << 20)
        if not killed and len(shown) > 5_000_000:
            os.kill(recorder_pid, signal.SIGKILL)
            killed = True
    assert killed
    shown += _rest_of(fd)
    s.child.close()
    last = shown[shown.rindex(b"crowdcode shell: recording incomplete:") :].decode().strip()
    assert "\n" not in last
    assert "the recorder died (killed by SIGKILL)" in last
    assert "took nothing" not in last and "background" not in last

    result = subprocess.run([CROWDCODE, "shell", "--", "true"], capture_output=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr, result.stderr
    deadline = time.monotonic() + 30  # the new recorder recovers the spool; it may end after its wrapper
    while not [other for other in Store().sessions() if other.id != info.id and other.end is not None]:
        assert time.monotonic() < deadline, "the second recorder never finished its session"
        time.sleep(0.05)
    assert not list((info.directory / "terminals").glob("*.spool"))
    (cast,) = (info.directory / "terminals").glob("*.cast")
    _, events = read_cast(cast)
    assert len(cast.read_bytes().splitlines()) == len(events) + 1  # whole events only


def test_a_shell_in_tmux_inside_a_recorded_terminal_records_its_pane(shell, tmp_path: Path) -> None:
    """crowdcode shell -> tmux -> crowdcode shell: the pane's wrapper inherits CROWDCODE_SHELL but
    runs in another multiplexer, so it records the pane (its commands never reach the outer
    recorder, which sees only tmux's drawing); the outer session records tmux as its command, and
    the keys typed into the pane are the pane session's input only, not counted twice."""
    s = shell()
    s.prompt()
    socket = f"cc-{os.getpid()}-{time.monotonic_ns()}"
    s.child.sendline(f"tmux -L {socket} -f /dev/null new-session '{CROWDCODE} shell'")
    s.prompt()
    _wait_for_the_pane_recorder()
    s.child.sendline("echo in-pane-$((6*7))")
    s.child.expect_exact("in-pane-42")
    s.prompt()
    s.leave_tmux_pane()
    sessions = ended_sessions(2)
    commands = {info.id: [c["command"] for c in actions(info, "terminal_command")] for info in sessions}
    outer, inner = sorted(sessions, key=lambda info: any(c.startswith("tmux") for c in commands[info.id]), reverse=True)
    assert any(c.startswith(f"tmux -L {socket}") for c in commands[outer.id])
    assert "echo in-pane-$((6*7))" not in commands[outer.id]
    assert commands[inner.id] == ["echo in-pane-$((6*7))", "exit"]
    typed = {info.id: "".join(a["data"] for a in actions(info, "terminal_input")) for info in sessions}
    assert "echo in-pane-$((6*7))\n" in typed[inner.id]
    assert "in-pane" not in typed[outer.id]
    assert f"tmux -L {socket}" in typed[outer.id] and typed[outer.id].endswith("exit\n")  # its own keys


def _wait_for_the_pane_recorder(timeout: float = 20.0) -> None:
    """The pane's recorder publishes which terminal it is nested in once it runs; keys typed
    before that (a moment after the pane's prompt, on a loaded machine) are counted in both
    sessions: docs/shell.md, "Nested multiplexers"."""
    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions

    deadline = time.monotonic() + timeout
    while not any((e.get("terminal") or {}).get("outer") for e in live_sessions(Locations.default())):
        assert time.monotonic() < deadline, "the pane's recorder never registered"
        time.sleep(0.05)


def test_raw_mode_secret_prompts_are_not_recorded(shell, home: Path) -> None:
    """``read -s -n`` (raw, no echo) and a curses password box (raw, echoing ``*``): neither the
    pass-through loop's echo-off rule nor the redactor sees them; the recorder does."""
    s = shell()
    s.prompt()
    s.child.sendline('read -s -n 9 -p "Enter tok""en: " t; echo " len=${#t}"')
    s.child.expect_exact("Enter token: ")
    s.child.send("rawsecret")  # nine keys, no Enter: read returns by itself
    s.child.expect_exact("len=9")
    s.prompt()
    s.child.sendline("whiptail --passwordbox 'Your pass''word' 8 40 2>/dev/null; echo box-done")
    wait_for_process("whiptail", "--passwordbox", "Your password", "8", "40", under=s.child.pid)
    s.child.expect_exact("Your password")
    s.child.send("boxsecret42")
    s.child.send("\r")
    s.child.expect_exact("box-done")
    s.prompt()
    typed = _quit_with_secrets_nowhere(s, home, "visible-after", b"rawsecret", b"boxsecret")
    assert "whiptail" in typed  # input around the prompts is recorded
