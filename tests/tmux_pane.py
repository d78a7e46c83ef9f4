"""A program's real terminal UI in a private tmux server: keys typed with send-keys, the screen
read with capture-pane, as a person types and reads."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from .nvim_driver import wait_for


class Pane:
    """``argv`` running in a new tmux server's only pane, in ``cwd``, with ``env`` added.

    A shell around the program writes its exit status to a file once it exits, so that a test can
    assert how it exited, not only that it is gone (tmux 3.3 leaves a dead pane's status empty
    for some programs, Emacs among them)."""

    def __init__(
        self, argv: list[str], cwd: Path, env: dict[str, str], name: str, columns: int = 120, rows: int = 30
    ) -> None:
        self.tmux = ["tmux", "-L", f"cc-{name}-{uuid.uuid4().hex[:12]}", "-f", "/dev/null"]
        self._status = Path(tempfile.mkdtemp(prefix="cc-pane-")) / "status"
        flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        wrapped = ["sh", "-c", '"$@"; echo $? > "$STATUS_FILE"', "sh", *argv]
        subprocess.run(
            [
                *self.tmux,
                "new-session",
                "-d",
                "-x",
                str(columns),
                "-y",
                str(rows),
                "-c",
                str(cwd),
                *flags,
                "-e",
                f"STATUS_FILE={self._status}",
                *wrapped,
            ],
            check=True,
        )

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run(
            [*self.tmux, "send-keys", *(["-l"] if literal else []), "--", *keys], check=True
        )  # text may start with -

    def type(self, text: str) -> None:
        # tmux takes a ';' that ends an argument for its command separator: escaped, it is typed
        self.keys(text[:-1] + "\\;" if text.endswith(";") else text, literal=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout

    def wait_screen(self, text: str, present: bool = True) -> None:
        wait_for(lambda: (text in self.screen()) == present, what=f"{text!r} {'on' if present else 'off'} the screen")

    def exit_status(self) -> int | None:
        """The program's exit status once it has exited (128 + N when signal N ended it), or None
        while it runs (or when the terminal itself was closed under it)."""
        written = self._status.read_text() if self._status.exists() else ""
        return int(written) if written.endswith("\n") else None

    def exited(self, within: float, what: str) -> int:
        """Waits at most ``within`` s for the program to exit (a test asserts the status it returns);
        one still running then fails the test."""
        wait_for(lambda: self.exit_status() is not None, within, f"{what} to exit")
        status = self.exit_status()
        assert status is not None  # written once, when the program exited
        return status

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        shutil.rmtree(self._status.parent, ignore_errors=True)
