"""The text a program shows when it asks for a password, passphrase, PIN, token or code.

In a module of its own, outside :mod:`crowdcode_sdk.redaction`: the shell's recorder checks every
output line against it from its first frame, and importing the redaction package (detect-secrets
and its plugins) costs the recorder a tenth of a second of CPU at start, while the user's program
may already be flooding the terminal (docs/benchmarks.md, "What the throughput depends on").
"""

from __future__ import annotations

import re

PASSWORD_PROMPT = re.compile(
    r"(?i)(?:password|passphrase|passcode|pin|token|secret|verification code|otp)[^:\n]{0,60}:\s*$|"
    r"\[sudo\][^:\n]*:\s*$|enter pass[^:\n]*:\s*$"
)

ECHOED_MASKS = "*\u25cf\u2022\u2219\u00b7\u25cb"
"""What a program that reads a secret itself shows for each key typed (fish's ``read -s`` draws
``●``, many prompts ``*``): a prompt followed by them is still waiting for the rest of the secret."""


def prompts_for_secret(before_cursor: str) -> bool:
    """Whether the text before the cursor is a secret prompt, with what it echoed of the answer so
    far: the prompt must not be taken for gone after the first key's ``●``."""
    return PASSWORD_PROMPT.search(before_cursor.rstrip(ECHOED_MASKS)) is not None


_TAIL = 256
_CONTROL = re.compile(
    r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b(?:\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|.)?|[\r\b]",
    re.DOTALL,
)


class CursorLine:
    """The terminal row the cursor is on, as the output drew it, and the cursor's column in it.

    A prompt is the text *before the cursor*, not the text after the last carriage return: fish
    draws a line, then goes back to its start and right to where typing goes
    (``Password: \\x1b[K\\r\\x1b[10C``), and again after each key it echoes (``●\\r\\x1b[11C``).
    Carriage return, Backspace, cursor forward/back/to a column and erase in line are followed;
    a line feed starts a new row; every other escape sequence draws nothing here."""

    def __init__(self) -> None:
        self.text = ""
        self.column = 0

    @property
    def before_cursor(self) -> str:
        return self.text[: self.column]

    def feed(self, text: str) -> None:
        text = text[-4 * _TAIL :]
        cut = text.rfind("\n")
        if cut >= 0:
            self.text, self.column = "", 0
            text = text[cut + 1 :]
        position = 0
        for control in _CONTROL.finditer(text):
            self._draw(text[position : control.start()])
            position = control.end()
            self._move(control)
        self._draw(text[position:])
        if len(self.text) > _TAIL:
            drop = len(self.text) - _TAIL
            self.text, self.column = self.text[drop:], max(0, self.column - drop)

    def _draw(self, text: str) -> None:
        if text:
            line = self.text.ljust(self.column)
            self.text = line[: self.column] + text + line[self.column + len(text) :]
            self.column += len(text)

    def _move(self, control: re.Match[str]) -> None:
        sequence, final = control.group(0), control.group(2)
        if sequence == "\r":
            self.column = 0
        elif sequence == "\b":
            self.column = max(0, self.column - 1)
        elif final is not None:
            parameter = control.group(1)
            count = max(int(parameter), 1) if parameter.isdigit() else 1
            if final == "C":
                self.column += count
            elif final == "D":
                self.column = max(0, self.column - count)
            elif final == "G":
                self.column = count - 1
            elif final == "K":
                if parameter in ("", "0"):
                    self.text = self.text[: self.column]
                elif parameter == "1":
                    self.text = " " * min(self.column + 1, len(self.text)) + self.text[self.column + 1 :]
                elif parameter == "2":
                    self.text = ""
