"""``crowdcode shell``: start the recorder process and the pass-through loop, report at the end."""

from __future__ import annotations

import contextlib
import gc
import os
import pwd
import secrets
import select
import shutil
import signal
import sys
import sysconfig
import time
from collections.abc import Sequence
from typing import Any

import orjson

from crowdcode_sdk import Config, CrowdcodeError
from crowdcode_sdk.consent import CONSENT_LINE, consent_notice_due

from . import channel, integration, pty_loop
from .recorder_spec import RecorderSpec
from .secret_prompt import secret_foreground
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


def _multiplexer(env: dict[str, str]) -> str:
    return f"{env.get('TMUX', '')}|{env.get('STY', '')}"


REPORT_TIMEOUT_S = 3.0


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
    scripts = sysconfig.get_path("scripts")
    path = env.get("PATH", os.defpath)
    if shutil.which("crowdcode", path=path) or not os.access(os.path.join(scripts, "crowdcode"), os.X_OK):
        return env
    return {**env, "PATH": f"{path}{os.pathsep}{scripts}" if path else scripts}


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
        if sys.stderr.isatty() and consent_notice_due("shell"):
            print(CONSENT_LINE, file=sys.stderr)
    return record(argv, env, config)


def _exec(argv: list[str], env: dict[str, str]) -> int:
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"crowdcode shell: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127


def record(argv: list[str], env: dict[str, str], config: Config, *, stdin: int = 0, stdout: int = 1) -> int:
    nonce = secrets.token_hex(8)
    terminal_id = f"term-{secrets.token_hex(4)}"
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
    )
    # Imported once the child runs, so that the shell starts while this loads (~0.15 s), and before
    # the fork, so that the recorder is ready at once: it samples the foreground program live, and
    # a recorder still importing misses a short one.
    from . import recorder

    frames_r, frames_w = channel.pipe()
    report_r, report_w = os.pipe()
    # Everything made so far lives as long as the session: out of the collector's sight, a
    # full collection during a flood does not walk every imported module (and the recorder's
    # collections do not copy the pages it shares with this process).
    gc.freeze()
    recorder_pid = os.fork()
    if recorder_pid == 0:  # the recorder: no terminal, no signals from it
        try:
            os.setsid()
            os.close(frames_w)
            os.close(report_r)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            recorder.run(spec, frames_r, report_w)
        finally:
            os._exit(0)
    os.close(frames_r)
    os.close(report_w)
    writer = channel.ChannelWriter(frames_w)
    hidden = _input_hidden if config["shell.record_input"] else _hidden_always
    # Only an interactive shell draws where the cursor was; a command's output stays byte for byte
    # what the command wrote.
    status = pty_loop.run(child, writer, stdin=stdin, stdout=stdout, hidden=hidden, ask_position=integrated)
    writer.close()
    report = _read_report(report_r, recorder_pid)
    message = problem_line(report, writer.dropped_total)
    if message:
        print(message, file=sys.stderr)
    return status


def _input_hidden(master: int) -> bool:
    """Echo off in line mode, or a program that reads secrets in raw mode."""
    return pty_loop.input_hidden(master) or secret_foreground(master)


def _hidden_always(master: int) -> bool:
    return True


def _read_report(fd: int, pid: int) -> dict[str, Any]:
    """The recorder's closing report; it finishes on its own if it takes longer. Without a report,
    whether the recorder is gone (its end of the pipe closed) or still busy is told apart."""
    data = b""
    closed = False
    deadline = time.monotonic() + REPORT_TIMEOUT_S
    while not data.endswith(b"\n") and (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            closed = True
            break
        data += chunk
    os.close(fd)
    if data.endswith(b"\n"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return orjson.loads(data)
    if closed:  # it closed every descriptor: it has exited or is exiting
        try:
            _, wait_status = os.waitpid(pid, 0)
        except ChildProcessError:
            return {"died": "the recorder died"}
        return {"died": f"the recorder died ({_how_it_ended(wait_status)})"}
    return {"problems": ["the recorder is still saving the session in the background"]}


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
    lost = dropped + int(report.get("lostBytes") or 0)
    if lost:
        reason = report.get("castError") or ("since then" if died else "the recorder fell behind")
        parts.append(f"{_size(lost)} of terminal I/O not recorded ({reason})")
    parts.extend(report.get("problems") or [])
    if not parts:
        return None
    return "crowdcode shell: recording incomplete: " + "; ".join(parts)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"
