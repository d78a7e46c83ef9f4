"""Secrets that arrive a few characters at a time: edit streams and terminal keystrokes.

A secret typed in an editor is spread over dozens of ``edit`` events of one character each, so no
single event shows it. :class:`ShadowDocument` replays the edits of one file, remembering for every
UTF-16 code unit which event (``sequence``) and which position of that event's text inserted it;
after each edit the line around it is scanned, and every unit of a secret found there is marked
in the events that typed it. Masking those units with same-length masks keeps every later offset
valid, so the redacted stream still replays (to the redacted text).

The shadow document knows what the edits revealed and, where the recording says it, the text the
file was opened with (:meth:`ShadowDocument.opened`); other text that was in the file before the
first recorded edit is unknown and held as placeholder units. Offsets stay exact anyway, because
they are absolute and the placeholders keep the positions.

:class:`KeystrokeLine` does the same for terminal input (append, backspace, Enter), and masks
everything typed after a password prompt as a second line of defence behind the shell adapter's
echo-off rule. :class:`OutputLines` assembles terminal output split across chunks and escape
sequences into lines.
"""

from __future__ import annotations

import bisect
import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable

from .detector import Finding
from .key_blocks import KeyLines, holds_a_row, key_blocks, loose_bodies
from .known import CATEGORY as UNCOUNTED
from .known import KnownSecrets

UNKNOWN = "\x00"
"""Placeholder for text the edits did not reveal."""

_ORIGIN_SHIFT = 32
_WINDOW = 2048
_NEAR = 160


def utf16_units(text: str) -> list[str]:
    """``text`` as a list of UTF-16 code units (astral characters become surrogate halves)."""
    if text.isascii() or not any(ord(c) > 0xFFFF for c in text):
        return list(text)
    units: list[str] = []
    for c in text:
        code = ord(c)
        if code > 0xFFFF:
            code -= 0x10000
            units.append(chr(0xD800 + (code >> 10)))
            units.append(chr(0xDC00 + (code & 0x3FF)))
        else:
            units.append(c)
    return units


def mask_units(text: str, positions: set[int], mask: str = "*") -> str:
    """Mask the given UTF-16 unit positions of ``text``; an astral character partly covered is
    masked whole (two mask characters), so the UTF-16 length is unchanged."""
    out = []
    unit = 0
    for c in text:
        width = 2 if ord(c) > 0xFFFF else 1
        if c not in "\r\n" and any(u in positions for u in range(unit, unit + width)):
            out.append(mask * width)
        else:
            out.append(c)
        unit += width
    return "".join(out)


Scanner = Callable[[str], list[Finding]]


class Marks:
    """Which units of which event's text must be masked, and what was found (for the counts).

    A secret typed key by key is found again on every later keystroke, first perhaps as a generic
    high-entropy token and then, once complete, as its provider's format; it is counted once, by
    its first character, under its most specific category.
    """

    GENERIC = frozenset({"high_entropy", "password_assignment"})

    def __init__(self) -> None:
        self.units: dict[int, set[int]] = defaultdict(set)
        self._found: dict[int, str] = {}

    def mask(self, sequence: int, units: range) -> None:
        """Mask units of one event without counting a finding (a secret file's whole edit)."""
        self.units[sequence].update(units)

    def add(self, origins: list[int], category: str) -> None:
        hit = [o for o in origins if o >= 0]
        if not hit:
            return
        for o in hit:
            self.units[o >> _ORIGIN_SHIFT].add(o & ((1 << _ORIGIN_SHIFT) - 1))
        if category == UNCOUNTED:
            return
        known = self._found.get(hit[0])
        if known is None or (known in self.GENERIC and category not in self.GENERIC):
            self._found[hit[0]] = category

    @property
    def counts(self) -> Counter[str]:
        return Counter(self._found.values())


def origin(sequence: int, unit: int) -> int:
    return (sequence << _ORIGIN_SHIFT) | unit


_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "_-+/=.~")
"""Characters that continue a token (a set lookup per keystroke, not a regex match)."""


_KEY = "PRIVATE KEY"
"""In every private key's BEGIN line (:mod:`.key_blocks`)."""
_KEY_LETTERS = frozenset(_KEY)
_KEY_REACH = 8 * _WINDOW
"""How far from a deletion its key's BEGIN line is looked for (an RSA 8192 key is 6.5 KB)."""


class ShadowDocument:
    """One file's text as far as its edits reveal it; see the module docstring.

    Scanning after every keystroke would scan every prefix of every token; instead a keystroke
    that only extends a token marks the line *pending*, and the line is scanned when the token
    ends (a separator is typed), before anything else changes it (a deletion, a jump elsewhere,
    so that a secret typed and deleted again is still seen whole), and at :meth:`flush`.
    """

    _may_hold_a_key = True
    """Whether the text holds "PRIVATE KEY" (or may: a state saved before this flag existed).
    Kept as edits pass, so that the whole document is searched for key blocks only then."""

    def __init__(self) -> None:
        self.units: list[str] = []
        self.origins: list[int] = []
        self._pending: int | None = None
        self._last = 0
        self._edited = False
        self._may_hold_a_key = False

    @classmethod
    def opened(cls, text: str) -> ShadowDocument:
        """The document of a file opened with ``text``: the private keys already in it are known
        before an edit reaches them, so that every row edited in them is masked (a short one
        too, which no detector finds alone)."""
        document = cls()
        document.units = utf16_units(text)
        document.origins = [-1] * len(document.units)
        document._may_hold_a_key = _KEY in text
        return document

    def settle(self) -> None:
        """Forget the text of every line but the one edited last (where a secret may still be
        being typed) and the private keys' blocks and loose bodies (whose later rows are masked by
        them): what stays between bundles is what the next bundle needs, not the file."""
        lo = max(0, self._last - _WINDOW)
        head = "".join(self.units[lo : self._last])
        start = lo + head.rfind("\n") + 1 if "\n" in head else lo
        tail = "".join(self.units[self._last : self._last + _WINDOW])
        end = self._last + (tail.find("\n") if "\n" in tail else len(tail))
        kept = [(start, end)]
        text = "".join(self.units)
        kept += [(max(0, first - 1), last + 1) for first, last in loose_bodies(text)]  # their line breaks too
        if self._may_hold_a_key:
            kept += [(block.start, block.end) for block in key_blocks(text)]
        units = [UNKNOWN] * len(self.units)
        for first, last in kept:
            units[first:last] = self.units[first:last]
        self.units = units
        self.origins = [-1] * len(self.units)
        self._edited = False
        self._may_hold_a_key = any(_KEY in "".join(units[first:last]) for first, last in kept)

    def apply(self, sequence: int, offset: int, length: int, text: str, scan: Scanner, marks: Marks) -> None:
        # Once per keystroke: utf16_units and origin inlined; a token character only extends the token.
        extends = length == 0 and text in _TOKEN_CHARS
        if not (extends and self._pending is not None and offset == self._pending + 1):
            self.flush(scan, marks)
        end = offset + length
        units = self.units
        if end > len(units):
            missing = end - len(units)
            units.extend(UNKNOWN * missing)
            self.origins.extend([-1] * missing)
        if length and self._may_hold_a_key and max(self.origins[offset:end], default=-1) >= 0:
            # typed rows of a key deleted before the batch ends: masked while their block shows them
            line_start, line_end = self._line_around(offset, end)
            if holds_a_row("".join(units[line_start:line_end])):
                self._scan_keys(max(0, offset - _KEY_REACH), end + _KEY_REACH, scan, marks)
        new = list(text) if text.isascii() else utf16_units(text)
        self._edited = True
        self._last = offset + len(new)
        units[offset:end] = new
        first = sequence << _ORIGIN_SHIFT
        self.origins[offset:end] = range(first, first + len(new))
        typed_key_letter = text in _KEY_LETTERS if len(text) == 1 else not _KEY_LETTERS.isdisjoint(text)
        if not self._may_hold_a_key and (length or typed_key_letter):
            # a new "PRIVATE KEY" overlaps the edit (so it holds one of its letters) or its cut
            near = "".join(self.units[max(0, offset - len(_KEY)) : offset + len(new) + len(_KEY)])
            self._may_hold_a_key = _KEY in near
        if len(new) > 1 and "\n" in text:  # a paste: scan it whole (multi-line secrets, key blocks)
            for f in scan(text):
                start, stop = _unit_span(text, f.start, f.end)
                marks.add(self.origins[offset + start : offset + stop], f.category)
        if extends:
            self._pending = offset
        else:
            self._scan_around(offset, offset + len(new), scan, marks)

    def flush(self, scan: Scanner, marks: Marks) -> None:
        """Scan the line of a token still being typed."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._scan_around(pending, pending + 1, scan, marks)

    def end_batch(self, scan: Scanner, marks: Marks) -> None:
        """At the end of a batch of edits: the line still being typed, and every private key
        block and loose key body (:mod:`.key_blocks`) whose rows this batch typed, wherever they
        are in it and in whatever order and pieces they came. Once a batch, because a block
        spans lines that edits reach one at a time (the END line may come first, a row may be
        fixed later, the BEGIN line may come last)."""
        self.flush(scan, marks)
        if not self._edited:
            return
        self._edited = False
        self._scan_keys(0, len(self.units), scan, marks)

    def _scan_keys(self, lo: int, hi: int, scan: Scanner, marks: Marks) -> None:
        """Mask what the edits typed in the key blocks and loose key bodies of units ``lo:hi``."""
        text = "".join(self.units[lo:hi])
        spans = list(loose_bodies(text))
        if self._may_hold_a_key:
            spans += [(block.start, block.end) for block in key_blocks(text)]
        for start, end in spans:
            if max(self.origins[lo + start : lo + end], default=-1) >= 0:
                for f in scan(text[start:end]):
                    marks.add(self.origins[lo + start + f.start : lo + start + f.end], f.category)

    def _scan_around(self, start: int, end: int, scan: Scanner, marks: Marks) -> None:
        # The nearest units each side, joined once: most lines end within them.
        near_start, near_end = max(0, start - _NEAR), min(len(self.units), end + _NEAR)
        near = "".join(self.units[near_start:near_end])
        head = max(near.rfind("\n", 0, start - near_start), near.rfind(UNKNOWN * 8, 0, start - near_start))
        tail = near.find("\n", end - near_start)
        if (head >= 0 or near_start == 0) and (tail >= 0 or near_end == len(self.units)):
            line = near[head + 1 : tail if tail >= 0 else len(near)]
            line_start = near_start + head + 1
            line_end = line_start + len(line)
        else:
            line_start, line_end = self._line_around(start, end)
            line = "".join(self.units[line_start:line_end])
        typed_here = start < end and self.origins[start] >= 0  # the usual case: the edit's own unit
        if not typed_here and max(self.origins[line_start:line_end], default=-1) < 0:
            return  # nothing the edits typed
        for f in scan(line):
            marks.add(self.origins[line_start + f.start : line_start + f.end], f.category)

    def _line_around(self, start: int, end: int) -> tuple[int, int]:
        """The line holding units ``start:end``, at most ``_WINDOW`` units each side; a run of 8
        unknown units also ends it. Looked for first in the nearest ``_NEAR`` units each side
        (most lines are short, and :meth:`_scan_around` finds them so itself): the whole window
        is joined only for a long line."""
        lo = max(0, start - _WINDOW)
        for near in (max(lo, start - _NEAR), lo):
            head = "".join(self.units[near:start])
            cut = max(head.rfind("\n"), head.rfind(UNKNOWN * 8))
            if cut >= 0 or near == lo:
                line_start = near + cut + 1 if cut >= 0 else lo
                break
        hi = min(len(self.units), end + _WINDOW)
        for near in (min(hi, end + _NEAR), hi):
            cut = "".join(self.units[end:near]).find("\n")
            if cut >= 0 or near == hi:
                line_end = end + cut if cut >= 0 else hi
                break
        return line_start, line_end


def _key_row(keys: KeyLines) -> str:
    """A key's rows are masked under the key's category, counted once (at its first row)."""
    return "private_key" if keys.rows == 1 else UNCOUNTED


def _unit_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Python indices → UTF-16 unit indices in ``text``."""
    before = len(utf16_units(text[:start]))
    return before, before + len(utf16_units(text[start:end]))


_LINE_BREAK = re.compile("[\n\r\b]")
_LONGEST = 4 * _WINDOW
"""An output line longer than this is scanned in parts."""


def _lines_apart(data: str) -> bool:
    """Whether each line of ``data`` can be taken on its own: no Backspace (it edits a line) and
    no escape sequence but CSI ones (``\\x1b[…m``), which cannot hold a line break."""
    return "\b" not in data and data.count("\x1b") == data.count("\x1b[")


_CURSOR_MOVE = re.compile(r"\x1b(?:\[\d*[ACDGH]|\[\d*;\d*[Hf]|M)")
"""Up, forward, back, to a column, to a place, up a row (reverse index): the cursor goes where
text is drawn again."""
_BARE_CR = re.compile(r"\r(?!\n)")
_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|.)", re.DOTALL
)


class KeystrokeLine:
    """The line being typed into one terminal, with each character's origin (event, index)."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.origins: list[int] = []
        self.secret_prompt = False
        self._dirty = False
        self._keys = KeyLines()

    def feed(self, sequence: int, data: str, scan: Scanner, marks: Marks) -> None:
        position = 0
        for match in _ESCAPE.finditer(data):  # arrow keys etc. are not part of the text
            self._feed_plain(sequence, data, position, match.start(), scan, marks)
            position = match.end()
        self._feed_plain(sequence, data, position, len(data), scan, marks)

    def _feed_plain(self, sequence: int, data: str, start: int, end: int, scan: Scanner, marks: Marks) -> None:
        for i in range(start, end):
            c = data[i]
            if c in "\r\n":
                self.enter(scan, marks)
                self.secret_prompt = False
            elif c in "\x7f\b":
                if self.chars:
                    self.flush(scan, marks)  # a secret typed and rubbed out was still typed
                    self.chars.pop()
                    self.origins.pop()
            elif c == "\x15":  # Ctrl-U kills the line
                self.flush(scan, marks)
                self.chars.clear()
                self.origins.clear()
            elif c >= " ":
                self.chars.append(c)
                self.origins.append(origin(sequence, i))
                self._dirty = True
                if self.secret_prompt:
                    marks.add([origin(sequence, i)], "password_prompt")
                elif c not in _TOKEN_CHARS:
                    self.flush(scan, marks)

    def flush(self, scan: Scanner, marks: Marks) -> None:
        """Scan the line if anything was typed since the last scan."""
        if self._dirty and len(self.chars) >= 8:
            line = "".join(self.chars)
            for f in scan(line):
                marks.add(self.origins[f.start : f.end], f.category)
        self._dirty = False

    def enter(self, scan: Scanner, marks: Marks) -> None:
        """The line is done: scanned, and masked whole when it is a row of a private key whose
        BEGIN line was typed before it (:mod:`.key_blocks`)."""
        self.flush(scan, marks)
        if (self.chars or self._keys.open) and self._keys.body("".join(self.chars)):
            marks.add(self.origins, _key_row(self._keys))
        self.chars.clear()
        self.origins.clear()


class OutputLines:
    """Terminal output as lines of visible text, each character traced to (event, index).

    A line is kept as pieces (the runs of text between escape sequences and chunk borders) with
    where each came from; origins are computed only for the rare spans a scan finds, so output
    costs a few operations per piece, not per character.
    """

    def __init__(
        self,
        scan: Scanner,
        marks: Marks,
        may_hold: Callable[[str], bool],
        lines_may_hold: Callable[[str], bool],
        known: KnownSecrets | None = None,
    ) -> None:
        """``may_hold(text)`` is False only when ``scan`` finds nothing in any part of ``text``,
        ``lines_may_hold(text)`` only when it finds nothing in any of its whole lines.

        ``known``, the session's secrets found so far: a line drawn after the cursor was moved
        (a carriage return without a line feed, or an escape that moves it) is also searched for
        any run of their characters (:meth:`.known.KnownSecrets.fragments`). Shells draw a
        command line that way when it is longer than the terminal's width or edited in its
        middle: readline wraps with `` \\r``, goes up a row (``\\r\\x1b[A\\x1b[C…``) to redraw
        from a key typed or deleted there, fish moves up (``\\x1bM``) and right
        (``\\r\\x1b[26C``); the rest of a secret is drawn there alone, its start on the row above
        or left of it, and no detector knows it by its middle."""
        self._scan = scan
        self._marks = marks
        self._may_hold = may_hold
        self._lines_may_hold = lines_may_hold
        self._known = known
        self._redrawn = False  # this line is drawn where the cursor was moved (a bare CR, a move)
        self._moved = False  # the chunk being fed moves the cursor
        self._text: list[str] = []
        self._starts: list[int] = []  # offset of each piece in the line
        self._sources: list[tuple[int, int]] = []  # (sequence, index in that event's data)
        self._length = 0
        self._drawn = False  # text added since the line was last scanned
        self._keys = KeyLines()

    @property
    def current_line(self) -> str:
        return "".join(self._text)

    def feed(self, sequence: int, data: str) -> None:
        # One look per chunk, not per escape: its every line counts as drawn after a move, and
        # so does the line it leaves open.
        self._moved = bool(self._known) and "\x1b" in data and _CURSOR_MOVE.search(data) is not None
        position = self._quiet_lines(data)
        if position == 0 and _lines_apart(data):
            # Some line may hold something: the lines around it still pass whole, runs at a time.
            ends = [brk.end() for brk in _LINE_BREAK.finditer(data)]
            visible = _ESCAPE.sub("", data) if "\x1b" in data else data  # the escapes hold no line break
            shown = [brk.end() for brk in _LINE_BREAK.finditer(visible)]  # the same lines' ends in it
            first = 0  # the first of the lines not done yet, data[position:ends[first]]
            while first < len(ends):
                quiet = self._quiet_run(visible, shown[first - 1] if first else 0, shown[first:])
                if quiet:
                    first += quiet
                    position = ends[first - 1]
                if first < len(ends):
                    self._pieces(sequence, data, position, ends[first])
                    position = ends[first]
                    first += 1
        self._pieces(sequence, data, position, len(data))
        self._redrawn = self._redrawn or self._moved

    def _pieces(self, sequence: int, data: str, start: int, end: int) -> None:
        """``data[start:end]`` piece by piece: the runs of text between escape sequences."""
        position = start
        for match in _ESCAPE.finditer(data, start, end):
            self._plain(sequence, data, position, match.start())
            position = match.end()
            if data.startswith("\x1b]", match.start()):
                sequence_text = match.group(0)
                cut = 1 if sequence_text.endswith("\x07") else 2 if sequence_text.endswith("\x1b\\") else 0
                self._command(sequence, data, match.start() + 2, match.end() - cut)
        self._plain(sequence, data, position, end)

    def _quiet_lines(self, data: str) -> int:
        """Where the lines this chunk completes end, when none of them (the pending line with
        them, their escape sequences too) can hold anything the scan finds: those lines are done
        with one look at the chunk, and only the rest goes piece by piece. 0 when they may."""
        cut = max(data.rfind("\n"), data.rfind("\r")) + 1
        if not cut or "\b" in data or self._keys.open:  # a Backspace edits the line, a key's rows are masked whole
            return 0
        head = data[:cut]
        if "\x1b]" in head and self._may_hold(head):  # a command's text (:meth:`_command`), any part of it
            return 0
        if not self._hold_nothing(self.current_line + (_ESCAPE.sub("", head) if "\x1b" in head else head), head):
            return 0
        self._forget_line(head)
        return cut

    def _quiet_run(self, visible: str, start: int, ends: list[int]) -> int:
        """How many of the lines of ``visible`` text from ``start`` (ending at ``ends``) hold
        nothing, one after another: found by looking at the first line, then at all, then
        halving, so that the lines after one that may hold cost two looks, and a chunk whose
        every line may, one look a line. Those lines are done. Only for :func:`_lines_apart`
        data, whose escape sequences hold no line break: its lines are the visible text's."""
        if self._keys.open:
            return 0
        pending = self.current_line

        def quiet(last: int) -> bool:
            lines = visible[start : ends[last]]
            return self._hold_nothing(pending + lines, lines)

        good, bad = -1, len(ends)
        while good + 1 < bad:
            last = 0 if good < 0 else bad - 1 if bad == len(ends) else (good + bad) // 2
            if quiet(last):
                good = last
            else:
                bad = last
        if good >= 0:
            self._forget_line(visible[start : ends[good]])
        return good + 1

    def _hold_nothing(self, lines: str, drawn: str) -> bool:
        """Whether the scan finds nothing in any of these whole lines, nor (where ``drawn``, the
        output that completes them, moved the cursor back, or the line was drawn after a move)
        a run of a known secret. A line longer than :meth:`_plain` keeps is scanned in parts:
        judged so, not whole."""
        whole = len(lines) <= _LONGEST or all(len(line) <= _LONGEST for line in _LINE_BREAK.split(lines))
        if (self._lines_may_hold if whole else self._may_hold)(lines):
            return False
        redrawn = self._redrawn or self._moved or _BARE_CR.search(drawn) is not None
        return not (self._known and redrawn and self._known.fragments(lines))

    def _forget_line(self, done: str) -> None:
        """The pending line and the lines of ``done`` hold nothing: start the next line."""
        self._text.clear()
        self._starts.clear()
        self._sources.clear()
        self._length = 0
        self._drawn = False
        self._redrawn = done.endswith("\r")  # the next line starts where this row started

    def _command(self, sequence: int, data: str, start: int, end: int) -> None:
        """An operating-system command (window title, the shell integration's marks with the
        command line and the working directory) is text that leaves too: scanned on its own."""
        body = data[start:end]
        if len(body) >= 8:
            for f in self._scan(body):
                self._marks.add([origin(sequence, start + i) for i in range(f.start, f.end)], f.category)

    def _plain(self, sequence: int, data: str, start: int, end: int) -> None:
        for brk in _LINE_BREAK.finditer(data, start, end):
            stop = brk.start()
            if stop > start:
                self._text.append(data[start:stop])
                self._starts.append(self._length)
                self._sources.append((sequence, start))
                self._length += stop - start
                self._drawn = True
            if data[stop] == "\b":
                self._backspace()
            else:
                self.flush()
                if data[stop] == "\r" and not data.startswith("\n", stop + 1):
                    self._redrawn = True  # the cursor is back at its row's start
            start = stop + 1
        if end > start:
            self._text.append(data[start:end])
            self._starts.append(self._length)
            self._sources.append((sequence, start))
            self._length += end - start
            self._drawn = True
        if self._length > _LONGEST:
            self.flush()

    def _backspace(self) -> None:
        """The cursor moves back one column and what follows overwrites: readline's echo of a
        typo fixed with Backspace (``x\b \b``, ``\b\x1b[K``) leaves the line as it is seen.

        The line is scanned first when text was drawn since its last scan: after a key typed or
        deleted in the middle of a line, readline draws the rest of the line again and moves back
        over it, so the rest is seen whole only then, never at the line's end."""
        if not self._text:
            return
        if self._drawn:
            self._drawn = False
            line = "".join(self._text)
            if self._length >= 8 and self._may_hold(line):
                for f in self._scan(line):
                    self._marks.add(self._origins(f.start, f.end), f.category)
            self._redrawn_fragments(line)
        if len(self._text[-1]) == 1:
            self._text.pop()
            self._starts.pop()
            self._sources.pop()
        else:
            self._text[-1] = self._text[-1][:-1]
        self._length -= 1

    def _redrawn_fragments(self, line: str) -> None:
        """On a line drawn after the cursor moved, what it shows of a known secret (see
        :meth:`__init__`)."""
        if (self._redrawn or self._moved) and self._known:
            for f in self._known.fragments(line):
                self._marks.add(self._origins(f.start, f.end), UNCOUNTED)

    def _origins(self, start: int, end: int) -> list[int]:
        out = []
        piece = max(bisect.bisect_right(self._starts, start) - 1, 0)
        for position in range(start, end):
            while piece + 1 < len(self._starts) and self._starts[piece + 1] <= position:
                piece += 1
            sequence, index = self._sources[piece]
            out.append(origin(sequence, index + position - self._starts[piece]))
        return out

    def flush(self) -> None:
        if self._length >= 8 or self._keys.open:
            line = "".join(self._text)
            if self._keys.body(line):
                self._marks.add(self._origins(0, self._length), _key_row(self._keys))
            elif self._length >= 8:
                for f in self._scan(line):
                    self._marks.add(self._origins(f.start, f.end), f.category)
                self._redrawn_fragments(line)
        self._text.clear()
        self._starts.clear()
        self._sources.clear()
        self._length = 0
        self._drawn = False
        self._redrawn = False
