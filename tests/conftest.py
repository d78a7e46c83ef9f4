"""Shared fixtures: every test records into its own private CROWDCODE_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crowdcode_sdk.locations import Locations
from crowdcode_sdk.store import SessionInfo, Store

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.privacy_support"]  # fixtures of the consent/redaction/upload tests


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated crowdcode home for this test (config, data, runtime)."""
    path = tmp_path / "home"
    monkeypatch.setenv("CROWDCODE_HOME", str(path))
    return path


@pytest.fixture
def locations(home: Path) -> Locations:
    return Locations.default()


def crowdcode_executable() -> str:
    """The installed console script next to this interpreter."""
    candidate = Path(sys.executable).with_name("crowdcode")
    return str(candidate) if candidate.exists() else shutil.which("crowdcode") or "crowdcode"


def run_cli(
    *args: str, check: bool = True, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real ``crowdcode`` command (not an in-process call) and return its result."""
    result = subprocess.run(
        [crowdcode_executable(), *args],
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"crowdcode {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def only_session(ended: bool = False, timeout: float = 15) -> SessionInfo:
    """The one session this test recorded; a second one (a restarted recorder) fails the test.
    With ``ended``, waits at most ``timeout`` s for its end: the recorder is its own process and
    may write the end a moment after the editor or shell has gone."""
    deadline = time.monotonic() + timeout
    while True:
        sessions = Store().sessions()
        assert len(sessions) <= 1, f"expected one session, found {len(sessions)}: {sessions}"
        if not ended or (sessions and sessions[0].end is not None):
            assert len(sessions) == 1, "no session was recorded"
            return sessions[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"the session did not end within {timeout} s: {sessions}")
        time.sleep(0.02)
