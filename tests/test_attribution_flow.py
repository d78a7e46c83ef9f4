"""The engine's one-way flow: other sessions' editors are asked without the engine's lock, and
their answers come from their engine's worker, never from the control thread that received the
question (see docs/attribution.md, "Threads and messages")."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from watchdog.events import FileSystemEvent

from crowdcode_sdk import Document, Session
from crowdcode_sdk.attribution import Attribution, engine, watcher
from crowdcode_sdk.attribution.documents import ASK_TIMEOUT_S
from crowdcode_sdk.attribution.replay import workspace_at
from crowdcode_sdk.positions import text_sha256
from crowdcode_sdk.schema import FileChange, FileSave
from crowdcode_sdk.store import Store

from .attribution_support import Bench, run_writer, start_bench
from .conftest import only_session, wait_for

HELD_S = ASK_TIMEOUT_S * 0.75
"""How long the slow editor holds its answer back: less than the owner waits for it, so that the
owner's question is still open while the test edits."""


def _two_sessions(tmp_path: Path, *names: str) -> tuple[Path, Bench, Session]:
    """A workspace holding ``names`` (each with its name as text), the owner's bench watching it
    and another live session of the user on it."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in names:
        (ws / name).write_text(f"{name}\n")
    return ws, start_bench(ws), Session(adapter="test-editor", editor="test", workspace=ws)


def test_an_edit_is_not_blocked_while_another_session_is_slow_to_answer(home: Path, tmp_path: Path) -> None:
    ws, bench, other = _two_sessions(tmp_path, "mine.txt", "theirs.txt")
    asked = threading.Event()
    edited = threading.Event()
    answered_after_edit: list[bool] = []

    def slow_explain(message: dict[str, Any]) -> dict[str, Any]:
        asked.set()
        answered_after_edit.append(edited.wait(HELD_S))
        return {"ok": True, "known": False}

    other.add_control("explain", slow_explain)
    other.publish(documents=[str(ws / "theirs.txt")])
    try:
        doc = bench.editor.open(ws / "mine.txt")
        run_writer("write", str(ws / "theirs.txt"), "changed by a program\n")
        assert asked.wait(30), "the owner never asked the other session's editor"
        started = time.monotonic()
        bench.att.edit(ws / "mine.txt", doc.replace(0, 0, "x"))
        edited.set()
        took = time.monotonic() - started
        bench.settle()
        assert answered_after_edit == [True], f"the edit waited {took:.2f} s for the other session's answer"
        assert bench.verdicts() == [("theirs.txt", "agent")]
        assert [a["file"] for a in bench.actions("edit")] == ["mine.txt"]
    finally:
        bench.close()
        other.close()


def test_another_session_s_editor_answers_from_its_engine_s_worker(home: Path, tmp_path: Path) -> None:
    ws, bench, other = _two_sessions(tmp_path, "shared.txt")
    path = ws / "shared.txt"
    threads: dict[str, str] = {}

    def note_thread(event: Any) -> None:
        kind = (event.to_wire().get("action") or {}).get("kind")
        threads.setdefault(kind, threading.current_thread().name)

    other.add_listener(note_thread)
    editor = Attribution(other, roots=[ws], watch=False)
    try:
        text = path.read_text()
        doc = Document(text)
        editor.open_document(path, text)
        editor.edit(path, doc.replace(len(doc), len(doc), "two\n"))
        editor.save_document(path)
        path.write_text(doc.text)
        bench.settle()
        assert bench.verdicts() == [("shared.txt", "user")]
        saved_in = [a.get("savedIn") for a in bench.actions("file_change")]
        assert saved_in == [other.id]
        assert "file_save" in threads, "the other session recorded no file_save"
        assert threads["file_save"] == "crowdcode-attribution"
    finally:
        bench.close()
        editor.close()
        other.close()


def test_a_save_whose_editor_closed_before_the_decision_is_still_the_user_s(home: Path, tmp_path: Path) -> None:
    """``:wq`` on a loaded machine: the write reaches the watcher before the editor's edits and
    save hint, which arrive with the close, and then the editor quits. The worker is busy elsewhere
    (another session's editor is slow to answer about its file) while the engine closes: the
    buffer is kept until the final pass has decided its save, not dropped when the close begins."""
    ws, bench, other = _two_sessions(tmp_path, "mine.txt", "theirs.txt")
    mine, theirs = ws / "mine.txt", ws / "theirs.txt"
    bench.att.follow_editor(lambda token: None)  # its barrier comes back only after the quit
    asked = threading.Event()

    def slow_explain(message: dict[str, Any]) -> dict[str, Any]:
        asked.set()
        # Held until the engine began closing, or as long as the owner waits at most (it then
        # takes the editor for gone, which is this answer too).
        deadline = time.monotonic() + ASK_TIMEOUT_S
        while not bench.att._stopping and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"ok": True, "known": False}

    other.add_control("explain", slow_explain)
    other.publish(documents=[str(theirs)])
    closer = threading.Thread(target=bench.att.close)
    try:
        bench.editor.open(mine)
        mine.write_text("mine.txt\ntyped\n")  # the editor's write; its edits are still on their way
        run_writer("write", str(theirs), "changed by a program\n")
        assert asked.wait(30), "the owner never asked the other session's editor"
        bench.editor.type(mine, "typed\n")
        bench.att.save_document(mine)
        bench.att.close_document(mine)
        closer.start()
        closer.join(30)
        assert not closer.is_alive(), "the engine did not close"
        assert sorted(bench.verdicts()) == [("mine.txt", "user"), ("theirs.txt", "agent")]
        kinds = [a["kind"] for a in bench.actions("file_save", "file_close")]
        assert kinds == ["file_save", "file_close"]
    finally:
        bench.close()
        other.close()


class _LaggingWatcher:
    """The watcher's thread lagging the disk, as on a loaded machine: while ``lagging`` is set it
    has not reported the writes made (and, once the engine stops it, never will)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lagging = threading.Event()
        report = watcher._Handler.on_any_event

        def on_any_event(handler: watcher._Handler, event: FileSystemEvent) -> None:
            if not self.lagging.is_set():
                report(handler, event)

        monkeypatch.setattr(watcher._Handler, "on_any_event", on_any_event)


def _saved_texts(bench: Bench, *texts: str) -> list[str]:
    """Which of ``texts`` each recorded save wrote (by its content hash), in journal order."""
    by_sha = {text_sha256(text): text for text in texts}
    return [by_sha.get(a["content"]["sha256"], "?") for a in bench.actions("file_save")]


def test_the_final_verdicts_read_the_disk_as_it_is_at_close(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``:w``, more typing, then ``:wa`` and quit on a loaded machine: the first write is still
    waiting for its verdict (read ahead already), and the watcher has not reported the second
    when the engine closes. The final verdict is the disk as it is then, the second save: not the
    text the first write was read as, which the first save's hint and the edits explain too."""
    monkeypatch.setattr(engine, "FORWARD_MS", 3_600_000)  # a busy worker: no verdict before the close
    watch = _LaggingWatcher(monkeypatch)
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "notes.txt"
    path.write_text("one\n")
    bench = start_bench(ws)
    try:
        bench.editor.open(path)
        bench.editor.type(path, "two\n")
        bench.editor.save(path)
        # The first write is reported and read ahead while it waits for its verdict.
        inbox = bench.att._inbox
        wait_for(lambda: (entry := inbox._pending.get(path)) is not None and entry.fresh(), what="the read-ahead")
        watch.lagging.set()
        bench.editor.type(path, "three\n")
        bench.editor.save(path)
        bench.att.close()
        assert _saved_texts(bench, "one\ntwo\n", "one\ntwo\nthree\n")[-1:] == ["one\ntwo\nthree\n"]
        assert bench.actions("file_change") == []
    finally:
        bench.close()


def test_a_change_to_an_open_file_unreported_at_close_is_recorded(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program changes a file the editor holds just before the editor quits, and the
    lagging watcher has not reported it: the final pass reads every file the editor holds, so
    the change is recorded as that program's, and an unchanged file records nothing."""
    watch = _LaggingWatcher(monkeypatch)
    ws = tmp_path / "ws"
    ws.mkdir()
    changed, unchanged = ws / "changed.txt", ws / "unchanged.txt"
    changed.write_text("before\n")
    unchanged.write_text("same\n")
    bench = start_bench(ws)
    try:
        bench.editor.open(changed)
        bench.editor.open(unchanged)
        bench.settle()
        watch.lagging.set()
        run_writer("write", str(changed), "after a program\n")
        bench.att.close()
        assert bench.verdicts() == [("changed.txt", "agent")]
    finally:
        bench.close()


def test_a_new_file_written_before_its_open_arrives_replays(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``:e new.txt``, text and ``:w`` typed at once, then ``:saveas`` and ``:e new.txt`` again:
    Neovim's open of the empty new buffer reaches the engine after the write, which the lagging
    watcher has not reported, and the file is reopened before that save was decided. The open
    says the file was absent (not read, the write would have been taken for the file's first
    state), and the reopened buffer inherits the save: a replay holds the file as written."""
    watch = _LaggingWatcher(monkeypatch)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "other.txt").write_text("so that a snapshot holds the workspace\n")
    path = ws / "new.txt"
    bench = start_bench(ws)
    try:
        watch.lagging.set()
        path.write_text("typed\n")  # the editor's write, before its open and edits arrive
        bench.att.open_document(path, "", absent=True)
        bench.editor.docs[path] = Document("")
        bench.editor.type(path, "typed\n")
        bench.att.save_document(path)
        bench.att.close_document(path)  # :saveas renames the buffer
        bench.editor.open(path)  # :e new.txt: the file as written
    finally:
        bench.close()
    files, _ = workspace_at(Store(), only_session(ended=True))
    assert files.get("new.txt") == "typed\n"


def test_a_file_the_editor_wrote_before_its_slow_adapter_opened_it_is_a_save(home: Path, tmp_path: Path) -> None:
    """``:w copy.txt`` on a loaded machine, then ``:w! copy.txt``: Neovim reports the open, save
    and close of the file it wrote only once the write is done, and its adapter is far behind the
    watcher, past any fixed wait. The engine asks for the editor's barrier and waits for it: each
    write is the person's save, not another program's create or change."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("so that a snapshot holds the workspace\n")
    copy = ws / "copy.txt"
    tokens: list[int] = []
    bench = start_bench(ws)
    bench.att.follow_editor(tokens.append)  # the editor's events, tokens included, are held back

    def asked_or_decided(asked: int) -> bool:
        """Whether a barrier was asked for since ``asked`` tokens, or copy.txt already decided."""
        return len(tokens) > asked or any(
            isinstance(e.payload, FileChange) and e.payload.file == "copy.txt" for e in bench.events
        )

    try:
        for text in ("first\n", "first\nsecond\n"):
            asked = len(tokens)
            copy.write_text(text)  # the editor's write
            wait_for(partial(asked_or_decided, asked), what="a barrier asked for, or a verdict")
            # The adapter catches up: the open, save and close, then the tokens behind them.
            bench.att.open_document(copy, text, absent=True)
            bench.att.save_document(copy)
            bench.att.close_document(copy)
            _catch_up(bench, tokens[asked:])
            bench.settle()
        assert bench.verdicts() == [("copy.txt", "user"), ("copy.txt", "user")]
    finally:
        bench.close()


def _held_back_editor(tmp_path: Path, text: str) -> tuple[Path, Bench, list[int]]:
    """A workspace whose notes.txt holds ``text``, open in an editor whose events, barrier
    tokens included, the test holds back: the tokens the engine asked for, in order."""
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "notes.txt"
    path.write_text(text)
    tokens: list[int] = []
    bench = start_bench(ws)
    bench.att.follow_editor(tokens.append)
    bench.editor.open(path)
    return path, bench, tokens


def _catch_up(bench: Bench, tokens: list[int]) -> None:
    """The held-back editor's barrier tokens come back, in order: it has sent all before them."""
    for token in tokens:
        bench.att.editor_caught_up(token)


def _asked_or_decided(bench: Bench, tokens: list[int], asked: int) -> bool:
    """Whether a barrier was asked for since ``asked`` tokens, or a save or change recorded."""
    return len(tokens) > asked or any(isinstance(e.payload, (FileSave, FileChange)) for e in bench.events)


def test_a_write_after_a_save_waits_for_its_own_edits(home: Path, tmp_path: Path) -> None:
    """``:w``, then ``:set nofixeol noeol`` and ``:w`` at once, on a loaded machine: the first
    write waits for the editor's edits and save hint; by the time they and the barrier are back,
    the file holds the second write, whose edit (the final line break dropped) and hint are still
    on their way. The first save's hint does not explain it: the engine waits for a barrier asked
    for after the second write, and records the editor's own edit, not a guessed one before it."""
    path, bench, tokens = _held_back_editor(tmp_path, "one\n")
    try:
        path.write_text("one\ntwo\n")  # the first write
        wait_for(partial(_asked_or_decided, bench, tokens, 0), what="a barrier asked for, or a verdict")
        path.write_text("one\ntwo")  # the second
        # The first write's edit and hint arrive, and the tokens asked for so far.
        bench.editor.replace(path, 4, 4, "two\n")  # a line added (``o``), one change
        bench.att.save_document(path)
        asked = len(tokens)
        _catch_up(bench, tokens)
        wait_for(partial(_asked_or_decided, bench, tokens, asked), what="a barrier asked for, or a verdict")
        # Then the second's: its edit and hint, and the tokens behind them.
        bench.editor.backspace(path)
        bench.att.save_document(path)
        _catch_up(bench, tokens[asked:])
        bench.settle()
        assert [a.get("reason") for a in bench.actions("edit")] == [None, None]
        assert bench.verdicts() == [("notes.txt", "user")]
    finally:
        bench.close()
    files, _ = workspace_at(Store(), only_session(ended=True))
    assert files.get("notes.txt") == "one\ntwo"


def test_an_unchanged_write_waits_for_its_late_hint(home: Path, tmp_path: Path) -> None:
    """``:w`` of an unmodified buffer on a loaded machine, its save hint behind the write, then
    typing and ``:w`` again: the first write changes nothing on disk and waits for the barrier, so
    its hint is its own ``file_save``. Decided before it, the hint was left over and taken for the
    second write's, which its edits, also late, did not explain yet: a ``file_save`` of the old text
    and another program's ``file_change`` to the new one."""
    path, bench, tokens = _held_back_editor(tmp_path, "é new\n")
    try:
        path.write_text("é new\n")  # the first write: the same text
        wait_for(partial(_asked_or_decided, bench, tokens, 0), what="a barrier asked for, or a verdict")
        bench.att.save_document(path)  # its hint arrives, then the tokens behind it
        asked = len(tokens)
        _catch_up(bench, tokens)
        bench.settle()
        path.write_text("𝄞x new\n")  # the second write, its edit and hint still on their way
        wait_for(partial(_asked_or_decided, bench, tokens, asked), what="a barrier asked for, or a verdict")
        bench.editor.replace(path, 0, 1, "𝄞x")
        bench.att.save_document(path)
        _catch_up(bench, tokens[asked:])
        bench.settle()
        assert bench.verdicts() == [("notes.txt", "user"), ("notes.txt", "user")]
    finally:
        bench.close()
    files, _ = workspace_at(Store(), only_session(ended=True))
    assert files.get("notes.txt") == "𝄞x new\n"


def test_a_hint_no_write_matched_does_not_explain_the_next_write(home: Path, tmp_path: Path) -> None:
    """A save hint left over (its write failed, or was decided before the hint came), then the
    editor's next write on a loaded machine, its edits still on their way: the hint does not make
    the write "saved, then changed by another program". The engine waits for the barrier, and the
    write is the person's save."""
    path, bench, tokens = _held_back_editor(tmp_path, "é new\n")
    try:
        bench.att.save_document(path)  # a hint no write follows
        path.write_text("𝄞x new\n")  # the next write, its edit and hint still on their way
        wait_for(partial(_asked_or_decided, bench, tokens, 0), what="a barrier asked for, or a verdict")
        bench.editor.replace(path, 0, 1, "𝄞x")
        bench.att.save_document(path)
        _catch_up(bench, tokens)
        bench.settle()
        assert bench.verdicts() == [("notes.txt", "user")]
    finally:
        bench.close()
    files, _ = workspace_at(Store(), only_session(ended=True))
    assert files.get("notes.txt") == "𝄞x new\n"
