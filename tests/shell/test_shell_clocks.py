"""The panic button and the hold-back window measure time on one clock, the machine's monotonic
one, whatever each process's wall clock says (docs/privacy.md, "One clock").

A real `crowdcode shell` records while `faketime` (libfaketime, with ``FAKETIME_DONT_FAKE_MONOTONIC``:
a wall-clock jump moves the wall clock only, as NTP or a user's `date -s` does) puts either the
recorder or the commands that judge its data (`crowdcode panic`, `crowdcode upload --now`) an hour
ahead or behind. A stopped recorder (SIGSTOP, as a process of a sleeping machine) still removes
what a panic pressed meanwhile reached, once it runs again.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pexpect
import pytest
from shell_helpers import CROWDCODE, PROMPT, cast_file, live_entry, only_session

from tests.privacy_support import bundles_in, consenting_ingest

pytestmark = pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (scripts/install --test)")

HOLD_BACK_S = 8
PANIC_REACH_S = 10


SLEEP_BY_SELECT = """import select, time

def _sleep(seconds):
    select.select([], [], [], seconds)

time.sleep = _sleep
"""
"""libfaketime 0.9.10 (Debian 12) with ``FAKETIME_DONT_FAKE_MONOTONIC`` turns Python 3.11's
``time.sleep`` (``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``) into EINVAL
(wolfcw/libfaketime#426): the faked processes sleep with a relative ``select`` instead."""


def _faked(offset: str | None, site: Path) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment that move the wall clock by ``offset`` (or not)."""
    env = dict(os.environ)
    if offset is None:
        return [], env
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLEEP_BY_SELECT)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return ["faketime", "-f", offset], env


def _crowdcode(offset: str | None, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    prefix, env = _faked(offset, site)
    done = subprocess.run([*prefix, CROWDCODE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done


def _journal(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.glob("events-*.jsonl")))


def _typed(child: pexpect.spawn, word: str) -> None:
    child.sendline(f"echo {word}")
    child.expect_exact(f"{word}\r\n")
    child.expect_exact(PROMPT)


@pytest.mark.parametrize(
    ("recorder", "commands"),
    [("-1h", None), ("+1h", None), (None, "-1h"), (None, "+1h")],
    ids=["recorder-1h", "recorder+1h", "commands-1h", "commands+1h"],
)
def test_panic_and_hold_back_hold_across_a_wall_clock_jump(
    shell, home: Path, user_home: Path, tmp_path: Path, recorder: str | None, commands: str | None
) -> None:
    with consenting_ingest(tmp_path, **{"privacy.hold_back_s": HOLD_BACK_S, "journal.flush_interval_ms": 20}) as server:
        kept, removed, last = (f"{name}{secrets.token_hex(6)}" for name in ("KEPT", "GONE", "LAST"))
        site = tmp_path / "site"
        prefix, env = _faked(recorder, site)
        child = pexpect.spawn(
            prefix[0] if prefix else CROWDCODE,
            [*prefix[1:], CROWDCODE, "shell"] if prefix else ["shell"],
            cwd=str(tmp_path),
            env=env,
            dimensions=(24, 80),
            timeout=15,
        )
        child.expect_exact(PROMPT)
        _typed(child, kept)
        time.sleep(PANIC_REACH_S + 1)  # out of the first press's reach
        _typed(child, removed)
        info = only_session()
        live_entry(lambda entry: True)
        assert "Removed" in _crowdcode(commands, site, "panic").stdout
        journal = _journal(info.directory)
        assert kept.encode() in journal and removed.encode() not in journal
        assert b'"kind":"panic"' in journal

        _typed(child, last)
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        ended = only_session(ended=True)
        ended_at = time.monotonic()
        _crowdcode(commands, site, "upload", "--now")
        waited = time.monotonic() - ended_at
        assert waited < HOLD_BACK_S, f"the first upload took {waited:.1f} s, longer than the hold-back"
        assert bundles_in(server) == [], "data left before the hold-back window passed"

        time.sleep(max(0.0, HOLD_BACK_S + 1 - (time.monotonic() - ended_at)))
        _crowdcode(commands, site, "upload", "--now")
        members = [member for bundle in bundles_in(server) for member in bundle.values()]
        uploaded = b"".join(members)
        assert kept.encode() in uploaded and last.encode() in uploaded, "data held back past the window"
        assert removed.encode() not in uploaded
        assert not ended.directory.exists()  # acknowledged: the local copy is gone


def test_a_stopped_recorder_removes_what_a_panic_reached_once_it_runs_again(shell, home: Path, tmp_path: Path) -> None:
    s = shell()
    s.prompt()
    gone = f"GONE{secrets.token_hex(6)}"
    s.run(f"echo {gone}")
    info = only_session()
    entry = live_entry(lambda entry: True)
    recorder = int(entry["pid"])
    os.kill(recorder, signal.SIGSTOP)
    try:
        # The press cannot be answered now (it waits 5 s for the stopped process, then gives up);
        # the request stays queued on the session's control socket.
        report = _crowdcode(None, tmp_path, "panic").stdout
        assert "from 0 sessions" in report
        s.run("echo typed while the recorder was stopped")
    finally:
        os.kill(recorder, signal.SIGCONT)
    s.child.sendline("exit")
    assert s.finish() == 0
    ended = only_session(ended=True)
    journal = _journal(ended.directory)
    assert gone.encode() not in journal and b'"kind":"panic"' in journal
    assert gone.encode() not in cast_file(info).read_bytes()
