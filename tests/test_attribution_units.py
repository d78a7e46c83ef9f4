"""Unit tests of attribution's parts: diffs and patching, the edit chain, agents and commands."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdcode_sdk.agents import match_agent
from crowdcode_sdk.attribution.barrier import Barrier
from crowdcode_sdk.attribution.diffs import apply_diff, minimal_change, unified_diff
from crowdcode_sdk.attribution.engine import MTIME_GRAIN_MS, _written_at
from crowdcode_sdk.attribution.evidence import TerminalEvidence, classify_command
from crowdcode_sdk.attribution.pending import EditChain
from crowdcode_sdk.attribution.watcher import Pending
from crowdcode_sdk.positions import Document, apply_change, touches_span
from crowdcode_sdk.schema import FileOpen, Source, TextChange

LINES = st.lists(st.sampled_from(["a", "b", "c\r", "", "😀", "x y", "\t"]), max_size=12)


@given(LINES, LINES, st.booleans(), st.booleans())
def test_diff_then_patch_round_trips(before: list[str], after: list[str], end1: bool, end2: bool) -> None:
    old = "\n".join(before) + ("\n" if end1 and before else "")
    new = "\n".join(after) + ("\n" if end2 and after else "")
    diff = unified_diff(old, new, "f.txt")
    assert (diff is None) == (old == new)
    if diff is not None:
        assert apply_diff(old, diff) == new


@given(st.text(max_size=30), st.text(max_size=30))
def test_minimal_change_turns_before_into_after(before: str, after: str) -> None:
    assert apply_change(before, minimal_change(before, after)) == after


def test_diff_headers_and_missing_newline() -> None:
    diff = unified_diff("", "x", "n.txt", created=True)
    assert diff == "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n"


def test_chain_finds_the_longest_saved_prefix_without_a_cap() -> None:
    doc = Document("base\n")
    chain = EditChain(doc.text)
    for i in range(3000):
        chain.add(doc.replace(len(doc), len(doc), "ab"[i % 2]), i + 1, 0)
    saved_at_2000 = EditChain("base\n")
    saved_at_2000.edits = chain.edits[:2000]
    text_2000 = saved_at_2000.text_at(2000)
    assert text_2000 is not None
    assert chain.find(text_2000, include_base=False) == 2000
    assert chain.find(doc.text, include_base=False) == 3000
    assert chain.find("base\n", include_base=False) is None
    assert chain.find("base\n", include_base=True) == 0
    chain.advance(2000, text_2000)
    assert chain.base_sequence == 2000 and len(chain.edits) == 1000
    assert chain.find(doc.text, include_base=False) == 1000


def test_chain_with_edits_that_do_not_apply_explains_nothing() -> None:
    chain = EditChain("ab")
    chain.add(TextChange(range_offset=10, range_length=0, text="x"), 1, 0)
    assert chain.find("abx", include_base=False) is None
    assert chain.text_at(1) is None


def test_the_unsaved_span_is_where_the_buffer_differs_from_its_saved_text() -> None:
    doc = Document("one\ntwo\nthree\n")
    chain = EditChain(doc.text)
    assert chain.unsaved_span() is None
    chain.add(doc.replace(3, 3, "X"), 1, 0)
    assert chain.unsaved_span() == (3, 4)
    chain.add(doc.replace(3, 4, ""), 2, 0)
    assert chain.unsaved_span() is None  # undone back to the saved text: nothing unsaved
    chain.add(doc.replace(8, 9, ""), 3, 0)  # "t" of "three" deleted: an empty span where it was
    assert chain.unsaved_span() == (8, 8)
    chain.add(TextChange(range_offset=99, range_length=0, text="x"), 4, 0)
    assert chain.unsaved_span() == (0, chain.length)  # edits that do not apply: all of it


@pytest.mark.parametrize(
    ("span", "changes", "touched"),
    [
        ((3, 4), [(5, 3, "TWO")], False),  # another line
        ((3, 4), [(4, 1, "")], False),  # right after the span, replacing text
        ((3, 4), [(2, 2, "ab")], True),  # across it
        ((3, 4), [(4, 0, "O")], True),  # an insertion right against it continues it
        ((8, 8), [(7, 1, "")], True),  # written where text was deleted, at its edge
        ((8, 8), [(0, 3, "")], False),
        ((8, 9), [(0, 3, ""), (5, 1, "Z")], True),  # the first change moves the span onto the second
        ((8, 9), [(0, 0, "abc"), (8, 1, "Z")], False),
    ],
)
def test_a_change_touches_a_span_it_replaces_or_writes_against(
    span: tuple[int, int], changes: list[tuple[int, int, str]], touched: bool
) -> None:
    edits = [TextChange(range_offset=o, range_length=n, text=t) for o, n, t in changes]
    assert touches_span(*span, edits) is touched


def test_a_barrier_passes_a_moment_only_with_a_token_asked_after_it() -> None:
    asked: list[int] = []
    barrier = Barrier(asked.append)
    assert not barrier.passed(1000, now=1200)
    assert not barrier.passed(1000, now=1300)  # one token on its way is enough
    assert asked == [1]
    barrier.returned(1)
    assert barrier.passed(1000, now=1400)
    assert barrier.passed(1200, now=1400)
    assert not barrier.passed(1201, now=1500)  # the token was asked for before that moment
    assert not barrier.passed(1600, now=1700)  # the one asked at 1500 is before 1600: ask again
    assert asked == [1, 2, 3]
    barrier.returned(3)  # tokens come back in order: 2 was lost with a restarted editor
    barrier.returned(2)
    barrier.returned(99)
    assert barrier.passed(1700, now=1800)
    assert asked == [1, 2, 3]


@pytest.mark.parametrize(
    ("command", "agent"),
    [
        ("claude", "claude"),
        ("claude -p 'fix it'", "claude"),
        ("/usr/local/bin/codex exec hi", "codex"),
        ("npx @openai/codex", "codex"),
        ("FOO=1 gemini", "gemini"),
        ("aider --model x", "aider"),
        ("cursor-agent", "cursor-agent"),
        ("opencode run", "opencode"),
        ("sed -i s/a/b/ f", None),
        ("vim claude.md", None),
    ],
)
def test_match_agent(command: str, agent: str | None) -> None:
    assert match_agent(command) == agent


@pytest.mark.parametrize(
    ("command", "source"),
    [
        ("sed -i s/a/b/ x", Source.EXTERNAL),
        ("black .", Source.EXTERNAL),
        ("npm install", Source.EXTERNAL),
        ("python gen.py", Source.EXTERNAL),
        ("nvim x.py", Source.USER),
        ("git checkout main", Source.GIT),
        ("claude", Source.AGENT),
        ("htop", None),
        # A line of several commands is its most telling one, wherever it stands.
        ("sleep 1; printf 'from the terminal\\n' >> notes.txt", Source.EXTERNAL),
        ("cd src && sed -i s/a/b/ x", Source.EXTERNAL),
        ("make || (cd docs; vim index.md)", Source.USER),
        ("git stash && claude -p 'fix it'", Source.AGENT),
        ("echo ';' | cat", Source.EXTERNAL),
        ("sleep 1; htop", None),
        ("sleep 'unclosed", None),
    ],
)
def test_classify_command(command: str, source: Source | None) -> None:
    found = classify_command(command)
    assert (found[0] if found else None) == source


def test_crowdcode_s_own_files_inside_the_workspace_are_never_recorded(tmp_path, monkeypatch):
    """Neovim started in the home directory watches crowdcode's data dir too: its journal writes
    must not become file changes (each of which would be journaled, and so on)."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    monkeypatch.setenv("CROWDCODE_HOME", str(workspace / ".crowdcode-home"))
    from crowdcode_sdk import Session, Store
    from crowdcode_sdk.attribution import Attribution

    session = Session(adapter="test", editor="self", workspace=workspace)
    attribution = Attribution(session, roots=[workspace])
    try:
        (workspace / "note.txt").write_text("written by a tool\n")
        for n in range(50):  # plenty of journal and registry writes inside the workspace
            session.record(FileOpen(file=f"f{n}"))
        session.flush()
        assert attribution.drain()
    finally:
        attribution.close()
        session.close()
    changes = [e.payload.file for e in Store().events(Store().find(session.id)) if e.kind == "file_change"]
    assert changes == ["note.txt"]


def test_a_change_is_as_late_as_its_last_write(tmp_path: Path) -> None:
    """The moment an editor's barrier must pass for a change: its last write's, which the text read
    holds. A change's events may begin with a late event of a write already decided; the watcher
    may report a write long after it, or not yet have reported the last one."""
    path = tmp_path / "notes.txt"
    path.write_text("written\n")
    written = path.stat().st_mtime_ns // 1_000_000
    assert _written_at(Pending(path, first=written - 5000, last=written + 3)) == written + 3
    assert _written_at(Pending(path, first=written + 4000, last=written + 5000)) == written + MTIME_GRAIN_MS
    assert _written_at(Pending(path, first=written - 5000, last=written - 4000)) == written + MTIME_GRAIN_MS


def _control_socket(path: Path, answer: bytes | None) -> socket.socket:
    """A stand-in for a terminal's control socket: one that answers each question with
    ``answer``, or, with ``None``, one that never accepts (a stopped recorder)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    if answer is not None:

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(4096)
                    conn.sendall(answer + b"\n")

        threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("answer", "behind"),
    [
        (b'{"ok": true, "caughtUp": false}', True),
        (b'{"ok": true, "caughtUp": true}', False),
        (b'{"ok": false, "error": "unknown op \'caught_up\'"}', False),  # a recorder that predates the question
    ],
)
def test_a_terminal_is_behind_when_it_says_so(tmp_path: Path, answer: bytes, behind: bool) -> None:
    server = _control_socket(tmp_path / "s", answer)
    try:
        assert TerminalEvidence.behind([{"control": str(tmp_path / "s")}], 0) is behind
    finally:
        server.close()


def test_a_terminal_that_does_not_answer_is_behind_and_one_that_has_gone_is_not(tmp_path: Path) -> None:
    stopped = {"control": str(tmp_path / "s")}
    server = _control_socket(tmp_path / "s", None)
    try:
        # Each question waits in the socket's queue until it is full; then connecting fails at once.
        assert all(TerminalEvidence.behind([stopped], 0) for _ in range(12))
    finally:
        server.close()
    assert TerminalEvidence.behind([stopped], 0) is False  # closed: the socket refuses
    assert TerminalEvidence.behind([{"control": str(tmp_path / "gone")}], 0) is False
