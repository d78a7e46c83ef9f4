"""Consent, the on/off switches, the per-workspace opt-out and the storage bound."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from crowdcode_sdk import Session
from crowdcode_sdk.cli.main import main
from crowdcode_sdk.consent import (
    OPT_OUT_FILE,
    Consent,
    ask_consent,
    consent_status,
    recording_allowed,
)
from crowdcode_sdk.locations import Locations
from tests.privacy_support import bundles_in, configure


def test_consent_starts_pending_and_changes_any_time(
    privacy_home: Locations, capsys: pytest.CaptureFixture[str]
) -> None:
    assert consent_status(privacy_home) is Consent.PENDING
    assert main(["consent"]) == 0
    assert "pending" in capsys.readouterr().out
    assert main(["consent", "accept"]) == 0
    assert consent_status(privacy_home) is Consent.ACCEPTED
    assert main(["consent", "decline"]) == 0
    assert consent_status(privacy_home) is Consent.DECLINED
    assert "everything stays on this machine" in capsys.readouterr().out


def test_ask_consent_never_blocks_a_non_interactive_run(privacy_home: Locations) -> None:
    def prompt(text: str) -> bool:
        raise AssertionError("must not be asked")

    assert ask_consent(prompt, privacy_home, interactive=False) is Consent.PENDING
    assert ask_consent(prompt, privacy_home) is Consent.PENDING  # pytest's stdin is not a terminal


@pytest.mark.parametrize(
    ("answer", "expected"), [(True, Consent.ACCEPTED), (False, Consent.DECLINED), (None, Consent.PENDING)]
)
def test_ask_consent_stores_the_answer(privacy_home: Locations, answer: bool | None, expected: Consent) -> None:
    shown = []
    assert ask_consent(lambda text: shown.append(text) or answer, privacy_home, interactive=True) is expected
    assert "panic" in shown[0] and consent_status(privacy_home) is expected
    # Once answered, the user is not asked again.
    if expected is not Consent.PENDING:
        assert ask_consent(lambda text: pytest.fail("asked twice"), privacy_home, interactive=True) is expected


def test_a_failing_prompt_leaves_consent_pending(privacy_home: Locations) -> None:
    def closed(text: str) -> bool:
        raise EOFError

    assert ask_consent(closed, privacy_home, interactive=True) is Consent.PENDING


def test_off_on_and_workspace_opt_out(privacy_home: Locations, tmp_path: Path) -> None:
    workspace = tmp_path / "work" / "project"
    workspace.mkdir(parents=True)
    assert recording_allowed(workspace, privacy_home)
    assert main(["off"]) == 0
    denied = recording_allowed(workspace, privacy_home)
    assert not denied and "crowdcode on" in denied.reason
    assert main(["on"]) == 0
    assert recording_allowed(workspace, privacy_home)
    assert main(["off", "--workspace", str(tmp_path / "work")]) == 0  # a parent folder covers it
    denied = recording_allowed(workspace, privacy_home)
    assert not denied and OPT_OUT_FILE in denied.reason
    assert recording_allowed(tmp_path, privacy_home)
    assert main(["on", "--workspace", str(tmp_path / "work")]) == 0
    assert recording_allowed(workspace, privacy_home)


def test_storage_bound_warns_then_stops_new_recordings(
    privacy_home: Locations, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(privacy_home, **{"storage.max_bytes": 1024 * 1024})
    privacy_home.data_dir.mkdir(parents=True, exist_ok=True)
    (privacy_home.data_dir / "filler").write_bytes(b"x" * (950 * 1024))
    allowed = recording_allowed(None, privacy_home)
    assert allowed and "storage.max_bytes" in allowed.warning
    assert main(["status"]) == 0
    assert "storage is at 9" in capsys.readouterr().out
    (privacy_home.data_dir / "filler").write_bytes(b"x" * (1100 * 1024))
    denied = recording_allowed(None, privacy_home)
    assert not denied and "full" in denied.reason


def test_status_shows_uploads_and_redaction_counts(
    privacy_home: Locations, ingest, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from crowdcode_sdk import TerminalCommand
    from tests.privacy_support import Uploader

    configure(privacy_home, **{"consent.status": "accepted", "upload.url": ingest.url})
    with Session(adapter="test", editor="pytest", locations=privacy_home) as session:
        session.record(
            TerminalCommand(terminal_id="t", terminal_name="bash", command="export KEY=AKIAQYLPMN5HFIQR7XYZ")
        )
    assert Uploader(privacy_home).run_once().sent == 1
    assert main(["status", "--json"]) == 0
    status = orjson.loads(capsys.readouterr().out)
    assert status["redactions"]["aws"] == 1
    assert status["upload"]["uploadedBundles"] == 1
    assert main(["status"]) == 0
    assert "aws 1" in capsys.readouterr().out


def test_sessions_upload_in_the_background(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    configure(
        privacy_home,
        **{"consent.status": "accepted", "upload.url": ingest.url, "upload.interval_s": 1, "upload.background": True},
    )
    with Session(adapter="test", editor="pytest", locations=privacy_home) as session:
        session.record_wire({"kind": "focus_change", "focused": True})
    deadline = time.monotonic() + 10
    while not ingest.store.bundles() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(bundles_in(ingest)) == 1


def test_consent_prompt_in_a_real_terminal(privacy_home: Locations) -> None:
    """`crowdcode consent ask` in a pseudo-terminal shows the prompt and stores the answer;
    without a terminal it never waits."""
    import os
    import pty
    import select

    from tests.conftest import crowdcode_executable, run_cli

    assert "pending" in run_cli("consent", "ask").stdout  # stdin is not a terminal: no prompt
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command on the terminal
        os.execv(crowdcode_executable(), [crowdcode_executable(), "consent", "ask"])
    output = b""
    deadline = time.monotonic() + 30
    while b"[y/n" not in output and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            output += os.read(fd, 4096)
    assert b"Upload your recordings?" in output
    os.write(fd, b"y\r")
    output += _read_to_the_end(fd, deadline)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert consent_status(privacy_home) is Consent.ACCEPTED


def _read_to_the_end(fd: int, deadline: float) -> bytes:
    """What a pseudo-terminal shows until its command ends (or the deadline passes)."""
    import os
    import select

    output = b""
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            output += chunk
    return output


def _in_a_terminal(argv: list[str]) -> bytes:
    """Run ``argv`` on a pseudo-terminal to its end and return what it showed."""
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    output = _read_to_the_end(fd, time.monotonic() + 30)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return output


def test_the_shell_shows_the_consent_line_on_its_first_start_only(privacy_home: Locations) -> None:
    from crowdcode_sdk.consent import CONSENT_LINE
    from tests.conftest import crowdcode_executable

    argv = [crowdcode_executable(), "shell", "--", "true"]
    assert CONSENT_LINE.encode() in _in_a_terminal(argv).replace(b"\r\n", b"")
    assert b"crowdcode consent accept" not in _in_a_terminal(argv)
    assert consent_status(privacy_home) is Consent.PENDING  # shown, not answered: nothing was decided


def test_the_consent_notice_is_due_once_per_adapter_while_pending(privacy_home: Locations) -> None:
    from crowdcode_sdk.consent import consent_notice_due, set_consent

    assert consent_notice_due("nvim", privacy_home)
    assert not consent_notice_due("nvim", privacy_home)
    set_consent(Consent.DECLINED, privacy_home)
    assert not consent_notice_due("shell", privacy_home)  # answered: nobody asks
