"""Shared fixtures: every test records into its own private CROWDCODE_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crowdcode_sdk.locations import Locations

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
