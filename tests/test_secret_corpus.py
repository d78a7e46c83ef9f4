"""Fake secrets typed in an editor, shown in a terminal and stored in workspace files never
reach the server: the corpus goes through a real session, the uploader and the ingest server."""

from __future__ import annotations

import random
from collections import Counter

import orjson

from crowdcode_sdk import Edit, Position, Session, TerminalCommand, TerminalViewport, TextChange, Viewport
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.positions import apply_change
from tests.privacy_support import Uploader, bundles_in, configure, write_snapshot
from tests.secret_corpus import corpus, fragments

COLS = 80


def _rows(text: str) -> list[str]:
    rows = []
    for line in text.splitlines():
        rows.extend(line[i : i + COLS] for i in range(0, max(len(line), 1), COLS))
    return rows


def test_no_secret_of_the_corpus_leaves(privacy_home: Locations, ingest) -> None:  # type: ignore[no-untyped-def]
    configure(privacy_home, **{"consent.status": "accepted", "upload.url": ingest.url})
    samples = corpus()
    rng = random.Random(3)
    session = Session(adapter="test", editor="pytest", workspace="/tmp/ws", locations=privacy_home)
    typed: dict[str, str] = {}
    # 1. The editor: every sample typed key by key (key blocks pasted in one edit), each file in view.
    for category, _secret, line in samples:
        path = f"/tmp/ws/src/{category}.py"
        document = typed.get(path, "")
        pieces = [line + "\n"] if "\n" in line else [*line, "\n"]
        for piece in pieces:
            change = TextChange(range_offset=len(document.encode("utf-16-le")) // 2, range_length=0, text=piece)
            session.record(Edit(file=path, diff=change))
            document = apply_change(document, change)
        typed[path] = document
        lines = document.splitlines()
        session.observe(
            viewport=Viewport(
                file=path,
                start_line=max(1, len(lines) - 20),
                end_line=max(1, len(lines)),
                content="\n".join(lines[-21:]),
                cursor_position=Position(line=len(lines), character=0),
            )
        )
    # 2. The terminal: printed (screen observations, raw stream with colours and odd chunking),
    #    typed as commands (keystrokes in the raw stream, command events).
    screen: list[str] = []
    cast = [orjson.dumps({"version": 2, "width": COLS, "height": 24})]
    clock = 0.0
    for _category, _secret, line in samples:
        screen = (screen + _rows(line))[-24:]
        session.observe(active_terminal=TerminalViewport(id="t1", name="bash", viewport=screen, cols=COLS, rows=24))
        shown = f"\x1b[32m{line}\x1b[0m\r\n".replace("\n", "\r\n").replace("\r\r\n", "\r\n")
        position = 0
        while position < len(shown):
            step = rng.randint(1, 40)
            clock += 0.01
            cast.append(orjson.dumps([round(clock, 3), "o", shown[position : position + step]]))
            position += step
        if "\n" not in line:
            session.record(TerminalCommand(terminal_id="t1", terminal_name="bash", command=f"echo '{line}'"))
            for char in f"echo '{line}'\r":
                clock += 0.01
                cast.append(orjson.dumps([round(clock, 3), "i", char]))
    terminals = session.directory / "terminals"
    terminals.mkdir()
    (terminals / "t1.cast").write_bytes(b"\n".join(cast) + b"\n")
    # 3. The workspace: the same lines in files of a snapshot.
    files: dict[str, str] = {}
    for category, _secret, line in samples:
        files[f"config/{category}.txt"] = files.get(f"config/{category}.txt", "") + line + "\n"
    write_snapshot(privacy_home, "snap-corpus", files)
    session.snapshot("snap-corpus")
    session.close()

    report = Uploader(privacy_home).run_once()
    assert report.sent == 1, report
    (members,) = bundles_in(ingest)
    everything = b"\n".join(members.values()).decode()

    leaked = Counter()
    for category, secret, _line in samples:
        if any(fragment in everything for fragment in fragments(category, secret)):
            leaked[category] += 1
    assert not leaked, f"secrets left the machine: {dict(leaked)}"

    # The redacted edit stream still replays: same lengths, masks where the secrets were.
    events = [
        orjson.loads(line) for name, data in members.items() if name.endswith(".jsonl") for line in data.splitlines()
    ]
    replayed: dict[str, str] = {}
    for event in sorted(events, key=lambda e: e["sequence"]):
        action = event.get("action", {})
        if action.get("kind") == "edit":
            diff = action["diff"]
            change = TextChange(range_offset=diff["rangeOffset"], range_length=diff["rangeLength"], text=diff["text"])
            replayed[action["file"]] = apply_change(replayed.get(action["file"], ""), change)
    for path, original in typed.items():
        redacted = (
            replayed[path.removeprefix("/tmp/ws/")] if path.removeprefix("/tmp/ws/") in replayed else replayed[path]
        )
        assert len(redacted) == len(original)
        assert [len(line) for line in redacted.splitlines()] == [len(line) for line in original.splitlines()]
        assert "*" * 8 in redacted
