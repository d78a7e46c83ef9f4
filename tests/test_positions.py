"""Unit conversions (UTF-16 / code points / UTF-8 / line-character) and incremental documents."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdcode_sdk.positions import (
    Document,
    Encoding,
    PositionError,
    apply_change,
    convert_offset,
    final_break_variant,
    index_from_units,
    split_lines,
    units_from_index,
    utf16_len,
)
from crowdcode_sdk.schema import Position, TextChange

text = st.lists(st.sampled_from(["a", "é", "😀", "𝄞", "\r\n", "\r", "\n", "\t", "中"]), max_size=20).map("".join)


def test_lengths_in_each_unit():
    s = "a😀é"
    assert utf16_len(s) == 4  # 1 + 2 (surrogate pair) + 1
    assert units_from_index(s, 3, Encoding.UTF8) == 1 + 4 + 2
    assert units_from_index(s, 3, Encoding.UTF32) == 3


def test_offsets_convert_between_units():
    s = "x😀y"
    assert convert_offset(s, 5, Encoding.UTF8, Encoding.UTF16) == 3  # after the emoji
    assert convert_offset(s, 3, Encoding.UTF16, Encoding.UTF8) == 5
    assert convert_offset(s, 2, Encoding.UTF32, Encoding.UTF16) == 3


def test_an_offset_inside_a_character_rounds_down_and_past_the_end_raises():
    assert index_from_units("😀", 1, Encoding.UTF16) == 0
    assert index_from_units("é", 1, Encoding.UTF8) == 0
    with pytest.raises(PositionError):
        index_from_units("ab", 3, Encoding.UTF16)


def test_lines_break_at_crlf_lf_and_cr_only():
    assert split_lines("a\r\nb\rc\nd\u2028e") == ["a\r\n", "b\r", "c\n", "d\u2028e"]
    assert split_lines("") == [""]


def test_positions_of_a_document():
    doc = Document("ab\r\n😀c\n")
    assert doc.offset_at(1, 2) == 5  # after the emoji (2 UTF-16 units)
    assert doc.offset_at(1, 4, Encoding.UTF8) == 5
    assert doc.position_at(6) == Position(line=1, character=3)
    assert doc.position_at(6, Encoding.UTF8) == Position(line=1, character=5)
    assert doc.offset_at(0, 99) == 2  # past a line's end means its end (LSP)
    assert doc.offset_at(3, 0) == len(doc)
    with pytest.raises(PositionError):
        doc.offset_at(5, 0)


def test_replace_returns_the_schema_change_in_utf16():
    doc = Document("😀\nb")
    change = doc.replace(2, 3, "XY")  # replace "b"
    assert change == TextChange(range_offset=3, range_length=1, text="XY")
    assert doc.text == "😀\nXY"


def test_empty_document():
    doc = Document("")
    assert len(doc) == 0 and doc.line_count == 1
    doc.apply(TextChange(range_offset=0, range_length=0, text="x\r\n"))
    assert doc.text == "x\r\n" and doc.line_count == 2


@settings(max_examples=300)
@given(initial=text, edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), text), max_size=8))
def test_document_edits_agree_with_plain_string_edits(initial, edits):
    doc, reference = Document(initial), initial
    for a, b, inserted in edits:
        start, end = sorted((min(a, len(reference)), min(b, len(reference))))
        change = doc.replace(start, end, inserted)
        # The returned change, applied in UTF-16 units to the old text, gives the new text.
        assert apply_change(reference, change) == reference[:start] + inserted + reference[end:]
        reference = reference[:start] + inserted + reference[end:]
        assert doc.text == reference
        assert [doc.line(i, keep_end=True) for i in range(doc.line_count)] == split_lines(reference)
    for index in range(len(reference) + 1):
        if 0 < index < len(reference) and reference[index - 1 : index + 1] == "\r\n":
            continue  # inside a CRLF: not addressable by line/character
        for encoding in Encoding:
            p = doc.position_at(index, encoding)
            assert doc.offset_at(p.line, p.character, encoding) == index
        assert doc.index_of_utf16(doc.utf16_offset(index)) == index


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("a\nb", "a\nb\n"),
        ("a\nb\n", "a\nb"),
        ("a\r\nb", "a\r\nb\r\n"),
        ("a\r\nb\r\n", "a\r\nb"),
        ("a\rb", "a\rb\r"),
        ("\n", ""),
        ("", "\n"),
        ("😀", "😀\n"),
    ],
)
def test_final_break_variant_adds_or_drops_the_text_s_own_line_break(text: str, written: str) -> None:
    variant, change = final_break_variant(text)
    assert variant == written
    assert apply_change(text, change) == written
