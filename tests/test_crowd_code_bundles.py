"""crowd-code 2.0 bundles: export -> import round trips, and reading bundles crowd-code wrote."""

from __future__ import annotations

import tarfile

import orjson
import pytest

from crowdcode_sdk import Store
from crowdcode_sdk.cli.main import main
from crowdcode_sdk.export.crowd_code import ACTION_FIELDS
from crowdcode_sdk.serialize.dataset import DatasetConfig, process
from crowdcode_sdk.serialize.sources import resolve
from tests.recordings import read_workspace, run_file_steps
from tests.test_serialize_replay import record_tricky


def chunks(directory):
    return [orjson.loads(p.read_bytes()) for p in sorted(directory.glob("chunk_*.json"))]


@pytest.mark.unverified(
    reason="crowd-code 2.0 bundles carry no opening texts, so a session imported from one cannot be verified"
)
def test_export_writes_the_2_0_schema(home, tmp_path):
    record_tricky(tmp_path / "ws")
    out = tmp_path / "bundle"
    assert main(["export", "latest", "--format", "crowd-code-2.0", "-o", str(out)]) == 0
    [chunk] = chunks(out)
    info = Store().find("latest")
    assert set(chunk) == {"version", "sessionId", "startTime", "chunkIndex", "events"}
    assert (chunk["version"], chunk["sessionId"], chunk["startTime"], chunk["chunkIndex"]) == (
        "2.0",
        info.id,
        info.start,
        0,
    )
    events = chunk["events"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    for event in events:
        assert set(event) == {
            "sequence",
            "timestamp",
            "type",
            {"action": "action", "observation": "observation", "workspace_snapshot": "snapshotId"}[event["type"]],
        }
        if event["type"] == "action":
            action = event["action"]
            assert set(action) <= {"kind", "source", *ACTION_FIELDS[action["kind"]]}
            assert action["source"] in ("user", "agent", "unknown", "git", "git_checkout")
        elif event["type"] == "observation":
            assert set(event["observation"]) == {"viewport", "activeTerminal"}
            if event["observation"]["activeTerminal"]:
                assert set(event["observation"]["activeTerminal"]) == {"id", "name", "viewport"}
        else:
            assert event["snapshotId"] == "snapshot_001"
    assert orjson.loads((out / "snapshots" / "snapshot_001.json").read_bytes())["lib/util.sh"] == "echo $HOME\n"
    with tarfile.open(out / "source_part_001.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["chunk_000.json", "snapshots/snapshot_001.json"]
        assert tar.extractfile("chunk_000.json").read() == (out / "chunk_000.json").read_bytes()
    # Exporting twice into the same bundle would mix sessions: refused with a clear error.
    assert main(["export", "latest", "--format", "crowd-code-2.0", "-o", str(out)]) == 2
    assert main(["export", "latest", "--format", "crowd-code-2.0"]) == 2


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.unverified(
    reason="crowd-code 2.0 bundles carry no opening texts, so a session imported from one cannot be verified"
)
def test_export_import_round_trip(home, tmp_path, packed, capsys):
    recorder = record_tricky(tmp_path / "ws")
    original = Store().find("latest")
    first = tmp_path / "first"
    assert (
        main(["export", original.id, "--format", "crowd-code-2.0", "-o", str(first), "--chunk-minutes", "0.0001"]) == 0
    )
    assert len(chunks(first)) > 1  # several chunks, in order
    capsys.readouterr()
    assert main(["import", str(first / "source_part_001.tar.gz" if packed else first)]) == 0
    imported = Store().find(capsys.readouterr().out.split(" -> ")[1].split()[0])
    assert imported.id != original.id and imported.start == original.start
    second = tmp_path / "second"
    assert (
        main(["export", imported.id, "--format", "crowd-code-2.0", "-o", str(second), "--chunk-minutes", "0.0001"]) == 0
    )
    a, b = chunks(first), chunks(second)
    if packed:  # the first part holds the first six chunks only
        a = a[:6]
    assert [{**c, "sessionId": None} for c in a] == [{**c, "sessionId": None} for c in b[: len(a)]]
    if not packed:
        assert (first / "snapshots" / "snapshot_001.json").read_bytes() == (
            second / "snapshots" / "snapshot_001.json"
        ).read_bytes()
        # The imported session serializes to the same file commands, which still replay exactly.
        [source] = resolve([imported.id])
        result = process(source, DatasetConfig(min_messages=1), keep_steps=True)
        root = tmp_path / "replay"
        run_file_steps(result, root)
        assert read_workspace(root, recorder.final()) == recorder.final()


def crowd_code_chunk():
    """A chunk as crowd-code 2.0 writes it: raw terminal tails, absolute snapshot paths."""
    t = 1_760_000_000_000
    vp = {
        "file": "src/a.py",
        "startLine": 1,
        "endLine": 1,
        "content": "x = 1\n",
        "cursorPosition": {"line": 0, "character": 5},
    }
    events = [
        {"type": "observation", "observation": {"viewport": None, "activeTerminal": None}},
        {"type": "workspace_snapshot", "snapshotId": "snapshot_001"},
        {
            "type": "action",
            "action": {"kind": "tab_switch", "source": "user", "file": "src/a.py", "previousFile": None},
        },
        {"type": "observation", "observation": {"viewport": vp, "activeTerminal": None}},
        {
            "type": "action",
            "action": {
                "kind": "edit",
                "source": "user",
                "file": "src/a.py",
                "diff": {"rangeOffset": 5, "rangeLength": 0, "text": "\ny = 2"},
            },
        },
        {
            "type": "action",
            "action": {
                "kind": "edit",
                "source": "user",
                "file": "src/a.py",
                "reason": "undo",
                "diff": {"rangeOffset": 5, "rangeLength": 6, "text": ""},
            },
        },
        {
            "type": "action",
            "action": {
                "kind": "terminal_command",
                "source": "user",
                "terminalId": "terminal-1",
                "terminalName": "zsh",
                "command": "python -c 'print(42)'",
            },
        },
        {
            "type": "observation",
            "observation": {
                "viewport": vp,
                "activeTerminal": {
                    "id": "terminal-1",
                    "name": "zsh",
                    "viewport": ["$ python -c 'print(42)'", "\x1b[1m42\x1b[0m\r", "progress 10%\rprogress 100%"],
                },
            },
        },
        {
            "type": "action",
            "action": {
                "kind": "file_change",
                "source": "agent",
                "file": "src/a.py",
                "changeType": "change",
                "diff": "--- a/a.py\n+++ b/a.py\n@@ -1 +1,2 @@\n x = 1\n+z = 3\n",
            },
        },
    ]
    for n, event in enumerate(events, 1):
        event.update(sequence=n, timestamp=t + 10 * n)
    chunk = {"version": "2.0", "sessionId": "vscode-session-1", "startTime": t, "chunkIndex": 0, "events": events}
    snapshot = {"/home/alice/proj/src/a.py": "x = 1\n", "/home/alice/proj/README.md": "# proj\n"}
    return chunk, snapshot


def test_reads_bundles_crowd_code_wrote(home, tmp_path, capsys):
    chunk, snapshot = crowd_code_chunk()
    bundle = tmp_path / "cc"
    (bundle / "snapshots").mkdir(parents=True)
    (bundle / "chunk_000.json").write_bytes(orjson.dumps(chunk))
    (bundle / "snapshots" / "snapshot_001.json").write_bytes(orjson.dumps(snapshot))
    # Serialized straight from the bundle: terminal tail cleaned, agent change marked, all exact.
    [source] = resolve([str(bundle)])
    result = process(source, DatasetConfig(min_messages=1), keep_steps=True)
    assert result.initial == {"src/a.py": "x = 1\n", "README.md": "# proj\n"}
    terminal = [s for s in result.steps if s.kind == "terminal"]
    assert [(s.command, s.output) for s in terminal] == [("python -c 'print(42)'", "42\nprogress 100%")]
    assert any(s.command.startswith("# agent\nsed -i '$a\\\nz = 3' src/a.py") for s in result.steps)
    root = tmp_path / "replay"
    run_file_steps(result, root)
    assert (root / "src/a.py").read_text() == "x = 1\nz = 3\n"
    # Imported: a session of ours with crowd-code's timestamps, snapshot relative to the workspace.
    assert main(["import", str(bundle)]) == 0
    new_id = capsys.readouterr().out.split(" -> ")[1].split()[0]
    info = Store().find(new_id)
    assert info.start == chunk["startTime"] and info.metadata["adapter"] == "crowd-code"
    events = [orjson.loads(line) for line in Store().lines(info)]
    stamps = [
        e["timestamp"]
        for e in events
        if e["type"] != "action" or e["action"]["kind"] not in ("session_start", "session_end")
    ]
    assert stamps == [e["timestamp"] for e in chunk["events"]]
    [snap] = [e for e in events if e["type"] == "workspace_snapshot"]
    manifest = orjson.loads((home / "data" / "snapshots" / "manifests" / f"{snap['snapshotId']}.json").read_bytes())
    assert sorted(manifest["files"]) == ["README.md", "src/a.py"]


def test_import_rejects_what_is_not_a_bundle(home, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["import", str(tmp_path / "empty")]) == 2
    (tmp_path / "chunk_000.json").write_text('{"version": "1.0"}')
    assert main(["import", str(tmp_path / "chunk_000.json")]) == 2
