from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CROWDCODE_HOME for the test and the servers it starts."""
    path = tmp_path / "crowdcode-home"
    monkeypatch.setenv("CROWDCODE_HOME", str(path))
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path
