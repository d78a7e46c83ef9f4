"""Unit tests of the Neovim host's buffer model: Neovim's line changes to schema edits."""

from __future__ import annotations

from crowdcode_nvim.buffers import Buffer

from crowdcode_sdk.positions import FileForm, apply_change
from crowdcode_sdk.schema import Position, SelectionMode


def P(line: int, character: int) -> Position:
    return Position(line=line, character=character)


def test_typing_inside_a_run_of_equal_characters_is_placed_at_the_hint() -> None:
    buffer = Buffer(1, "/w/f.txt", "unix", "aaa\nb\n")
    change = buffer.replace_lines(0, 1, "aaaa\n", hint=(0, 1))
    assert (change.range_offset, change.range_length, change.text) == (1, 0, "a")
    change = buffer.replace_lines(0, 1, "aaa\n", hint=(0, 0))
    assert (change.range_offset, change.range_length, change.text) == (0, 1, "")
    assert buffer.text == "aaa\nb\n"


def test_a_hint_before_the_changed_lines_keeps_the_edit_inside_them() -> None:
    buffer = Buffer(1, "", "unix", "x\ny\nx\n")  # :move reports its deletion from the line before
    change = buffer.replace_lines(2, 3, "", hint=(1, 1))
    assert (change.range_offset, change.range_length) == (4, 2)
    assert buffer.text == "x\ny\n"


def test_without_a_hint_the_smallest_change_is_recorded() -> None:
    before = "héllo 😀 wörld\nnext\n"
    buffer = Buffer(1, "", "unix", before)
    change = buffer.replace_lines(0, 1, "héllo 😀😀 wörld\n")
    assert (change.range_offset, change.range_length, change.text) == (8, 0, "😀")  # UTF-16 units
    assert apply_change(before, change) == buffer.text
    assert buffer.replace_lines(1, 2, "next\n") is None


def test_crlf_buffers_keep_their_line_breaks() -> None:
    buffer = Buffer(1, "/w/dos.txt", "dos", "one\ntwo\n")
    assert buffer.text == "one\r\ntwo\r\n"
    change = buffer.replace_lines(1, 1, "inserted\n")
    assert (change.range_offset, change.text) == (5, "inserted\r\n")
    assert buffer.text == "one\r\ninserted\r\ntwo\r\n"


def test_deleting_every_line_leaves_one_empty_line() -> None:
    buffer = Buffer(1, "", "unix", "a\nb\n")
    buffer.replace_lines(0, 2, "")
    assert buffer.text == "\n"
    buffer.replace_lines(0, 1, "x\n")
    assert buffer.text == "x\n"


def test_a_buffer_without_lines_is_an_empty_file() -> None:
    """Neovim writes nothing for a buffer whose every line was deleted (or read from an empty
    file), though it shows one empty line: the recorded text is then empty, and the edits say so."""
    buffer = Buffer(1, "/w/f.txt", "dos", "a\nb\n")
    emptied = buffer.replace_lines(0, 2, "", empty=True)
    assert buffer.text == "" and apply_change("a\r\nb\r\n", emptied) == ""
    typed = buffer.replace_lines(0, 1, "x\n")
    assert buffer.text == "x\r\n" and apply_change("", typed) == "x\r\n"
    buffer.replace_lines(0, 1, "\n")  # one empty line typed (`o`, then `dd` of the other): a line break
    assert buffer.text == "\r\n"
    assert buffer.replace_lines(0, 1, "\n", empty=True) is not None and buffer.text == ""
    opened = Buffer(2, "/w/empty.txt", "unix", "\n", FileForm(empty=True))
    assert opened.text == "" and opened.replace_lines(0, 1, "\n", empty=True) is None


def test_a_byte_order_mark_is_the_files_first_character() -> None:
    """Neovim reads a BOM into 'bomb' and writes it back: the recorded text has it, edits and
    positions count it."""
    buffer = Buffer(1, "/w/bom.txt", "unix", "ab\ncd\n", FileForm(bom=True))
    assert buffer.text == "\ufeffab\ncd\n"
    change = buffer.replace_lines(0, 1, "aXb\n", hint=(0, 1))
    assert apply_change("\ufeffab\ncd\n", change) == buffer.text == "\ufeffaXb\ncd\n"
    assert buffer.position(0, 1) == P(0, 2) and buffer.position(1, 1) == P(1, 1)
    emptied = buffer.replace_lines(0, 2, "", empty=True)
    assert buffer.text == "\ufeff" and apply_change("\ufeffaXb\ncd\n", emptied) == "\ufeff"


def test_a_file_without_a_final_line_break_changes_above_it_and_at_it() -> None:
    """Without its last line break ('noeol', 'nofixeol'), the file is the document less that
    break: a change above it is the same change of the file, one that reaches it is computed on
    the file texts; either way each edit applies to the file as written, also with BOM and CRLF."""
    buffer = Buffer(1, "/w/f.txt", "dos", "a😀\nb\nc\n", FileForm(bom=True, noeol=True))
    file = buffer.text
    assert file == "\ufeffa😀\r\nb\r\nc"
    for first, last, text in [(0, 1, ""), (1, 2, "d\ne\n"), (0, 1, "x\n"), (3, 3, "f\n"), (2, 4, "")]:
        change = buffer.replace_lines(first, last, text, noeol=True)
        assert change is not None
        file = apply_change(file, change)
        assert file == buffer.text
    assert file == "\ufeffx\r\nd"


def test_selections_in_schema_units() -> None:
    buffer = Buffer(1, "", "unix", "ab😀cd\nline two\n")
    # charwise from byte 2 (the emoji) to byte 6 ('c'), inclusive
    s = buffer.selection("v", 0, 6, 0, 2, None)
    assert (s.start, s.end, s.text, s.mode) == (P(0, 2), P(0, 5), "😀c", SelectionMode.CHAR)
    s = buffer.selection("V", 1, 3, 0, 0, None)
    assert (s.start, s.end, s.text) == (P(0, 0), P(2, 0), "ab😀cd\nline two\n")
    s = buffer.selection("n", 1, 3, None, None, None)
    assert (s.start, s.end, s.text, s.mode, s.cursor) == (P(1, 3), P(1, 3), "", None, P(1, 3))


def test_a_carriage_return_inside_a_neovim_line_keeps_its_rows() -> None:
    """A line may hold a ``\\r`` that LSP's rule, which the document's lines follow, takes for a
    line break: a CRLF file read as ``unix`` and then given ``'fileformat'`` ``dos`` writes
    ``a\\r\\r\\n``; a ``\\r`` typed inside a line. Neovim's rows still name its own lines: a change
    of row 1 is a change of the line after the first line break of the buffer's own."""
    buffer = Buffer(1, "/w/f.txt", "dos", "a\r\nb\nc\n")
    assert buffer.text == "a\r\r\nb\r\nc\r\n"
    change = buffer.replace_lines(1, 2, "B\n", hint=(1, 0))
    assert (change.range_offset, change.range_length, change.text) == (4, 1, "B")
    assert buffer.text == "a\r\r\nB\r\nc\r\n"
    buffer.replace_lines(2, 3, "")
    assert buffer.text == "a\r\r\nB\r\n"

    buffer = Buffer(1, "/w/f.txt", "unix", "x\ry😀\nz\n")
    buffer.replace_lines(1, 2, "Z\n")
    assert buffer.text == "x\ry😀\nZ\n"
    assert buffer.position(1, 1) == P(2, 1)  # positions keep LSP's lines
    assert buffer.position(0, 7) == P(1, 3)  # byte 7: after "x\ry😀", on the line after the "\r"
    assert buffer.selection("V", 0, 0, 0, 0, None).text == "x\ry😀\n"
    assert buffer.selection("v", 1, 0, 0, 2, None).text == "y😀\nZ"
    assert buffer.lines(1, 2) == "x\ry😀\nZ"
    buffer.replace_lines(0, 1, "xy😀\n")  # the "\r" deleted: rows and lines agree again
    buffer.replace_lines(1, 2, "")
    assert buffer.text == "xy😀\n" and buffer.position(0, 2) == P(0, 2)

    buffer = Buffer(1, "/w/f.txt", "unix", "ab\r\nc\n")  # "\r\n" ends row 0: one line break
    buffer.replace_lines(0, 1, "ab\rx\n", hint=(0, 3))  # typed after the "\r": now a break of its own
    buffer.replace_lines(1, 2, "C\n")
    assert buffer.text == "ab\rx\nC\n"
