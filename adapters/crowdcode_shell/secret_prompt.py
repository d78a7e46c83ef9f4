"""Input that answers a secret prompt in raw mode is not recorded.

Line-mode prompts with echo off (``sudo``, ``ssh``, getpass, ``read -s``) are caught by the
pass-through loop from the terminal's mode (``pty_loop.input_hidden``). Raw-mode prompts leave
no such trace: ``read -s -n 9`` turns canonical mode off as readline does, curses password boxes
(``whiptail``/``dialog --passwordbox``, pinentry-curses under ``gpg``) echo ``*`` themselves. They
are recognised

- from the program, by the pass-through loop when the keys are read (:func:`secret_foreground`):
  the terminal's foreground program is pinentry or gpg (whose only typed input is a passphrase)
  or ``whiptail``/``dialog`` with a password box — such keys never reach the recorder;
- from the output, by the recorder (:class:`SecretPrompt`), which handles output and input frames
  in the order they happened: the text before the cursor ends with a password,
  passphrase, PIN, token or code prompt (``Password:``, ``Enter PIN:``,
  ``read -s -p "token: "``), or with one and the ``*`` or ``●`` echoed for the keys typed so far
  (fish's ``read -s``, which draws its line and then moves the cursor back into it). From there no input is recorded — neither ``terminal_input`` nor the
  cast's ``"i"`` — until Enter, or until output shows the prompt gone.

Limits: a full-screen password box of a program not listed, whose label is not at the end of the
line the cursor is on, is not recognised (the rendered screen is sampled at 10 Hz on another
thread, too far from the keystroke to decide on); what such a box shows is ``*`` anyway.
"""

from __future__ import annotations

import os

from crowdcode_sdk.password_prompt import CursorLine, prompts_for_secret

from .foreground import read_argv

ALWAYS_SECRET = frozenset({"pinentry", "pinentry-curses", "pinentry-tty", "pinentry-gnome3", "gpg", "gpg2"})
BOXES = frozenset({"whiptail", "dialog"})
BOX_OPTIONS = frozenset({"--passwordbox", "--passwordform"})


def secret_program(argv: tuple[str, ...]) -> bool:
    if not argv:
        return False
    name = os.path.basename(argv[0])
    return name in ALWAYS_SECRET or (name in BOXES and any(a in BOX_OPTIONS for a in argv[1:]))


def secret_foreground(master: int) -> bool:
    """``hidden(master)`` for the pass-through loop: the foreground program reads a secret. A
    ``tcgetpgrp`` and a read of /proc per read of the keyboard (human rate; a paste is one read),
    not cached by group: a job's group leader is the shell's fork until it execs the program."""
    try:
        pgid = os.tcgetpgrp(master)
    except OSError:
        return False
    return secret_program(read_argv(pgid))


class SecretPrompt:
    """The recorder's check: the text before the cursor is a secret prompt."""

    def __init__(self) -> None:
        self._line = CursorLine()
        self._answering = False

    def output(self, data: bytes) -> None:
        """Follow the row the cursor is on (its last characters)."""
        self._line.feed(data[-1024:].decode("utf-8", "replace"))
        if self._answering and not self.prompted():
            self._answering = False  # the prompt went away (cancelled, or the program moved on)

    def hidden(self, keys: bytes) -> bool:
        """Whether this input frame answers a secret prompt (and must not be recorded)."""
        if not (self._answering or self.prompted()):
            return False
        self._answering = b"\r" not in keys and b"\n" not in keys
        return True

    def prompted(self) -> bool:
        return prompts_for_secret(self._line.before_cursor)
