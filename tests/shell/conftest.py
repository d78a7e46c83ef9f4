"""Fixtures for `crowdcode shell` tests: a private HOME (CROWDCODE_HOME: tests/conftest.py), and a driver that runs
the real wrapper in a real PTY (pexpect) around real programs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shell_helpers import PROMPT, Shell

from crowdcode_sdk.consent import consent_notice_due
from tests.privacy_support import serving


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with rc files that give a predictable prompt (and Debian's HISTCONTROL)."""
    user = tmp_path / "user"
    user.mkdir()
    (user / ".bashrc").write_text(f'PS1="{PROMPT}"\nHISTCONTROL=ignoreboth\n')
    (user / ".zshrc").write_text(f"PS1='{PROMPT}'\n")
    fish_config = user / ".config" / "fish"
    fish_config.mkdir(parents=True)
    (fish_config / "config.fish").write_text(f"function fish_prompt; printf '{PROMPT}'; end\nset -g fish_greeting\n")
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("CROWDCODE_SHELL", raising=False)
    monkeypatch.delenv("CROWDCODE_SHELL_NONCE", raising=False)
    monkeypatch.delenv("PROMPT_COMMAND", raising=False)
    return user


@pytest.fixture
def shell(home: Path, user_home: Path, tmp_path: Path) -> Iterator[type[Shell]]:
    # A returning user: the first start's consent line (tests/test_consent.py) is not on these screens.
    assert consent_notice_due("shell")
    started: list[Shell] = []

    def start(*args: str, cwd: Path | None = None, size: tuple[int, int] = (24, 80)) -> Shell:
        s = Shell(list(args), cwd or tmp_path, size)
        started.append(s)
        return s

    yield start  # type: ignore[misc]
    for s in started:
        if s.child.isalive():
            s.child.terminate(force=True)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real ``crowdcode serve`` on 127.0.0.1 storing into a fresh directory: (its URL, the store)."""
    store = tmp_path / "store"
    with serving(store) as (url, _pid):
        yield url, store
