"""Serialized conversations replayed with real bash and GNU sed reproduce the recorded files."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from crowdcode_sdk import Session, Source, Store
from crowdcode_sdk.serialize.conversation import FILE_KINDS, Options
from crowdcode_sdk.serialize.dataset import DatasetConfig, process
from crowdcode_sdk.serialize.sources import resolve
from tests.recordings import Recorder, read_workspace, run_bash, stdout_of, unfence, write_workspace

EVERYTHING = DatasetConfig(max_tokens_per_conversation=10**9, max_tokens_per_message=10**9, min_messages=1)


def record_worked_example(workspace: Path) -> Recorder:
    """crowd-pilot-serializer's worked example, recorded through a real Session."""
    with Session(adapter="test", editor="test-editor", workspace=workspace) as session:
        r = Recorder(session, workspace)
        r.open("src/app.py", "def add(a, b):\n    return a + b\n")
        r.select("src/app.py", 1)
        r.type("src/app.py", len("def add(a, b):\n    return a + b"), "\n\ndef sub(a, b):\n    return a - b")
        r.command("pytest -q", ["\x1b[32m2 passed\x1b[0m".replace("\x1b[32m", "").replace("\x1b[0m", "")])
    return r


def record_tricky(workspace: Path) -> Recorder:
    """Edits that broke the reference: quotes, backslashes, CRLF, tabs, no final newline,
    non-BMP text, appends at the end, paths with spaces, agent and git changes, snapshots."""
    with Session(adapter="test", editor="test-editor", workspace=workspace) as session:
        r = Recorder(session, workspace)
        notes = "it's a \\path\\ with 'quotes'\r\nsecond\tline\r\nno eol"
        r.open("my notes.txt", notes)
        r.edit("my notes.txt", 0, 4, 'it"s')  # replace inside line 1
        r.select("my notes.txt", 2)
        r.edit("my notes.txt", len(notes), len(notes), "\r\nappended \\n not a newline 😀")  # append, keep no EOL
        r.command("wc -l 'my notes.txt'", ["2 my notes.txt"])
        r.open("src/app.py", "def add(a, b):\n    return a + b\n", with_text=False)  # content from the viewport
        r.type("src/app.py", 0, "# \U0001d518\U0001d52b\U0001f600\n")  # non-BMP
        r.edit("src/app.py", len(r.docs["src/app.py"].text) - 1, len(r.docs["src/app.py"].text), "")  # drop final \n
        r.snapshot("snap-1", {"lib/util.sh": "echo $HOME\n", "src/app.py": "ignored: already known\n"})
        r.agent("add a helper to lib/util.sh", "I added `helper` to lib/util.sh.")
        r.disk_change("lib/util.sh", "echo $HOME\nhelper() { printf '%s\\n' \"$1\"; }\n")
        r.switch("src/app.py", "lib/util.sh")
        text = r.docs["src/app.py"].text
        r.edit("src/app.py", len(text), len(text), "\n")  # the final newline comes back
        r.disk_change("lib/util.sh", "", source=Source.GIT)  # emptied
        r.disk_change("new dir/created.txt", "made by git\n", source=Source.GIT)
        r.select("src/app.py", 0)
        for i in range(40):  # a long file and a far jump: a viewport slice
            r.type("src/app.py", len(r.docs["src/app.py"].text), f"x{i} = {i}\n")
        r.command("true", [])
        r.select("src/app.py", 1)
        r.edit("src/app.py", 0, len(r.docs["src/app.py"].text), "")  # everything deleted
        r.type("src/app.py", 0, "reborn\\\n")
    return r


def replay(home: Path, recorder: Recorder, tmp_path: Path, config: DatasetConfig = EVERYTHING) -> list[dict]:
    """Serialize the session, then run every file command of every conversation (from the
    JSONL-ready messages) in a copy of the initial workspace; check outputs and final files."""
    [source] = resolve(["latest"])
    result = process(source, config, keep_steps=True)
    assert result.stats["unknown"] == 0 and result.stats["patch_failures"] == 0
    assert result.initial == {p: t for p, t in recorder.initial.items() if p in result.initial}
    workspace = tmp_path / "replay"
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir()
    write_workspace(workspace, result.initial)
    # The JSONL lines exactly as written to training/validation.jsonl.
    messages = [m for line in result.lines for m in orjson.loads(line)["conversations"]]
    assert len(messages) == 2 * len(result.steps)
    for step, (assistant, user) in zip(result.steps, zip(messages[::2], messages[1::2], strict=True), strict=True):
        assert assistant["from"] == "Assistant" and user["from"] == "User"
        command = unfence(assistant["value"])
        assert command == step.command
        if step.kind in FILE_KINDS:
            out = run_bash(command, workspace)
            assert stdout_of(user["value"]) == out.removesuffix("\n"), command
    assert read_workspace(workspace, recorder.final()) == recorder.final()
    return messages


def test_worked_example_golden(home, tmp_path):
    recorder = record_worked_example(tmp_path / "ws")
    messages = replay(home, recorder, tmp_path)
    assert [m["value"] for m in messages] == [
        "```bash\ncat -n src/app.py\n```",
        "<stdout>\n     1\tdef add(a, b):\n     2\t    return a + b\n</stdout>",
        "```bash\nsed -i '$a\\\n\\\ndef sub(a, b):\\\n    return a - b' src/app.py"
        " && cat -n src/app.py | sed -n '1,5p'\n```",
        "<stdout>\n     1\tdef add(a, b):\n     2\t    return a + b\n     3\t\n     4\tdef sub(a, b):\n"
        "     5\t    return a - b\n</stdout>",
        "```bash\npytest -q\n```",
        "<stdout>\n2 passed\n[exit code 0]\n</stdout>",  # the exit status reaches the output
    ]


@pytest.mark.unverified(
    reason="src/app.py is opened without its text on purpose (the serializer's viewport fallback for crowd-code 2.0 data)"
)
def test_tricky_session_replays_exactly(home, tmp_path):
    recorder = record_tricky(tmp_path / "ws")
    messages = replay(home, recorder, tmp_path)
    commands = [unfence(m["value"]) for m in messages[::2]]
    assert any(c.startswith("# agent: claude\nsed -i '$a\\\nhelper() {") for c in commands)
    assert "add a helper to lib/util.sh" in commands  # the prompt typed into the agent
    assert any(c.startswith("# git\n") for c in commands)
    assert any("'my notes.txt'" in c for c in commands)
    assert "cat -n src/app.py | sed -n '1,12p'" in commands  # recentred after a far jump
    assert commands.index("wc -l 'my notes.txt'") < commands.index("cat -n src/app.py")


@pytest.mark.unverified(
    reason="src/app.py is opened without its text on purpose (the serializer's viewport fallback for crowd-code 2.0 data)"
)
def test_chunked_conversations_replay_in_order(home, tmp_path):
    recorder = record_tricky(tmp_path / "ws")
    config = DatasetConfig(max_tokens_per_conversation=300, max_tokens_per_message=10**9, min_messages=1)
    [source] = resolve(["latest"])
    result = process(source, config, keep_steps=True)
    assert len(result.conversations) > 3
    workspace = tmp_path / "chunked"
    workspace.mkdir()
    write_workspace(workspace, result.initial)
    steps = iter(result.steps)
    for conversation in result.conversations:
        assert conversation[0]["from"] == "Assistant"
        shown = set()
        for message in conversation[::2]:
            step = next(steps)
            command = unfence(message["value"])
            if command.startswith("cat -n ") and " | " not in command:
                shown.add(command.removeprefix("cat -n "))
            elif step.kind in FILE_KINDS and "printf" not in command:
                # Every conversation shows a file whole before it shows a slice of it or edits it.
                assert any(f" {path}" in command for path in shown), (command, shown)
            if step.kind in FILE_KINDS:
                run_bash(command, workspace)
    assert read_workspace(workspace, recorder.final()) == recorder.final()


def test_cli_writes_nemo_and_chat(home, tmp_path):
    from crowdcode_sdk.cli.main import main

    recorder = record_worked_example(tmp_path / "ws")
    out = tmp_path / "out"
    assert (
        main(
            [
                "serialize",
                "latest",
                "--out",
                str(out),
                "--min-conversation-messages",
                "2",
                "--val-ratio",
                "0",
                "--no-progress",
                "--workspaces",
            ]
        )
        == 0
    )
    [line] = (out / "training.jsonl").read_bytes().splitlines()
    [workspace] = (out / "workspaces").iterdir()
    assert workspace.name == f"{Store().find('latest').id}.json"
    assert orjson.loads(workspace.read_bytes()) == recorder.initial
    record = orjson.loads(line)
    assert record["mask"] == "User" and record["system"].startswith("You are a software engineer")
    assert [m["from"] for m in record["conversations"]] == ["Assistant", "User"] * 3
    assert (out / "validation.jsonl").read_bytes() == b""
    metadata = orjson.loads((out / "metadata.json").read_bytes())
    assert metadata["totals"]["train_conversations"] == 1 and metadata["totals"]["sessions"] == 1
    assert metadata["config"]["tokenizer"] == "bytes/4"

    chat = tmp_path / "chat"
    assert (
        main(
            [
                "serialize",
                str(Store().find("latest").directory),
                "--out",
                str(chat),
                "--format",
                "chat",
                "--val-ratio",
                "1",
                "--min-conversation-messages",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    [line] = (chat / "validation.jsonl").read_bytes().splitlines()
    roles = [m["role"] for m in orjson.loads(line)["messages"]]
    assert roles == ["system", "assistant", "user", "assistant", "user", "assistant", "user"]


def test_min_messages_and_message_truncation(home, tmp_path):
    record_worked_example(tmp_path / "ws")
    [source] = resolve(["latest"])
    assert process(source, DatasetConfig(min_messages=7)).lines == []
    small = process(
        source, DatasetConfig(max_tokens_per_message=12, min_messages=1, options=Options(viewport_radius=1))
    )
    users = [m["value"] for line in small.lines for m in orjson.loads(line)["conversations"] if m["from"] == "User"]
    assert any(u.endswith("\n... [truncated]") for u in users)


def test_split_is_deterministic_per_session():
    from crowdcode_sdk.serialize.dataset import split_of

    ids = [f"{i:032x}" for i in range(400)]
    splits = [split_of(i, 0.25) for i in ids]
    assert splits == [split_of(i, 0.25) for i in ids]
    assert 60 < splits.count("validation") < 140


def test_a_file_whose_text_was_lost_is_resynced(tmp_path):
    """A diff that does not apply makes the text unknown; the next snapshot brings it back with
    a command from what the replayed file holds, so replay stays exact."""
    from crowdcode_sdk.serialize.conversation import build_steps
    from crowdcode_sdk.serialize.tokens import ByteEstimate

    def action(**fields):
        return {"type": "action", "timestamp": 1, "action": {"source": "user", **fields}}

    bad = "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-not there\n+x\n"
    events = [
        action(kind="file_open", file="a.txt", text="one\ntwo\n"),
        action(kind="edit", file="a.txt", diff={"rangeOffset": 0, "rangeLength": 0, "text": "zero\n"}),
        action(kind="file_change", source="agent", file="a.txt", changeType="change", diff=bad),
        action(kind="edit", file="a.txt", diff={"rangeOffset": 0, "rangeLength": 0, "text": "dropped\n"}),
        {"type": "workspace_snapshot", "timestamp": 2, "snapshotId": "s1"},
        action(kind="edit", file="a.txt", diff={"rangeOffset": 6, "rangeLength": 0, "text": "more\n"}),
        action(kind="file_change", source="agent", file="gone.txt", changeType="delete", diff=None),
    ]
    builder = build_steps(events, Options(), ByteEstimate(), {"s1": {"a.txt": "fresh\n"}}.get)
    assert builder.stats.patch_failures == 1 and builder.stats.unknown == 2
    assert builder.initial == {"a.txt": "one\ntwo\n"}
    assert any(s.command.startswith("# unknown\nsed -i '1,3c\\\nfresh' a.txt") for s in builder.steps)
    write_workspace(tmp_path, builder.initial)
    for step in builder.steps:
        assert run_bash(step.command, tmp_path) == step.output
    assert (tmp_path / "a.txt").read_text() == "fresh\nmore\n"


def test_command_output_from_the_raw_stream_without_screens(home, tmp_path):
    """No rendered screen of the command: its output is the .cast stream between start and end."""
    import time as _time

    from crowdcode_sdk import TerminalCommand
    from crowdcode_sdk.schema import TerminalCommandEnd

    with Session(adapter="test", editor="test-editor", workspace=tmp_path / "ws") as session:
        start = session.record(TerminalCommand(terminal_id="t2", terminal_name="bash", command="make")).timestamp
        _time.sleep(0.03)
        end = session.record(TerminalCommandEnd(terminal_id="t2", exit_code=2)).timestamp
        origin = start // 1000 - 1
        events = [
            (start - 5, "$ make\r\n"),  # the echo, before the command started
            (start + 1, "\x1b[1mcc -c main.c\x1b[0m\r\n"),
            (start + 2, "main.c:1: error\r\nmake: *** [all] Error 1\r\n"),
            (end + 5, "\x1b]133;A\x07$ "),  # the next prompt
        ]
        cast = session.directory / "terminals" / "t2.cast"
        cast.parent.mkdir()
        lines = [orjson.dumps({"version": 2, "width": 80, "height": 24, "timestamp": origin})]
        lines += [orjson.dumps([(at - origin * 1000) / 1000, "o", data]) for at, data in events]
        cast.write_bytes(b"\n".join(lines) + b"\n")
    [source] = resolve(["latest"])
    result = process(source, EVERYTHING, keep_steps=True)
    assert [(s.command, s.output) for s in result.steps] == [
        ("make", "cc -c main.c\nmain.c:1: error\nmake: *** [all] Error 1\n[exit code 2]")
    ]


def test_commands_pasted_at_once_each_get_their_own_output(home, tmp_path):
    """Lines pasted into a real recorded bash all run within one read of the terminal: one chunk
    of its stream holds every command's mark and output, the screen sampled meanwhile shows none
    of them, and the recorder stamps each command a little after that read. Each output is
    still the one between its command's marks."""
    import os
    import subprocess

    from tests.conftest import crowdcode_executable, only_session

    pasted = 'echo one-out\necho one-out too\nprintf "two-out\\n"\necho three-out; false\nexit\n'
    subprocess.run(
        [crowdcode_executable(), "shell", "--", "bash", "-i"],
        input=pasted,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
        timeout=60,
    )
    [source] = resolve([only_session(ended=True).id])
    result = process(source, EVERYTHING, keep_steps=True)
    assert [(s.command, s.output) for s in result.steps][:4] == [
        ("echo one-out", "one-out\n[exit code 0]"),  # not the next one's, whose line holds its line
        ("echo one-out too", "one-out too\n[exit code 0]"),
        ('printf "two-out\\n"', "two-out\n[exit code 0]"),
        ("echo three-out; false", "three-out\n[exit code 1]"),
    ]


GOLDEN = Path(__file__).parent / "golden" / "tricky_session.json"


@pytest.mark.unverified(
    reason="src/app.py is opened without its text on purpose (the serializer's viewport fallback for crowd-code 2.0 data)"
)
def test_tricky_session_golden(home, tmp_path):
    """The whole conversation of the tricky session, checked in. After an intended change,
    regenerate with ``CROWDCODE_UPDATE_GOLDEN=1 pytest tests/test_serialize_replay.py``."""
    import os

    record_tricky(tmp_path / "ws")
    [source] = resolve(["latest"])
    [line] = process(source, DatasetConfig(min_messages=1, max_tokens_per_conversation=10**9)).lines
    messages = [[m["from"], m["value"]] for m in orjson.loads(line)["conversations"]]
    if os.environ.get("CROWDCODE_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(orjson.dumps(messages, option=orjson.OPT_INDENT_2) + b"\n")
    assert messages == orjson.loads(GOLDEN.read_bytes())


@pytest.mark.unverified(
    reason="src/app.py is opened without its text on purpose (the serializer's viewport fallback for crowd-code 2.0 data)"
)
def test_path_prefix_makes_paths_absolute(home, tmp_path):
    recorder = record_tricky(tmp_path / "ws")
    root = tmp_path / "abs root"  # a space, so the prefix needs quoting too
    config = DatasetConfig(min_messages=1, options=Options(path_prefix=str(root)))
    [source] = resolve(["latest"])
    result = process(source, config, keep_steps=True)
    write_workspace(root, result.initial)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for step in result.steps:
        if step.kind in FILE_KINDS:
            assert str(root) in step.command
            assert run_bash(step.command, elsewhere) == step.output
    assert read_workspace(root, recorder.final()) == recorder.final()
    assert not any(elsewhere.iterdir())


@pytest.mark.unverified(reason="files are opened without their text on purpose: the viewport fallback is under test")
def test_a_viewport_is_taken_as_a_file_only_when_its_recorded_hash_agrees(home, tmp_path):
    """A file opened without its text but with its hash: a viewport showing all of it becomes
    its exact text; one showing only its top is refused and counted, and nothing is emitted for
    the file rather than commands built on a guess."""
    from crowdcode_sdk import Edit, FileOpen, Position, TextChange, Viewport
    from crowdcode_sdk.positions import content_facts

    whole = "a = 1\nb = 2\n"
    long = "".join(f"x{i} = {i}\n" for i in range(50))
    with Session(adapter="test", editor="test-editor", workspace=tmp_path / "ws") as session:
        for path, text, shown in (("whole.py", whole, whole), ("long.py", long, long[:60])):
            session.record(FileOpen(file=path, content=content_facts(text)))
            cursor = Position(line=0, character=0)
            session.observe(
                viewport=Viewport(file=path, start_line=1, end_line=5, content=shown, cursor_position=cursor)
            )
            session.record(Edit(file=path, diff=TextChange(range_offset=0, range_length=0, text="# top\n")))
    [source] = resolve(["latest"])
    result = process(source, EVERYTHING, keep_steps=True)
    assert (result.stats["refused"], result.stats["approximate"]) == (1, 0)
    assert result.initial == {"whole.py": whole}
    assert not any("long.py" in step.command for step in result.steps)
    workspace = tmp_path / "replay"
    workspace.mkdir()
    write_workspace(workspace, result.initial)
    for step in result.steps:
        run_bash(step.command, workspace)
    assert (workspace / "whole.py").read_text() == "# top\n" + whole


def _wire(events: list[tuple[str, dict]]) -> list[dict]:
    """Wire events numbered from 1: ``("snapshot", {"id": …})`` or ``(kind, action fields)``."""
    wire = []
    for sequence, (kind, fields) in enumerate(events, 1):
        if kind == "snapshot":
            wire.append(
                {"type": "workspace_snapshot", "sequence": sequence, "timestamp": sequence, "snapshotId": fields["id"]}
            )
        else:
            action = {"kind": kind, "source": "user", **fields}
            wire.append({"type": "action", "sequence": sequence, "timestamp": sequence, "action": action})
    return wire


def _sha(text: str) -> dict:
    from crowdcode_sdk.positions import text_sha256

    return {"sha256": text_sha256(text)}


def test_a_file_opened_from_a_snapshot_deleted_and_saved_again(tmp_path):
    """The open carries no text (the snapshot has it); another program deletes the file while the
    editor holds it; the editor's next save writes it back. Run in bash, the commands leave each
    saved text at its save."""
    from crowdcode_sdk.serialize.conversation import build_steps
    from crowdcode_sdk.serialize.tokens import ByteEstimate

    one = "one\ntwo\n"
    events = _wire(
        [
            ("snapshot", {"id": "s1"}),
            ("file_open", {"file": "a.txt", "content": _sha(one)}),
            ("edit", {"file": "a.txt", "diff": {"rangeOffset": 0, "rangeLength": 0, "text": "zero\n"}}),
            ("file_save", {"file": "a.txt", "lastEditSequence": 3, "content": _sha("zero\n" + one)}),
            ("file_change", {"file": "a.txt", "source": "external", "changeType": "delete"}),
            ("edit", {"file": "a.txt", "diff": {"rangeOffset": 0, "rangeLength": 0, "text": "x"}}),
            ("file_save", {"file": "a.txt", "lastEditSequence": 6, "content": _sha("xzero\n" + one)}),
        ]
    )
    builder = build_steps(events, Options(), ByteEstimate(), {"s1": {"a.txt": one}}.get)
    assert builder.stats.unknown == 0 and builder.initial == {"a.txt": one}
    saved = {4: "zero\n" + one, 7: "xzero\n" + one}
    write_workspace(tmp_path, builder.initial)
    for step in builder.steps:
        assert run_bash(step.command, tmp_path) == step.output, step.command
        if step.sequence in saved:
            assert (tmp_path / "a.txt").read_text() == saved.pop(step.sequence)
    assert saved == {}
    assert [s.command for s in builder.steps if s.sequence == 5] == ["# external\nrm -f -- a.txt"]


def test_a_save_of_unknown_text_writes_nothing(tmp_path):
    """A deleted file saved with a hash the replayed buffer does not match: the serializer cannot
    know what was written, so it writes nothing for it and counts it."""
    from crowdcode_sdk.serialize.conversation import build_steps
    from crowdcode_sdk.serialize.tokens import ByteEstimate

    events = _wire(
        [
            ("file_open", {"file": "a.txt", "text": "one\n"}),
            ("file_change", {"file": "a.txt", "source": "external", "changeType": "delete"}),
            ("file_save", {"file": "a.txt", "content": _sha("something else\n")}),
        ]
    )
    builder = build_steps(events, Options(), ByteEstimate())
    assert builder.stats.unknown == 1
    assert [s.command for s in builder.steps if s.kind == "edit"] == ["# external\nrm -f -- a.txt"]
    write_workspace(tmp_path, builder.initial)
    for step in builder.steps:
        assert run_bash(step.command, tmp_path) == step.output
    assert not (tmp_path / "a.txt").exists()
