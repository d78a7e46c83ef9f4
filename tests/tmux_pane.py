"""A program's real terminal UI in a private tmux server: keys typed with send-keys, the screen
read with capture-pane, as a person types and reads."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from .nvim_driver import wait_for


class Pane:
    """``argv`` running in a new tmux server's only pane, in ``cwd``, with ``env`` added."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], name: str, columns: int = 120) -> None:
        self.tmux = ["tmux", "-L", f"cc-{name}-{uuid.uuid4().hex[:12]}", "-f", "/dev/null"]
        flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-x", str(columns), "-y", "30", "-c", str(cwd), *flags, *argv],
            check=True,
        )

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run([*self.tmux, "send-keys", *(["-l"] if literal else []), "--", *keys], check=True)  # text may start with -

    def type(self, text: str) -> None:
        # tmux takes a ';' that ends an argument for its command separator: escaped, it is typed
        self.keys(text[:-1] + "\\;" if text.endswith(";") else text, literal=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout

    def wait_screen(self, text: str, present: bool = True) -> None:
        wait_for(lambda: (text in self.screen()) == present, what=f"{text!r} {'on' if present else 'off'} the screen")

    def running(self) -> bool:
        """Whether the tmux server (which ends with its only pane's program) still runs."""
        return subprocess.run([*self.tmux, "has-session"], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
