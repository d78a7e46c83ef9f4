from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The folder the language client opens (its root and only workspace folder)."""
    path = tmp_path / "project"
    path.mkdir()
    return path
