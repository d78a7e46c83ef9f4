"""Small recorded sessions for the serializer, export and player tests, made by driving a real
:class:`~crowdcode_sdk.Session` the way an editor adapter and ``crowdcode shell`` do."""

from __future__ import annotations

import difflib
import hashlib
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import zstandard

from crowdcode_sdk import (
    AgentPrompt,
    AgentResponse,
    Document,
    Edit,
    Evidence,
    FileChange,
    FileOpen,
    Position,
    Selection,
    Session,
    Source,
    TabSwitch,
    TerminalCommand,
    TerminalViewport,
    Viewport,
)
from crowdcode_sdk.schema import ChangeType, TerminalCommandEnd
from crowdcode_sdk.serialize.conversation import FILE_KINDS
from crowdcode_sdk.serialize.dataset import DatasetConfig, SessionResult, process
from crowdcode_sdk.serialize.patch import split_keepends
from crowdcode_sdk.serialize.sources import SessionSource

FENCE = re.compile(r"\A```bash\n(.*)\n```\Z", re.S)
STDOUT = re.compile(r"\A<stdout>\n(.*)\n</stdout>\Z", re.S)


@dataclass
class Recorder:
    """Drives a session; keeps the true text of every file to compare with at the end."""

    session: Session
    workspace: Path
    docs: dict[str, Document] = field(default_factory=dict)
    initial: dict[str, str] = field(default_factory=dict)

    def open(self, path: str, text: str, *, with_text: bool = True) -> None:
        self.initial.setdefault(path, text)
        self.docs[path] = Document(text)
        self.session.record(FileOpen(file=path, text=text if with_text else None))
        self.view(path, 0)

    def snapshot(self, snapshot_id: str, files: dict[str, str]) -> None:
        """Write a snapshot as the attribution engine does and record it."""
        data_dir = self.session.locations.data_dir
        manifest = {}
        for path, text in files.items():
            self.initial.setdefault(path, text)
            self.docs.setdefault(path, Document(text))
            raw = text.encode()
            sha = hashlib.sha256(raw).hexdigest()
            blob = data_dir / "snapshots" / "blobs" / sha[:2] / sha
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(zstandard.ZstdCompressor().compress(raw))
            manifest[path] = sha
        target = data_dir / "snapshots" / "manifests" / f"{snapshot_id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(orjson.dumps({"files": manifest}))
        self.session.snapshot(snapshot_id)

    def edit(self, path: str, start: int, end: int, text: str, source: Source = Source.USER) -> None:
        """Replace code points ``start:end``."""
        change = self.docs[path].replace(start, end, text)
        evidence = Evidence(agent="claude") if source is Source.AGENT else None
        self.session.record(Edit(file=path, diff=change, source=source, evidence=evidence))

    def type(self, path: str, at: int, text: str) -> None:
        """Type ``text`` one character at a time, as an editor reports it."""
        for offset, ch in enumerate(text):
            self.edit(path, at + offset, at + offset, ch)

    def select(self, path: str, line: int) -> None:
        pos = Position(line=line, character=0)
        self.session.record(Selection(file=path, selection_start=pos, selection_end=pos, selected_text=""))

    def switch(self, path: str, previous: str | None) -> None:
        self.session.record(TabSwitch(file=path, previous_file=previous))

    def view(self, path: str, line: int) -> None:
        doc = self.docs[path]
        last = min(doc.line_count, 30)
        content = "".join(doc.line(i, keep_end=True) for i in range(last))
        self.session.observe(
            viewport=Viewport(
                file=path,
                start_line=1,
                end_line=max(last, 1),
                content=content,
                cursor_position=Position(line=line, character=0),
            )
        )

    def disk_change(self, path: str, new: str, source: Source = Source.AGENT) -> None:
        """A change on disk (an agent, git): a ``file_change`` with a unified diff."""
        old = self.docs[path].text if path in self.docs else ""
        change_type = ChangeType.CHANGE if path in self.docs else ChangeType.CREATE
        lines = difflib.unified_diff(split_keepends(old), split_keepends(new), f"a/{path}", f"b/{path}", n=3)
        diff = "".join(_mark_missing_newlines(lines))
        self.docs[path] = Document(new)
        evidence = Evidence(agent="claude") if source is Source.AGENT else None
        self.session.record(FileChange(file=path, change_type=change_type, diff=diff, source=source, evidence=evidence))

    def command(self, command: str, output: list[str], exit_code: int = 0) -> None:
        """A shell command and the rendered screen after it (prompt, command, output, prompt)."""
        self.session.record(TerminalCommand(terminal_id="t1", terminal_name="bash", command=command))
        rows = [f"$ {command}", *output, "$ "]
        self.session.record(TerminalCommandEnd(terminal_id="t1", exit_code=exit_code))
        self.session.observe(
            active_terminal=TerminalViewport(
                id="t1",
                name="bash",
                viewport=[*rows, *[""] * (24 - len(rows))],
                cursor=Position(line=len(rows) - 1, character=2),
                cols=80,
                rows=24,
            )
        )

    def agent(self, prompt: str, response: str) -> None:
        self.session.record(AgentPrompt(agent="claude", text=prompt, terminal_id="t1"))
        self.session.record(AgentResponse(agent="claude", text=response, terminal_id="t1"))

    def final(self) -> dict[str, str]:
        return {path: doc.text for path, doc in self.docs.items()}


def _mark_missing_newlines(lines):
    """difflib leaves a line without "\\n" unmarked; add the marker patch(1) writes."""
    for line in lines:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


def write_workspace(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())


def read_workspace(root: Path, paths) -> dict[str, str | None]:
    return {p: (root / p).read_bytes().decode() if (root / p).exists() else None for p in paths}


def run_bash(command: str, cwd: Path) -> str:
    """Run one assistant command with real bash (and so real GNU sed); return its stdout. A command
    that fails or writes anything to stderr fails the test."""
    done = subprocess.run(["bash"], input=command.encode(), cwd=cwd, capture_output=True, check=False)
    assert done.returncode == 0, f"{command!r} failed: {done.stderr.decode()}"
    assert done.stderr == b"", f"{command!r} wrote to stderr: {done.stderr.decode()}"
    return done.stdout.decode()


def run_file_steps(result: SessionResult, root: Path) -> None:
    """Run each file command of a serialized ``result``, as its text says, with real bash in a new
    copy of its initial workspace at ``root`` (without the checks of ``sed_rebuild``)."""
    root.mkdir(parents=True)
    write_workspace(root, result.initial or {})
    for step in result.steps or []:
        if step.kind in FILE_KINDS:
            run_bash(step.command, root)


def disk_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by workspace-relative path."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def sed_rebuild(
    source: SessionSource, root: Path, *, removed: frozenset[str] = frozenset()
) -> tuple[dict[str, bytes], SessionResult]:
    """Serialize ``source`` (a session or a merged timeline) into one conversation, run each file
    command of it (from the JSONL lines as written) with bash and GNU sed in a copy of its initial
    workspace, checking each output against the conversation and, at each save and each change
    on disk, the file's bytes against the hash recorded (a deleted file must be gone); return the
    files it leaves and the result. Files in ``removed`` were edited in time a panic removed:
    their text is unknown from the panic on (counted, nothing written), so they are not checked
    after it."""
    everything = DatasetConfig(max_tokens_per_conversation=10**9, max_tokens_per_message=10**9, min_messages=1)
    result = process(source, everything, keep_steps=True)
    assert result.verified, result.reason
    assert (result.stats["unknown"] > 0) == bool(removed) and result.stats["patch_failures"] == 0, result.stats
    assert result.steps is not None
    root.mkdir(parents=True)
    write_workspace(root, result.initial or {})
    events, _ = source.open(strict=True)
    states: list[State] = []
    panic: float = float("inf")
    for event in events:
        if event.get("type") == "action" and event["action"].get("kind") == "panic":
            panic = min(panic, event["sequence"])
        state = _recorded_state(event)
        if state is not None and not (state[1] in removed and state[0] > panic):
            states.append(state)
    messages = [m for line in result.lines for m in orjson.loads(line)["conversations"]]
    for step, assistant, user in zip(result.steps, messages[::2], messages[1::2], strict=True):
        states = _check_states(root, states, before=step.sequence)
        if step.kind in FILE_KINDS:
            out = run_bash(unfence(assistant["value"]), root)
            assert stdout_of(user["value"]) == out.removesuffix("\n"), step.command
    assert _check_states(root, states, before=None) == []
    return disk_files(root), result


State = tuple[int, str, str | None]
"""(sequence, file, SHA-256 of its bytes, or ``None``: deleted) as an event recorded it."""


def _recorded_state(event: dict) -> State | None:
    """What a ``file_save`` or ``file_change`` says the file holds."""
    action = event.get("action") if event.get("type") == "action" else None
    if action is None or action.get("kind") not in ("file_save", "file_change"):
        return None
    if action.get("changeType") == "delete":
        return event["sequence"], action["file"], None
    content = action.get("content")
    return (event["sequence"], action["file"], content["sha256"]) if content else None


def _check_states(root: Path, states: list[State], before: int | None) -> list[State]:
    """Check the states recorded before sequence ``before`` (all when ``None``): the commands run
    so far must have left each file with the bytes recorded. Return the states after."""
    due = [state for state in states if before is None or state[0] < before]
    for sequence, rel, sha in due:
        path = root / rel
        data = path.read_bytes() if path.is_file() else None
        if sha is None:
            assert data is None, f"{rel} at #{sequence}: deleted, yet the commands left {data!r:.200}"
        else:
            assert data is not None and hashlib.sha256(data).hexdigest() == sha, f"{rel} at #{sequence}: {data!r:.200}"
    return states[len(due) :]


def unfence(message: str) -> str:
    match = FENCE.match(message)
    assert match, message
    return match[1]


def stdout_of(message: str) -> str:
    match = STDOUT.match(message)
    assert match, message
    return match[1]
