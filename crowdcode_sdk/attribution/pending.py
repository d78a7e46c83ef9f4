"""An open document's buffer as a base text plus every edit since: what save-time correlation
replays.

crowd-code capped the buffered edits at 1,000 per file, so that past it a user's save looked like
an agent's rewrite; there is no cap here. The chain only shrinks when a save (or a reload) shows
which prefix of the edits reached the disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..positions import Document, PositionError, utf16_len
from ..schema import TextChange
from .diffs import minimal_change


@dataclass(frozen=True, slots=True)
class PendingEdit:
    change: TextChange
    sequence: int
    length_after: int
    """UTF-16 length of the buffer after this edit: finds candidate prefixes without replaying."""
    received: int
    """When the adapter reported it (epoch ms): a write that began before the edits that explain it
    reached the engine is either a save whose edits came late (an LSP client's debounce) or a
    reload of another program's change."""


class EditChain:
    """``base`` (whose last folded edit has sequence ``base_sequence``) plus ``edits``."""

    def __init__(self, base: str, base_sequence: int | None = None) -> None:
        self.base = base
        self.base_sequence = base_sequence
        self.edits: list[PendingEdit] = []
        self._base_length = utf16_len(base)

    @property
    def length(self) -> int:
        return self.edits[-1].length_after if self.edits else self._base_length

    def add(self, change: TextChange, sequence: int, received: int) -> None:
        after = self.length + utf16_len(change.text) - change.range_length
        self.edits.append(PendingEdit(change, sequence, after, received))

    def sequence_at(self, count: int) -> int | None:
        """Sequence of the last edit in the first ``count`` edits (or of the base)."""
        return self.edits[count - 1].sequence if count else self.base_sequence

    def text_at(self, count: int) -> str | None:
        """The buffer after the first ``count`` edits; ``None`` if they do not apply (the adapter's
        edits and its open text disagree)."""
        document = Document(self.base)
        try:
            for pending in self.edits[:count]:
                document.apply(pending.change)
        except PositionError:
            return None
        return document.text

    def find(self, text: str, *, include_base: bool) -> int | None:
        """The largest ``count`` such that the buffer after ``count`` edits equals ``text``.

        ``count == 0`` (the base itself) is accepted only with ``include_base``: a base equal to
        the disk is what a reload or an unchanged save looks like, not by itself evidence of a save.
        """
        target = utf16_len(text)
        lowest = 0 if include_base else 1
        candidates = {
            count
            for count in range(lowest, len(self.edits) + 1)
            if (self.edits[count - 1].length_after if count else self._base_length) == target
        }
        if not candidates:
            return None
        document = Document(self.base)
        best = None
        try:
            if 0 in candidates and self.base == text:
                best = 0
            for count, pending in enumerate(self.edits, start=1):
                document.apply(pending.change)
                if count in candidates and document.text == text:
                    best = count
        except PositionError:
            pass
        return best

    def unsaved_span(self) -> tuple[int, int] | None:
        """Where the buffer differs from its base (UTF-16 units of the buffer, from the first to
        the last differing unit; empty where text was only deleted), ``None`` when it does not:
        edits undone back to the saved text leave nothing unsaved, as the editor itself says.
        The edits not applying (the adapter's edits and its open text disagree) leave the whole
        buffer unsaved."""
        if not self.edits:
            return None
        current = self.text_at(len(self.edits))
        if current is None:
            return 0, self.length
        if current == self.base:
            return None
        difference = minimal_change(self.base, current)
        return difference.range_offset, difference.range_offset + utf16_len(difference.text)

    def advance(self, count: int, text: str) -> None:
        """The first ``count`` edits reached the disk as ``text``: fold them into the base."""
        self.base_sequence = self.sequence_at(count)
        self.base = text
        self._base_length = utf16_len(text)
        self.edits = self.edits[count:]

    def reset(self, text: str, sequence: int | None) -> None:
        """The editor replaced its buffer with ``text`` (open, reload)."""
        self.base = text
        self.base_sequence = sequence
        self._base_length = utf16_len(text)
        self.edits = []
