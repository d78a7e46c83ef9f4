"""Shared fixtures: every test records into its own private CROWDCODE_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from crowdcode_sdk.errors import CrowdcodeError
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.store import SessionInfo, Store
from crowdcode_sdk.verification import verify

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.privacy_support"]  # fixtures of the consent/redaction/upload tests


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "unverified(reason): the test records a broken session on purpose; its sessions skip `crowdcode verify`",
    )


@pytest.fixture(autouse=True)
def recordings_verify(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every session a test records must pass ``crowdcode verify``: after the test (and after its
    other fixtures ended their editors and shells), each session under its temporary directory is
    verified, and a mismatch fails the test."""
    yield
    if request.node.get_closest_marker("unverified") is not None:
        return
    tmp = request.node.funcargs.get("tmp_path")
    if not isinstance(tmp, Path):
        return
    failures = []
    for directory in session_directories(tmp):
        adapter = _adapter_of(directory)
        VERIFIED[adapter] += 1
        try:
            verdict = verify(directory)
        except CrowdcodeError as exc:
            failures.append(f"{directory.name}: {exc}")
            continue
        CHECKS[adapter] += verdict.checks
        if not verdict.ok:
            failures.append(verdict.summary() + "".join(f"\n    {m.to_json()}" for m in verdict.mismatches[:5]))
    if failures:
        pytest.fail("recorded sessions do not verify:\n" + "\n".join(failures), pytrace=False)


VERIFIED: Counter[str] = Counter()
"""Sessions the fixture verified in this run, per adapter (printed at the end of the run)."""
CHECKS: Counter[str] = Counter()


def _adapter_of(directory: Path) -> str:
    try:
        return str(orjson.loads((directory / "session.json").read_bytes())["metadata"]["adapter"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if VERIFIED:
        counts = ", ".join(f"{adapter} {n} ({CHECKS[adapter]} checks)" for adapter, n in sorted(VERIFIED.items()))
        terminalreporter.write_line(f"crowdcode verify checked {sum(VERIFIED.values())} recorded sessions: {counts}")


def session_directories(root: Path) -> list[Path]:
    """Session directories (``…/sessions/<id>/session.json``) anywhere under ``root``."""
    found = []
    for directory, subdirs, files in os.walk(root):
        if "session.json" in files and Path(directory).parent.name == "sessions":
            found.append(Path(directory))
            subdirs.clear()
    return sorted(found)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated crowdcode home for this test (config, data, runtime)."""
    path = tmp_path / "home"
    monkeypatch.setenv("CROWDCODE_HOME", str(path))
    return path


@pytest.fixture
def locations(home: Path) -> Locations:
    return Locations.default()


def wait_for(predicate: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    """``predicate()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


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
