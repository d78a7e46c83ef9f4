"""Seeded random sessions in a real VS Code (code-server + headless Chromium, as
test_vscode_e2e.py), driven by plugins/vscode/e2e/random.js as a person edits, optionally with
crowd-code 2.0 recording side by side.

Each session must give exactly one crowdcode session that passes ``crowdcode verify`` (the
autouse fixture), whose training text rebuilds every file on disk byte for byte, whose viewports
are the ranges the editor showed (never one line of a longer file) with their text, and, when
crowd-code 2.0 recorded too, whose edits and commands include every one crowd-code recorded.

Environment:
- ``CROWDCODE_E2E_VSCODE_SEED``: the first seed (default 1, so that CI runs one known session;
  ``random`` picks one); each session's seed is in its test id and in every failure's message;
- ``CROWDCODE_E2E_VSCODE_SESSIONS``: how many sessions (default 1; seeds follow the first);
- ``CROWDCODE_E2E_VSCODE_STEPS``: actions per session (default 30);
- ``CROWDCODE_E2E_CROWD_CODE_VSIX``: crowd-code 2.0's .vsix, packaged with its upload gateway at
  ``CROWDCODE_E2E_CROWD_CODE_GATEWAY`` (default ``127.0.0.1:47123``, path ``/upload``): the test
  receives its upload there. Without it, crowdcode records alone.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crowdcode_sdk.attribution.diffs import apply_diff
from crowdcode_sdk.config import set_value
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.positions import Encoding, apply_change, index_from_units
from crowdcode_sdk.schema import Event
from crowdcode_sdk.serialize.sources import resolve
from crowdcode_sdk.store import Store

from ..conftest import only_session
from ..recordings import disk_files, sed_rebuild
from .code_server import code_server
from .crowd_code_gateway import gateway
from .test_vscode_e2e import drive

_SEED = os.environ.get("CROWDCODE_E2E_VSCODE_SEED", "1")
FIRST_SEED = random.randrange(1, 2**31) if _SEED == "random" else int(_SEED)
SEEDS = [FIRST_SEED + n for n in range(int(os.environ.get("CROWDCODE_E2E_VSCODE_SESSIONS", "1")))]
STEPS = int(os.environ.get("CROWDCODE_E2E_VSCODE_STEPS", "30"))
CROWD_CODE = os.environ.get("CROWDCODE_E2E_CROWD_CODE_VSIX")
GATEWAY = os.environ.get("CROWDCODE_E2E_CROWD_CODE_GATEWAY", "127.0.0.1:47123")

FILES = {
    "notes.txt": "first line\nalpha beta\n",
    "crlf.txt": "one\r\ntwo alpha\r\nthree\r\n",
    "nofinal.txt": "no final newline alpha",
    "empty.txt": "",
    "wide.txt": "🎉 party \U0001d518\U0001d52b\U0001d526 line\nalpha 中文\n",  # Fraktur letters: outside the BMP
    "big.txt": "".join(f"line {n} of the big file alpha\n" for n in range(1, 5001)),  # 150 KB
    "data.json": '{"name":"alpha","items":[1,2,3],"nested":{"key":"value"}}\n',
    "style.css": ":root {\n  --accent: #336699;\n}\n.title {\n  color: var(--accent);\n}\n",
}
"""CRLF, no final newline, empty, characters outside the BMP, a file larger than crowd-code
caches (100 KB), a file to format and one with a symbol to rename (CSS: VS Code's own language
servers; its TypeScript server is not installed with code-server here)."""


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed={seed}" for seed in SEEDS])
def test_random_vscode_session_replays_and_covers_crowd_code(home, tmp_path, seed):
    print(f"seed {seed}: CROWDCODE_E2E_VSCODE_SEED={seed} replays this session")  # shown on failure
    workspace = tmp_path / "project"
    workspace.mkdir()
    for name, text in FILES.items():
        (workspace / name).write_bytes(text.encode())
    set_value(Locations.default(), "consent.status", "declined")
    others, settings = [], {}
    if CROWD_CODE:
        others = [Path(CROWD_CODE)]
        settings = {"crowdCode.export.exportPath": str(tmp_path / "crowd-code")}
    host, port = GATEWAY.split(":")
    # Stopped as a person stops code-server: Ctrl+C in its terminal (SIGINT to its process group).
    with (
        gateway(host, int(port)) if CROWD_CODE else contextlib.nullcontext() as received,
        code_server(tmp_path, workspace, others=others, settings=settings, stop=signal.SIGINT) as url,
    ):
        crowd_code = "1" if CROWD_CODE else "0"
        seen = drive("random", url, str(seed), str(STEPS), str(workspace), ",".join(FILES), crowd_code, base=tmp_path)
        if received is not None:
            assert received.received.wait(60), f"seed {seed}: crowd-code uploaded nothing"
    context = f"seed {seed} (CROWDCODE_E2E_VSCODE_SEED={seed} replays it); actions: {seen['actions']}"

    info = only_session(ended=True)
    events = list(Store(Locations.default()).events(info))
    assert events[-1].kind == "session_end", context
    on_disk = disk_files(workspace)
    [source] = resolve([info.id])
    rebuilt, _ = sed_rebuild(source, tmp_path / "sed")
    assert rebuilt == on_disk, context
    _assert_viewports_are_what_was_shown(events, seen["views"], context)
    if received is not None:
        theirs = received.events()
        (tmp_path / "crowd-code-events.json").write_text(json.dumps(theirs))  # to compare by hand
        _assert_covers(events, theirs, context)


def _assert_viewports_are_what_was_shown(events: list[Event], views: list[dict[str, Any]], context: str) -> None:
    """Every viewport is a range of the file as its edits made it so far, with that range's text;
    one line only where the file had one line or the gutter showed one line (scrolled past the
    end). Each view the gutter showed after a scroll was recorded, give or take its partly visible
    first and last lines."""
    one_line_views = {(view["file"], view["first"]) for view in views if view["first"] == view["last"]}
    recorded = []
    for event, texts in _with_texts(events):
        viewport = event.payload.viewport if event.type == "observation" else None
        if viewport is None or viewport.file not in texts:
            continue
        recorded.append(viewport)
        lines = texts[viewport.file].replace("\r\n", "\n").split("\n")
        # (Right after an edit that adds lines the view may still be the one from before it, for up
        # to the extension's throttle interval: its length is not checked against the file's.)
        assert (
            viewport.end_line > viewport.start_line
            or len(lines) == 1
            or (viewport.file, viewport.start_line) in one_line_views
        ), (viewport, views, context)
        assert viewport.content == "\n".join(lines[viewport.start_line - 1 : viewport.end_line]), (viewport, context)
    for view in views:
        assert any(
            v.file == view["file"]
            and view["first"] <= v.start_line <= view["first"] + 1
            and view["last"] - 1 <= v.end_line <= view["last"]
            for v in recorded
        ), (view, sorted({(v.file, v.start_line, v.end_line) for v in recorded}), context)


def _assert_covers(ours: list[Event], theirs: list[dict[str, Any]], context: str) -> None:
    """Where crowd-code 2.0 recorded an edit or a terminal command, crowdcode recorded it too, in
    the same order (crowdcode records more: edits outside the visible ranges and of other editors,
    which crowd-code drops). A reload is the same edit when it leaves the same text: crowdcode
    records it as the smallest difference, crowd-code as VS Code's change."""
    actions = [e["action"] for e in theirs if e["type"] == "action"]
    assert any(a["kind"] == "edit" for a in actions), (actions, context)
    our_edits = _edits_with_text_before(ours)
    for file in {a["file"] for a in actions if a["kind"] == "edit"}:
        their_edits = [
            (a["diff"]["rangeOffset"], a["diff"]["rangeLength"], a["diff"]["text"])
            for a in actions
            if a["kind"] == "edit" and a["file"] == file
        ]
        mine = our_edits.get(file, [])
        assert _subsequence(their_edits, mine, _same_edit), (file, their_edits, [e[:3] for e in mine], context)
    their_commands = [a["command"] for a in actions if a["kind"] == "terminal_command"]
    our_commands = [e.payload.command for e in ours if e.kind == "terminal_command"]
    assert _subsequence(their_commands, our_commands, operator.eq), (their_commands, our_commands, context)


OurEdit = tuple[int, int, str, str | None, str]
"""(offset, length, text, reason, the file's text before the edit)."""


def _edits_with_text_before(events: list[Event]) -> dict[str, list[OurEdit]]:
    edits: dict[str, list[OurEdit]] = {}
    for event, texts in _with_texts(events):
        if event.kind == "edit":
            edit, before = event.payload, texts.get(event.payload.file, "")
            reason = edit.reason.value if edit.reason is not None else None
            edits.setdefault(edit.file, []).append(
                (edit.diff.range_offset, edit.diff.range_length, edit.diff.text, reason, before)
            )
    return edits


def _with_texts(events: list[Event]) -> Iterator[tuple[Event, dict[str, str]]]:
    """Each event with the files' texts as the recording has them just before it: the editor's
    text of an open file (its edits, reloads included), the disk's of a closed one (its
    ``file_change`` diffs)."""
    texts, open_files = dict(FILES), set()
    for event in events:
        yield event, texts
        if event.kind == "edit":
            texts[event.payload.file] = apply_change(texts.get(event.payload.file, ""), event.payload.diff)
        elif event.kind == "file_open":
            open_files.add(event.payload.file)
            if event.payload.text is not None:
                texts[event.payload.file] = event.payload.text
        elif event.kind == "file_close":
            open_files.discard(event.payload.file)
        elif event.kind == "file_change" and event.payload.file not in open_files:
            if event.payload.change_type.value == "delete":
                texts.pop(event.payload.file, None)
            elif event.payload.diff is not None:
                texts[event.payload.file] = apply_diff(texts.get(event.payload.file, ""), event.payload.diff)


def _same_edit(theirs: tuple[int, int, str], ours: OurEdit) -> bool:
    offset, length, text, reason, before = ours
    if theirs == (offset, length, text):
        return True
    return reason == "reload" and _applied(before, *theirs) == _applied(before, offset, length, text)


def _applied(text: str, offset: int, length: int, insert: str) -> str:
    start = index_from_units(text, offset, Encoding.UTF16)
    return text[:start] + insert + text[index_from_units(text, offset + length, Encoding.UTF16) :]


def _subsequence(part: list[Any], whole: list[Any], same: Callable[[Any, Any], bool]) -> bool:
    rest = iter(whole)
    return all(any(same(item, other) for other in rest) for item in part)


def test_subsequence_keeps_order():
    assert _subsequence([1, 3], [1, 2, 3], operator.eq) and not _subsequence([3, 1], [1, 2, 3], operator.eq)


def test_a_reload_is_the_same_edit_when_it_leaves_the_same_text():
    before = "first\n  "
    assert _same_edit((5, 3, "\n  more\n"), (8, 0, "more\n", "reload", before))
    assert not _same_edit((5, 3, "\n  more\n"), (8, 0, "more\n", None, before))
    assert not _same_edit((5, 3, "\n  else\n"), (8, 0, "more\n", "reload", before))
