"""``crowdcode shell``: start the recorder process and the pass-through loop, report at the end.

Everything imported here is paid before the user's program starts, so this module and what it
imports keep to the standard library's basics (docs/shell.md, "Start-up"): the recorder's report
is a few short lines, read with ``json`` (orjson's import loads ``dataclasses``, ``uuid`` and
``datetime``), and the nonce is ``os.urandom``'s, as ``secrets`` would make it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pwd
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from crowdcode_sdk import Config, CrowdcodeError

from . import channel, integration, pty_loop
from .recorder_spec import RecorderSpec
from .terminal_mode import get_size

NESTED_VARIABLE = "CROWDCODE_SHELL"
"""Set in the recorded terminal to its terminal id: a ``crowdcode shell`` inside does not record
again (the outer one already sees everything), it only runs the shell with the outer marks."""
MULTIPLEXER_VARIABLE = "CROWDCODE_SHELL_MULTIPLEXER"
"""Which tmux or screen (``$TMUX``, ``$STY``) the recorded terminal was in. A ``crowdcode shell`` in
a tmux or screen pane started from a recorded terminal inherits ``CROWDCODE_SHELL``, but the outer
recorder sees only the multiplexer's drawing of all panes, not the pane's commands, marks or
agents (tmux drops unknown OSC sequences): there, with a different multiplexer, it records the
pane itself."""


RECORDER_IGNORES = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGWINCH,
)
"""Signals the recorder ignores: the session ends when the wrapper closes the channel. Until its
``setsid`` the recorder is in the wrapper's process group, the terminal's foreground group, which
its hang-up (the wrapper, the session's leader, exiting: a short program is over in milliseconds)
and a Ctrl-C, Ctrl-\\ or Ctrl-Z typed at the start (before raw mode) reach. On a loaded machine
the forked recorder may not run for that long, so they are blocked across the ``fork``, and
ignored in the recorder before it unblocks them."""


def _multiplexer(env: dict[str, str]) -> str:
    return f"{env.get('TMUX', '')}|{env.get('STY', '')}"


def default_shell(env: dict[str, str]) -> str:
    shell = env.get("SHELL")
    if not shell:
        with contextlib.suppress(KeyError):
            shell = pwd.getpwuid(os.getuid()).pw_shell
    return shell or "/bin/sh"


def with_crowdcode_on_path(env: dict[str, str]) -> dict[str, str]:
    """Append the directory of this installation's ``crowdcode`` script to PATH when the shell
    would not find ``crowdcode`` otherwise (started as ``.venv/bin/crowdcode shell``), so that
    ``crowdcode status`` or ``crowdcode panic`` work inside the recorded terminal."""
    path = env.get("PATH", os.defpath)
    if shutil.which("crowdcode", path=path):
        return env
    scripts = _scripts_directory()
    if scripts is None:
        return env
    return {**env, "PATH": f"{path}{os.pathsep}{scripts}" if path else scripts}


def _scripts_directory() -> str | None:
    """Where this installation's ``crowdcode`` script is: beside the interpreter in a virtual
    environment (no need to import ``sysconfig``, which reads the build's configuration), else
    where ``sysconfig`` says (a ``--user`` installation)."""
    beside = os.path.dirname(sys.executable)
    if os.access(os.path.join(beside, "crowdcode"), os.X_OK):
        return beside
    import sysconfig

    scripts = sysconfig.get_path("scripts")
    return scripts if os.access(os.path.join(scripts, "crowdcode"), os.X_OK) else None


def run(command: Sequence[str]) -> int:
    env = with_crowdcode_on_path(dict(os.environ))
    argv = list(command) or [default_shell(env)]
    outer_nonce = env.get(integration.NONCE_VARIABLE)
    if env.get(NESTED_VARIABLE) and env.get(MULTIPLEXER_VARIABLE, _multiplexer({})) == _multiplexer(env):
        if outer_nonce:
            argv, env, _ = integration.prepare(argv, env, outer_nonce)
        return _exec(argv, env)
    try:
        config = Config.load()
    except CrowdcodeError as exc:  # a broken config must not cost the user their shell
        print(f"crowdcode shell: not recording: {exc}", file=sys.stderr)
        return _exec(argv, env)
    if not config["recording.enabled"]:
        return _exec(argv, env)
    with contextlib.suppress(OSError, CrowdcodeError):  # a question must not cost the user their shell
        # the status from the configuration just read: consent_notice_due would parse it again;
        # the consent module (with the storage quota's) only when the notice may be due
        if sys.stderr.isatty() and config["consent.status"] == "pending":
            from crowdcode_sdk.consent import CONSENT_LINE, consent_notice_due

            if consent_notice_due("shell"):
                print(CONSENT_LINE, file=sys.stderr)
    return record(argv, env, config)


def _exec(argv: list[str], env: dict[str, str]) -> int:
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"crowdcode shell: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127


def record(argv: list[str], env: dict[str, str], config: Config, *, stdin: int = 0, stdout: int = 1) -> int:
    nonce = os.urandom(8).hex()  # what secrets.token_hex does, without importing hashlib
    terminal_id = f"term-{os.urandom(4).hex()}"
    child_argv, child_env, integrated = integration.prepare(argv, env, nonce)
    child_env[NESTED_VARIABLE] = terminal_id
    child_env[MULTIPLEXER_VARIABLE] = _multiplexer(env)
    cols, rows = get_size(stdin, stdout)
    start = time.monotonic()
    try:
        child = pty_loop.spawn(child_argv, child_env, (cols, rows))
    except pty_loop.CannotRun as exc:
        print(f"crowdcode shell: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 127
    spec = RecorderSpec(
        terminal_id=terminal_id,
        terminal_name=os.path.basename(argv[0]),
        argv=argv,
        shell=integration.shell_kind(argv) if integrated else None,
        nonce=nonce,
        cols=cols,
        rows=rows,
        master=child.master,
        child_pid=child.pid,
        workspace=os.getcwd(),
        start_monotonic=start,
        env={k: env[k] for k in ("SHELL", "TERM", "TERM_PROGRAM") if k in env},
        observe_screen=config["shell.screen"],
        outer_terminal=env.get(NESTED_VARIABLE),  # set here only in another multiplexer (run)
    )
    frames_r, frames_w = channel.pipe()
    report_r, report_w = os.pipe()
    hurry_r, hurry_w = os.pipe()
    # Everything made so far lives as long as the session: out of the collector's sight, a
    # full collection during a flood does not walk every imported module (and the recorder's
    # collections do not copy the pages it shares with this process).
    gc.freeze()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, RECORDER_IGNORES)
    recorder_pid = os.fork()
    if recorder_pid == 0:  # the recorder: no terminal, no signals from it
        try:
            os.setsid()
            for sig in RECORDER_IGNORES:  # one already pending is dropped
                signal.signal(sig, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            for fd in (frames_w, report_r, hurry_w):
                os.close(fd)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            # Imported here, not in the wrapper: the user's program runs already, and the
            # recorder's modules (the session, the emulator, redaction) cost the wrapper's
            # start-up several times what pass-through needs. Frames wait in the pipe meanwhile.
            from . import recorder

            recorder.run(spec, frames_r, report_w, hurry_r)
        finally:
            os._exit(0)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    for fd in (frames_r, report_w, hurry_r):
        os.close(fd)
    writer = channel.ChannelWriter(frames_w)
    hidden = _input_hidden if config["shell.record_input"] else _hidden_always
    # Only an interactive shell draws where the cursor was; a command's output stays byte for byte
    # what the command wrote.
    status = pty_loop.run(
        child, writer, stdin=stdin, stdout=stdout, hidden=hidden, ask_position=integrated, ready=report_r, hurry=hurry_w
    )
    os.close(hurry_w)
    writer.close()
    report = _read_report(report_r, recorder_pid)  # what the recorder has said so far
    message = problem_line(report, writer.dropped_total)
    if message:
        print(message, file=sys.stderr)
    return status


def _input_hidden(master: int) -> bool:
    """Echo off in line mode, or a program that reads secrets in raw mode."""
    from .secret_prompt import secret_foreground  # at the first key, not before the program starts

    return pty_loop.input_hidden(master) or secret_foreground(master)


def _hidden_always(master: int) -> bool:
    return True


def _read_report(fd: int, pid: int) -> dict[str, Any]:
    """What the recorder has reported by now, without waiting for it: it finishes the session on
    its own (its own process session), so the user's prompt comes back as soon as every byte is
    in the channel. The recorder writes one JSON line per problem as it happens and one closing
    line (:func:`.recorder.run`). A pipe closed without the closing line means it died."""
    os.set_blocking(fd, False)
    data = b""
    closed = False
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            data += chunk
        closed = True
    os.close(fd)
    report: dict[str, Any] = {"problems": []}
    finished = False
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        entry = json.loads(line)
        if "ready" in entry:
            continue
        if "problem" in entry:
            report["problems"].append(entry["problem"])
        else:
            report.update(entry, problems=report["problems"])
            finished = True
    if closed and not finished:  # it closed every descriptor: it has exited or is exiting
        try:
            _, wait_status = os.waitpid(pid, 0)
        except ChildProcessError:
            report["died"] = "the recorder died"
        else:
            report["died"] = f"the recorder died ({_how_it_ended(wait_status)})"
    elif closed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return report


def _how_it_ended(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(wait_status)}"


def problem_line(report: dict[str, Any], dropped: int) -> str | None:
    """One line for the user when the recording is incomplete, else ``None``."""
    parts = []
    died = report.get("died")
    if died:
        parts.append(f"{died}; its spool is recovered at the next start")
    parts.extend(report.get("problems") or [])
    lost = dropped + int(report.get("lostBytes") or 0)
    if lost:
        reason = report.get("castError") or (
            "since then" if died or report.get("failed") else f"the recorder took nothing for {channel.STALL_S:g} s"
        )
        parts.append(f"{_size(lost)} of terminal I/O not recorded ({reason})")
    if not parts:
        return None
    return "crowdcode shell: recording incomplete: " + "; ".join(parts)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"
