"""Workspace snapshots (content-addressed, shared, capped, removed by panic) and
``crowdcode replay`` rebuilding the workspace at any event from them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from crowdcode_sdk.attribution.replay import workspace_at
from crowdcode_sdk.attribution.snapshots import SnapshotStore
from crowdcode_sdk.ignore import IgnoreRules
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.schema import Source
from crowdcode_sdk.store import Store

from .attribution_support import git, init_repo, run_writer, start_bench
from .conftest import only_session, run_cli


def _blob_files(locations: Locations) -> set[Path]:
    root = SnapshotStore(locations.data_dir).blobs.root
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _disk(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_snapshots_share_blobs_and_take_one_per_agent_batch(home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for i in range(50):
        (ws / f"f{i}.txt").write_text(f"file {i}\n" * 20)
    (ws / "big.txt").write_text("x" * 5000)
    (ws / "image.bin").write_bytes(b"\x89PNG\0\0binary")
    bench = start_bench(ws, max_file_bytes=4096)
    locations = Locations.default()
    store = SnapshotStore(locations.data_dir)
    snapshot_ids = [e.payload.snapshot_id for e in bench.events if e.to_wire()["type"] == "workspace_snapshot"]
    first = store.load(snapshot_ids[0])
    assert first is not None and len(first.files) == 50
    assert first.skipped == {"big.txt": "too_large", "image.bin": "binary"}
    blobs_before = _blob_files(locations)
    second_id = bench.att.snapshot()
    assert second_id is not None
    assert _blob_files(locations) == blobs_before  # an unchanged workspace: only a manifest
    assert store.load(second_id).files == first.files  # type: ignore[union-attr]
    raw = store.load_raw(second_id)
    assert raw is not None and raw.files == {} and raw.parent == snapshot_ids[0]  # a delta: nothing changed
    # Two agent changes in one batch: one snapshot before the first; a user action ends the batch.
    run_writer("write", str(ws / "f1.txt"), "agent 1\n")
    bench.settle()
    run_writer("write", str(ws / "f2.txt"), "agent 2\n")
    bench.settle()
    path = ws / "f3.txt"
    bench.editor.open(path)
    bench.editor.type(path, "user\n")
    run_writer("write", str(ws / "f4.txt"), "agent 3\n")
    bench.settle()
    kinds = [
        (w["type"], w.get("action", {}).get("kind"))
        for w in (e.to_wire() for e in bench.events)
        if w["type"] == "workspace_snapshot" or w.get("action", {}).get("kind") == "file_change"
    ]
    assert kinds[-5:] == [
        ("workspace_snapshot", None),
        ("action", "file_change"),
        ("action", "file_change"),
        ("workspace_snapshot", None),
        ("action", "file_change"),
    ]
    # The snapshot before the first agent change holds the content before it.
    batch_snapshot = [e.payload.snapshot_id for e in bench.events if e.to_wire()["type"] == "workspace_snapshot"][-2]
    manifest = store.load(batch_snapshot)
    assert manifest is not None
    assert store.blobs.get(manifest.files["f1.txt"]) == (f"file {1}\n" * 20).encode()
    bench.close()


def test_panic_deletes_removed_snapshots_and_their_new_blobs(home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("a\n")
    bench = start_bench(ws)
    locations = Locations.default()
    store = SnapshotStore(locations.data_dir)
    start_manifests = set(os.listdir(store.manifests))
    cutoff = bench.session.now_ms() + 1
    while bench.session.now_ms() < cutoff:
        pass
    run_writer("write", str(ws / "a.txt"), "secret agent text\n", "write", str(ws / "b.txt"), "b\n")
    bench.settle()
    manifests = set(os.listdir(store.manifests))
    assert len(manifests) == len(start_manifests) + 1
    removed_manifest = manifests - start_manifests
    new_blobs = _blob_files(locations)
    bench.session.remove_since(cutoff)
    bench.settle()  # the engine's worker deletes the snapshots the panic removed from the journal
    assert set(os.listdir(store.manifests)) == start_manifests  # the batch snapshot is gone
    assert not removed_manifest & set(os.listdir(store.manifests))
    # The start snapshot's blobs stay; the agent's new content stays only as a current baseline.
    remaining = _blob_files(locations)
    assert remaining <= new_blobs
    bench.close()


def test_replay_rebuilds_the_workspace_at_every_checkpoint(home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    init_repo(ws, {"app.py": "print('v1')\n", "lib/util.py": "def u():\n    return 1\n", "crlf.txt": "a\r\nb\r\n"})
    git(ws, "checkout", "-q", "-b", "other")
    (ws / "lib/util.py").write_text("def u():\n    return 2\n")
    (ws / "lib/new.py").write_text("new = True\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "other")
    git(ws, "checkout", "-q", "main")
    bench = start_bench(ws)
    checkpoints: list[tuple[int, dict[str, str]]] = []

    def checkpoint() -> None:
        bench.settle()
        checkpoints.append((bench.events[-1].sequence, _disk(ws)))

    checkpoint()
    app = ws / "app.py"
    bench.editor.open(app)
    bench.editor.type(app, "print('typed')\n")
    bench.editor.save(app)
    bench.editor.type(app, "# unsaved\n")  # typed after the save: not on disk
    checkpoint()
    run_writer("write", str(ws / "crlf.txt"), "a\r\nB\r\nc\r\n", "write", str(ws / "made.txt"), "made\n")
    checkpoint()
    git(ws, "checkout", "-q", "other")
    checkpoint()
    run_writer("delete", str(ws / "made.txt"))
    bench.editor.replace(app, 0, 5, "PRINT", source=Source.AGENT)
    bench.editor.save(app)
    checkpoint()
    bench.close()
    assert len({sequence for sequence, _ in checkpoints}) == len(checkpoints)
    for index, (sequence, expected) in enumerate(checkpoints):
        target = tmp_path / f"replay-{index}"
        result = run_cli("replay", "latest", "--into", str(target), "--at", str(sequence))
        assert f"as of event {sequence}" in result.stdout
        assert _disk(target) == expected, f"checkpoint {index} (event {sequence})"


def test_replay_errors_are_one_line(home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "x.txt").write_text("x\n")
    bench = start_bench(ws)
    bench.close()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("")
    result = run_cli("replay", "latest", "--into", str(tmp_path / "full"), check=False)
    assert result.returncode == 2 and "not an empty directory" in result.stderr
    result = run_cli("replay", "latest", "--into", str(tmp_path / "out"), "--at", "999999", check=False)
    assert result.returncode == 2 and "--at must be between" in result.stderr
    assert "Traceback" not in result.stderr


def test_snapshots_can_be_disabled(home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "x.txt").write_text("x\n")
    bench = start_bench(ws, snapshots=False)
    run_writer("write", str(ws / "x.txt"), "y\n")
    bench.settle()
    assert not [e for e in bench.events if e.to_wire()["type"] == "workspace_snapshot"]
    assert [a["source"] for a in bench.actions("file_change")] == ["agent"]
    bench.close()
    manifests = Locations.default().data_dir / "snapshots" / "manifests"
    assert not manifests.exists() or not os.listdir(manifests)


def test_snapshot_readers_of_other_modules_resolve_delta_manifests(home: Path, tmp_path: Path) -> None:
    from crowdcode_sdk.serialize.snapshots import store_loader

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "keep.txt").write_text("keep\n")
    (ws / "gone.txt").write_text("gone\n")
    bench = start_bench(ws)
    run_writer("write", str(ws / "keep.txt"), "changed\n", "delete", str(ws / "gone.txt"))
    bench.settle()
    second = bench.att.snapshot()
    bench.close()
    assert second is not None
    store = SnapshotStore(Locations.default().data_dir)
    raw = store.load_raw(second)
    assert raw is not None and raw.parent is not None and raw.removed == ["gone.txt"]
    assert store_loader(Locations.default().data_dir)(second) == {"keep.txt": "changed\n"}


def test_replay_keeps_what_an_editor_did_before_the_first_snapshot(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor's first file is opened and edited while the initial scan runs (adapters start the
    engine with ``wait=False``), so its ``file_open`` and edits come before the snapshot that lists
    the workspace: the replay must still start the buffer from them."""
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "first.txt"
    path.write_text("as on disk\n")
    (ws / "other.txt").write_text("untouched\n")
    scanning = threading.Event()
    walk = IgnoreRules.walk

    def held_walk(self, *args, **kwargs):
        scanning.wait(10)  # the editor acts before the scan reads anything
        yield from walk(self, *args, **kwargs)

    monkeypatch.setattr(IgnoreRules, "walk", held_walk)
    bench = start_bench(ws, wait=False)
    bench.editor.open(path)
    bench.editor.type(path, "typed before the scan\n", at=0)
    scanning.set()
    bench.settle()
    bench.editor.type(path, "and after it\n", at=0)
    bench.editor.save(path)
    bench.settle()
    bench.close()
    kinds = [e.to_wire().get("action", {}).get("kind") or e.to_wire()["type"] for e in bench.events]
    assert kinds.index("edit") < kinds.index("workspace_snapshot")  # the situation under test
    files, result = workspace_at(Store(), only_session())
    assert files == _disk(ws) and not result.skipped
    assert files["first.txt"] == "and after it\ntyped before the scan\nas on disk\n"


def test_replay_lists_an_edited_file_too_large_to_read_as_not_rebuilt(home: Path, tmp_path: Path) -> None:
    """A file over ``attribution.max_file_bytes`` is opened without its text (never read), so the
    edits and saves of it cannot be replayed: the replay rebuilds every other file and lists that
    one as not rebuilt, as it does for a change without a diff, rather than failing the whole
    workspace on an edit past the end of a text it never had."""
    ws = tmp_path / "ws"
    ws.mkdir()
    big, small = ws / "big.txt", ws / "small.txt"
    big.write_text("a big line\n" * 1000)
    small.write_text("small\n")
    bench = start_bench(ws, max_file_bytes=4096)
    for path in (big, small):
        bench.editor.open(path)
        bench.editor.type(path, "typed at the end\n")
        bench.editor.save(path)
        bench.settle()
    assert [a["file"] for a in bench.actions("file_save")] == ["big.txt", "small.txt"]
    bench.close()
    files, result = workspace_at(Store(), only_session())
    assert files == {"small.txt": "small\ntyped at the end\n"}
    assert result.skipped == ["big.txt"]
    replayed = run_cli("replay", "latest", "--into", str(tmp_path / "out"))
    assert "big.txt" in replayed.stdout and _disk(tmp_path / "out") == files
