"""Document keeps its line starts valid lazily (only as far as queries need after an edit): check
that queries interleaved with edits on documents of many lines agree with a fresh Document."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crowdcode_sdk.positions import Document, Encoding

lines = st.lists(st.sampled_from(["", "a", "é🎉", "plain text", "x\r", "😀😀 ü"]), min_size=30, max_size=120)
ops = st.lists(
    st.tuples(st.floats(0, 1), st.floats(0, 1), st.sampled_from(["", "z", "\n", "é\n🎉", "\r\n"])), max_size=12
)


@settings(max_examples=120, deadline=None)
@given(parts=lines, edits=ops, probes=st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_queries_between_edits_agree_with_a_fresh_document(parts, edits, probes):
    doc = Document("\n".join(parts))
    for a, b, inserted in edits:
        start, end = sorted((int(a * len(doc)), int(b * len(doc))))
        doc.replace(start, end, inserted)
        fresh = Document(doc.text)
        assert len(doc) == len(fresh) == len(doc.text)
        for probe in probes:
            index = int(probe * len(doc))
            for encoding in Encoding:
                assert doc.position_at(index, encoding) == fresh.position_at(index, encoding)
            assert doc.utf16_offset(index) == fresh.utf16_offset(index)
            line = min(int(probe * doc.line_count), doc.line_count - 1)
            assert doc.offset_at(line, 2, Encoding.UTF8) == fresh.offset_at(line, 2, Encoding.UTF8)
            offset16 = fresh.utf16_offset(index)
            assert doc.index_of_utf16(offset16) == fresh.index_of_utf16(offset16)
