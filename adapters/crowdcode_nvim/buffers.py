"""Each Neovim buffer's text, kept in step with on_lines, and its positions in schema units.

Neovim reports changes in a model where every line ends in a line break, the last one included; a
new or emptied buffer (one empty line) is ``"\\n"``. The document kept here follows that model with
the buffer's own line break (``'fileformat'``); what is recorded is the file as Neovim writes it:
that document, after a byte order mark when ``'bomb'`` is set (Neovim reads it into that option,
not into the text), and nothing at all for a buffer without lines (an empty file, or every line
deleted), which Neovim shows as one empty line but writes as zero bytes; and without the last
line break when Neovim writes none (a file read without one, kept by 'nofixeol' or 'binary'; see
``noeol``). Changes that touch that last break are then computed on the file texts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from crowdcode_sdk.errors import CrowdcodeError
from crowdcode_sdk.positions import Document, Encoding, FileForm, utf16_len
from crowdcode_sdk.schema import Position, SelectionMode, TextChange

LINE_BREAKS = {"unix": "\n", "dos": "\r\n", "mac": "\r"}

VISUAL_MODES = {"v": SelectionMode.CHAR, "V": SelectionMode.LINE, "\x16": SelectionMode.BLOCK}


def form_of(empty: object, bom: object, noeol: object) -> FileForm:
    """The plugin's flags as a form; anything but ``true`` (``false``, or nil from an older
    plugin) is unset."""
    return FileForm(empty=empty is True, bom=bom is True, noeol=noeol is True)


@dataclass
class SelectionRange:
    start: Position
    end: Position
    cursor: Position
    text: str
    mode: SelectionMode | None


class Buffer:
    """One tracked buffer: its number, file (``name``, an absolute path) and text."""

    def __init__(self, number: int, name: str, fileformat: str, text: str, form: FileForm | None = None) -> None:
        self.number = number
        self.name = name
        self.line_break = LINE_BREAKS.get(fileformat, "\n")
        self.document = Document(self.from_nvim(text))
        self.form = form or FileForm()
        """How Neovim writes the document (see the module docstring)."""
        self._renumber()

    @property
    def path(self) -> Path | None:
        """The file, when the buffer has one (Neovim gives absolute names)."""
        return Path(self.name) if self.name and Path(self.name).is_absolute() else None

    @property
    def text(self) -> str:
        """The file as Neovim writes this buffer (see the module docstring)."""
        return self.form.file_text(self.document.text, self.line_break)

    def file_text(self, text: str, form: FileForm) -> str:
        """The file Neovim writes for ``text`` (its model) in ``form``, in this buffer's line breaks."""
        return form.file_text(self.from_nvim(text), self.line_break)

    def from_nvim(self, text: str) -> str:
        """Text as Neovim sends it (``\\n`` between lines) with this buffer's line breaks."""
        return text if self.line_break == "\n" else text.replace("\n", self.line_break)

    def read_as(self, fileformat: str) -> None:
        """Neovim decides ``'fileformat'`` again at every read: a CRLF file emptied and read back
        (``ggdG``, ``:w``, ``:e!``) is then ``unix``, and written with ``\n``."""
        self.line_break = LINE_BREAKS.get(fileformat, self.line_break)
        self._renumber()

    def reset(self, text: str, form: FileForm) -> None:
        """The buffer was read again: ``text`` (Neovim's model) and ``form`` replace everything."""
        self.document = Document(self.from_nvim(text))
        self.form = form
        self._renumber()

    # Neovim's rows are not always the document's lines: the document breaks lines by LSP's rule
    # (``\r\n``, ``\r`` or ``\n``), for the schema's positions, while a Neovim line may hold a
    # ``\r`` (a CRLF file read as ``unix``, or one whose ``\r\n`` lines were then given
    # ``'fileformat'`` ``dos``: ``x\r\r\n``). Rows are then mapped to lines, or every change
    # below such a line would be applied to the wrong lines of the recorder's copy.

    def _renumber(self) -> None:
        """The whole text was replaced: count its inner breaks again."""
        self._inner = _inner_breaks(self.document.text, self.line_break)
        self._rows: list[int] | None = None

    def _row_starts(self) -> list[int]:
        """The document line where each of Neovim's rows starts (the last: the text after the
        last line break), computed once per change while the text holds inner breaks."""
        if self._rows is None:
            doc, ends = self.document, self.line_break
            self._rows = [0, *(i + 1 for i in range(doc.line_count) if doc.line(i, keep_end=True).endswith(ends))]
        return self._rows

    def _row_line(self, row: int) -> int:
        """The document line where Neovim's ``row`` starts (past the last row: past the end)."""
        if not self._inner:
            return row
        rows = self._row_starts()
        return rows[row] if row < len(rows) else self.document.line_count + row - len(rows)

    def _row_offset(self, row: int) -> int:
        """Code point index where Neovim's ``row`` starts; the end of the text past the last one."""
        line = self._row_line(row)
        return (
            self.document.offset_at(line, 0, Encoding.UTF8) if line < self.document.line_count else len(self.document)
        )

    def _row_text(self, row: int) -> str:
        """Neovim's ``row``, without its line break."""
        if not self._inner:
            return self.document.line(row)
        text = self.document.slice(self._row_offset(row), self._row_offset(row + 1))
        return text.removesuffix(self.line_break)

    def index(self, row: int, col: int) -> int:
        """Code point index of a (row, byte column) position; past a line's end means its end."""
        if not self._inner:
            return self.document.offset_at(row, col, Encoding.UTF8)
        start = self.document.offset_at(self._row_line(row), 0, Encoding.UTF8)  # raises past the end
        line = self._row_text(row)
        return start + (min(col, len(line)) if line.isascii() else len(line.encode()[:col].decode("utf-8", "ignore")))

    def replace_lines(
        self,
        first: int,
        last: int,
        text: str,
        hint: tuple[int, int] | None = None,
        empty: bool = False,
        noeol: bool = False,
    ) -> TextChange | None:
        """Apply one on_lines change: lines ``first``..``last`` (0-based, end exclusive) now read
        ``text`` (each line ending in ``\\n``); ``empty``: the buffer now has no lines; ``noeol``:
        Neovim now writes it without its last line break. Returns the
        smallest edit of the file text, or None if nothing changed.

        ``hint`` is where Neovim said the change starts (row, byte column): inside a run of equal
        characters, typing or deleting one is placed there rather than at the run's end.
        """
        start = self.document.offset_at(self._row_line(first), 0, Encoding.UTF8)
        end = self.document.offset_at(self._row_line(last), 0, Encoding.UTF8)
        form, before = self._reshaped(empty, noeol, end)
        if not text and start == 0 and end == len(self.document):
            text = "\n"  # deleting every line leaves one empty line (on_lines reports none)
        at = None
        if hint is not None:
            with contextlib.suppress(CrowdcodeError):
                at = self.index(*hint) - start
        change = self._replace_minimal(start, end, self.from_nvim(text), at)
        return self._in_file(change, before, form)

    def replace_all(self, text: str, empty: bool = False, noeol: bool = False) -> TextChange | None:
        """Make the text ``text`` (Neovim's model) with the smallest single replacement, or None."""
        form, before = self._reshaped(empty, noeol, len(self.document))
        change = self._replace_minimal(0, len(self.document), self.from_nvim(text), None)
        return self._in_file(change, before, form)

    def _reshaped(self, empty: bool, noeol: bool, end: int) -> tuple[FileForm, str | None]:
        """The form after a change that leaves the buffer ``empty`` or not and ``noeol`` or not,
        and the file text before it when the change of the document is not the change of the file
        (see ``_in_file``): the form changes, the buffer has no lines, or Neovim writes it without
        its last line break and the change (of text before index ``end``) may reach that break.
        A change above it is the same change of the file: building and comparing the file texts
        for each one made the cost of ``:g/x/d`` quadratic in the file's length (15 s for 5,000
        lines without a final line break, the recorder that far behind)."""
        form = replace(self.form, empty=empty, noeol=noeol)
        tail = len(self.document) - len(self.line_break)
        if form == self.form and not form.empty and (not form.noeol or end <= tail):
            return form, None
        return form, self.text

    def _in_file(self, change: TextChange | None, before: str | None, form: FileForm) -> TextChange | None:
        """A change of the document as a change of the file text: after the byte order mark, and
        the whole difference when the buffer lost or gained its lines or is written without its
        last line break (``before``: the file text then)."""
        self.form = form
        if before is not None:
            return minimal_change(before, self.text)
        if change is not None and form.bom:
            return TextChange(range_offset=change.range_offset + 1, range_length=change.range_length, text=change.text)
        return change

    def _replace_minimal(self, start: int, end: int, new: str, hint: int | None) -> TextChange | None:
        old = self.document.slice(start, end)
        if old == new:
            return None
        cut_start, cut_end, text = _difference(old, new, hint)
        # The breaks a replacement adds or removes are within it or pair with a character next to
        # it. ``old`` holds whole rows: the character before them ends a line break and the one
        # after starts a row, so no ``\r\n`` pairs across its ends.
        before, after = max(cut_start - 1, 0), min(cut_end + 1, len(old))
        replaced = old[before:cut_start] + text + old[cut_end:after]
        self._inner += _inner_breaks(replaced, self.line_break) - _inner_breaks(old[before:after], self.line_break)
        self._rows = None
        return self.document.replace(start + cut_start, start + cut_end, text)

    def position(self, row: int, col: int) -> Position:
        """The schema position (UTF-16 character) of a (row, byte column) position.

        Computed from the line alone: the cursor and viewport are sampled after every change, and
        the document's line offsets would otherwise be recomputed for each sample.
        """
        if self._inner:
            offset = self.index(row, col) if self._row_line(row) < self.document.line_count else len(self.document)
            return self._in_file_position(self.document.position_at(offset, Encoding.UTF16))
        if row >= self.document.line_count:
            return self._in_file_position(self.document.position_at(len(self.document), Encoding.UTF16))
        line = self.document.line(row)
        if line.isascii():
            return self._in_file_position(Position(line=row, character=min(col, len(line))))
        encoded = line.encode("utf-8")
        index = len(encoded[: min(col, len(encoded))].decode("utf-8", "ignore"))
        return self._in_file_position(Position(line=row, character=utf16_len(line[:index])))

    def _in_file_position(self, position: Position) -> Position:
        """Positions count the byte order mark, as edits do: it is the file's first character."""
        if self.form.bom and position.line == 0:
            return Position(line=0, character=position.character + 1)
        return position

    def selection(
        self, mode: str, row: int, col: int, other_row: int | None, other_col: int | None, block_text: str | None
    ) -> SelectionRange:
        """The cursor, or Visual mode's selection between the cursor and its other end.

        Charwise and blockwise selections include the character under their last position
        (Vim's default 'selection'); linewise ones whole lines with their line breaks.
        """
        cursor = self.position(row, col)
        visual = VISUAL_MODES.get(mode)
        if visual is None or other_row is None or other_col is None:
            return SelectionRange(cursor, cursor, cursor, "", None)
        (r1, c1), (r2, c2) = sorted([(row, col), (other_row, other_col)])
        doc = self.document
        if visual is SelectionMode.LINE:
            start, end = self._row_offset(r1), self._row_offset(r2 + 1)
        else:
            if visual is SelectionMode.BLOCK:
                c1, c2 = min(c1, c2), max(c1, c2)
            start = self.index(r1, c1)
            end = self._after_character(r2, c2)
        text = block_text if visual is SelectionMode.BLOCK and block_text is not None else doc.slice(start, end)
        return SelectionRange(
            self._in_file_position(doc.position_at(start, Encoding.UTF16)),
            self._in_file_position(doc.position_at(end, Encoding.UTF16)),
            cursor,
            text,
            visual,
        )

    def _after_character(self, row: int, col: int) -> int:
        """Index just after the character at (row, col); at or past the line's end, after its break."""
        line = self._row_text(row)
        if col < (len(line) if line.isascii() else len(line.encode("utf-8"))):
            return self.index(row, col) + 1
        return self._row_offset(row + 1)

    def lines(self, first: int, last: int) -> str:
        """Lines ``first``..``last`` (1-based, inclusive) without line breaks, joined by ``\\n``."""
        last = min(last, len(self._row_starts()) if self._inner else self.document.line_count)
        return "\n".join(self._row_text(i) for i in range(first - 1, last))


def _inner_breaks(text: str, line_break: str) -> int:
    """How many of ``text``'s line breaks by LSP's rule are inside Neovim's lines (in a buffer
    whose lines end in ``line_break``): a ``\r`` not before ``\n`` in a ``unix`` buffer, any but
    ``\r\n`` in a ``dos`` one, a ``\n`` in a ``mac`` one. Counted in C: for a typed character
    it is a count over three."""
    pairs = text.count("\r\n")
    if line_break == "\n":
        return text.count("\r") - pairs
    if line_break == "\r\n":
        return text.count("\r") + text.count("\n") - 2 * pairs
    return text.count("\n")


def screen_position(line: str, row: int, col: int) -> Position:
    """A terminal cursor (row on screen, byte column in ``line``) in schema units."""
    encoded = line.encode("utf-8", "surrogateescape")
    index = len(encoded[:col].decode("utf-8", "ignore"))
    return Position(line=row, character=utf16_len(line[:index]))


def minimal_change(before: str, after: str) -> TextChange | None:
    """The single smallest edit (schema units) turning ``before`` into ``after``; None if equal."""
    if before == after:
        return None
    start, end, text = _difference(before, after, None)
    return Document(before).replace(start, end, text)


def _difference(old: str, new: str, hint: int | None) -> tuple[int, int, str]:
    """(start, end, text): replacing ``old[start:end]`` by ``text`` gives ``new``, smallest such.

    ``hint`` (an index into ``old``) is where the change was made: a pure insertion or deletion
    inside a run of equal characters slides left towards it.
    """
    prefix = _common_prefix(old, new)
    limit = min(len(old), len(new)) - prefix
    suffix = min(_common_prefix(old[::-1], new[::-1]), limit)
    start, end, text = prefix, len(old) - suffix, new[prefix : len(new) - suffix]
    if hint is not None:
        hint = max(hint, 0)  # the change may start before the changed lines (:move deletes "\nline")
        if start == end:
            while start > hint and old[start - 1] == text[-1]:
                text = old[start - 1] + text[:-1]
                start -= 1
                end -= 1
        elif not text:
            while start > hint and old[start - 1] == old[end - 1]:
                start -= 1
                end -= 1
    return start, end, text


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n
    while lo < hi:  # binary search on slices: C-speed comparisons, O(n log n) at worst
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
