"""Property tests: random texts and random edit sequences, replayed with real bash and GNU sed."""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdcode_sdk import Document
from crowdcode_sdk.serialize.conversation import FILE_KINDS, Options, build_steps
from crowdcode_sdk.serialize.patch import split_keepends
from crowdcode_sdk.serialize.sed import cat_n, edit_command
from crowdcode_sdk.serialize.tokens import ByteEstimate
from tests.recordings import read_workspace, run_bash, write_workspace

PIECES = ["a", "b", " ", "\n", "\r\n", "\r", "\t", "\\", "\\n", "'", '"', "$", "&", "/", "😀", "é", "\x0b"]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
paths = st.sampled_from(["f.txt", "with space.txt", "it's.txt", "-dash.txt", "dir/sub file.py"])

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(before=texts, after=texts, path=paths)
def test_edit_command_turns_before_into_after(before, after, path):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_workspace(root, {path: before})
        made = edit_command(path, before, after)
        if made is None:
            assert before == after
            return
        run_bash(made[0], root)
        assert (root / path).read_bytes().decode() == after


@SETTINGS
@given(text=texts, start=st.integers(1, 6), length=st.integers(0, 6))
def test_cat_n_matches_gnu_cat(text, start, length):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_workspace(root, {"f": text})
        assert run_bash("cat -n f", root) == cat_n(text)
        end = start + length
        assert run_bash(f"cat -n f | sed -n '{start},{end}p'", root) == cat_n(text, start, end)


@st.composite
def sessions(draw):
    """A file's initial text and random edits, selections and commands as wire events."""
    path = draw(paths)
    doc = Document(draw(texts))
    events = [{"type": "action", "action": {"kind": "file_open", "file": path, "text": doc.text}}]
    for _ in range(draw(st.integers(1, 12))):
        choice = draw(st.sampled_from(["edit", "edit", "edit", "type", "agent", "disk", "select", "command"]))
        size = len(doc)
        if choice == "disk":  # an agent rewrites the file on disk: a file_change with a unified diff
            new = draw(texts)
            diff = "".join(  # difflib leaves a last line without "\n" unmarked: add patch(1)'s marker
                line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                for line in difflib.unified_diff(split_keepends(doc.text), split_keepends(new), "a", "b")
            )
            doc = Document(new)
            events.append(
                {
                    "type": "action",
                    "action": {
                        "kind": "file_change",
                        "file": path,
                        "source": "agent",
                        "changeType": "change",
                        "diff": diff,
                    },
                }
            )
        elif choice in ("edit", "type", "agent"):
            start = draw(st.integers(0, size))
            end = start if choice == "type" else draw(st.integers(start, size))
            if choice == "agent":
                end = start
            text = draw(st.sampled_from(PIECES)) if choice == "type" else draw(texts)
            change = doc.replace(start, end, text)
            events.append(
                {"type": "action", "action": {"kind": "edit", "file": path, "source": "user", "diff": change.to_wire()}}
            )
        elif choice == "select":
            line = draw(st.integers(0, max(doc.line_count - 1, 0)))
            pos = {"line": line, "character": 0}
            events.append(
                {
                    "type": "action",
                    "action": {
                        "kind": "selection",
                        "file": path,
                        "selectionStart": pos,
                        "selectionEnd": pos,
                        "selectedText": "",
                    },
                }
            )
        else:
            events.append(
                {
                    "type": "action",
                    "action": {
                        "kind": "terminal_command",
                        "terminalId": "t",
                        "terminalName": "bash",
                        "command": "true",
                    },
                }
            )
    return path, events, doc.text


@SETTINGS
@given(session=sessions(), radius=st.integers(0, 3), viewport=st.integers(1, 4))
def test_random_edit_sequences_replay_exactly(session, radius, viewport):
    path, events, final = session
    builder = build_steps(events, Options(coalesce_radius=radius, viewport_radius=viewport), ByteEstimate())
    assert builder.stats.patch_failures == 0 and builder.stats.unknown == 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_workspace(root, builder.initial)
        for step in builder.steps:
            if step.kind in FILE_KINDS:
                assert run_bash(step.command, root) == step.output, step.command
        assert read_workspace(root, [path]) == {path: final}


def test_home_relative_paths_expand(tmp_path):
    import subprocess

    made = edit_command("~/notes dir/it's.txt", "a\n", "b\n")
    assert made is not None
    (tmp_path / "notes dir").mkdir()
    (tmp_path / "notes dir" / "it's.txt").write_text("a\n")
    subprocess.run(["bash", "-c", made[0]], cwd="/", env={"HOME": str(tmp_path)}, check=True)
    assert (tmp_path / "notes dir" / "it's.txt").read_text() == "b\n"


def test_a_script_past_the_argument_limit_goes_on_stdin(tmp_path):
    """A change over thousands of lines (``:%s`` in a big file) makes a sed script longer than
    one argument may be (128 KiB); the command must still run and rebuild the file."""
    before = "".join(f"line {i} of a big file, a b c\n" for i in range(5000))
    after = before.replace("e", "E").replace("line 2 of", "it's \\t 😀 line 2 of")
    made = edit_command("big.txt", before, after[:-1])
    assert made is not None and "sed -i -f -" in made[0]
    write_workspace(tmp_path, {"big.txt": before})
    assert run_bash(made[0], tmp_path) == ""
    assert (tmp_path / "big.txt").read_text() == after[:-1]
