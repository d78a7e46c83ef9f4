"""The pynvim host's translation layer, fed the plugin's messages directly (no Neovim)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crowdcode_nvim.host import Host

from crowdcode_sdk.schema import Edit, EditReason, FileOpen, Observation, Source
from crowdcode_sdk.store import Store

from .conftest import only_session


def test_messages_become_events_and_a_change_that_does_not_fit_asks_for_the_buffer_again(
    home: Path, tmp_path: Path
) -> None:
    replies: list[dict[str, Any]] = []
    host = Host(replies.append)
    host.notification("crowdcode_hello", [{"version": "0.11.4", "cwd": str(tmp_path), "pid": 1}])
    assert replies[-1]["type"] == "ready"
    path = str(tmp_path / "f.txt")
    host.notification(
        "crowdcode_events",
        [
            [
                ["open", 3, path, "unix", "héllo\n"],
                ["lines", 3, 0, 1, "héllo 😀\n", False, 0, 6],
                ["lines", 3, 0, 1, "héllo\n", "undo", False, False],
                ["lines", 9, 0, 1, "x\n", False, False, False],  # a buffer the host never saw
                ["lines", 3, 7, 8, "x\n", False, False, False],  # past the end: out of step
                ["view", 3, 1, 1, 0, 2],
                ["reload", 3, "from disk\n", "disk"],
                ["close", 3],
            ]
        ],
    )
    assert [r for r in replies if r["type"] == "resync"] == [{"type": "resync", "buf": 9}, {"type": "resync", "buf": 3}]
    host.notification("crowdcode_bye", [])
    assert replies[-1] == {"type": "bye"}
    recorded = list(Store().events(only_session()))
    edits = [e.payload for e in recorded if isinstance(e.payload, Edit)]
    assert [(e.diff.range_offset, e.diff.text, e.reason) for e in edits] == [
        (5, " 😀", None),
        (5, "", EditReason.UNDO),
    ]
    assert [e.payload.file for e in recorded if isinstance(e.payload, FileOpen)] == ["f.txt"]
    assert not [e for e in recorded if isinstance(e.payload, Observation)]  # its buffer was dropped
    assert all(e.source is Source.USER for e in edits)


def test_a_buffer_that_is_not_utf8_is_left_out_without_asking_again(home: Path, tmp_path: Path) -> None:
    replies: list[dict[str, Any]] = []
    host = Host(replies.append)
    host.notification("crowdcode_hello", [{"version": "0.11.4", "cwd": str(tmp_path), "pid": 1}])
    binary, text = str(tmp_path / "blob.bin"), str(tmp_path / "t.txt")
    host.notification(
        "crowdcode_events",
        [
            [
                ["open", 1, binary, "unix", "ok \udcff bytes\n"],  # pynvim's form of invalid UTF-8
                ["lines", 1, 0, 1, "changed\n", False, False, False],
                ["view", 1, 1, 1, 0, 0],
                ["open", 2, text, "unix", "fine\n"],
                ["lines", 2, 0, 1, "fine \udcfe\n", False, False, False],  # binary pasted in
                ["lines", 2, 0, 1, "again\n", False, False, False],
            ]
        ],
    )
    host.notification("crowdcode_bye", [])
    assert not [r for r in replies if r["type"] == "resync"]
    kinds = [(e.kind, getattr(e.payload, "file", None)) for e in Store().events(only_session())]
    assert ("file_open", "blob.bin") not in kinds
    assert [k for k in kinds if k[1] == "t.txt"] == [("file_open", "t.txt"), ("file_close", "t.txt")]
