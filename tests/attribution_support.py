"""A workbench for attribution scenarios: a real workspace (optionally a git repository), a real
session with the attribution engine, an "editor" driving the adapter API, real processes writing
files, and a real shell session publishing registry facts as ``crowdcode shell`` does.

Each scenario states its ground truth as (file, source) labels; :class:`Tally` turns labels and
recorded events into precision and recall per source.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdcode_sdk import Document, Session
from crowdcode_sdk.attribution import Attribution
from crowdcode_sdk.schema import Event, TextChange

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}

WRITER = textwrap.dedent(
    """
    import os, sys
    args = sys.argv[1:]
    while args:
        op, path = args[0], args[1]
        if op == "write":
            with open(path, "wb") as f:
                f.write(args[2].encode("utf-8", "surrogatepass"))
            args = args[3:]
        elif op == "delete":
            os.remove(path)
            args = args[2:]
        elif op == "rename":
            os.rename(path, args[2])
            args = args[3:]
        elif op == "mkdir":
            os.makedirs(path)
            args = args[2:]
    """
)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return result.stdout


def run_writer(*ops: str, program: Path | None = None) -> None:
    """A separate process changes files (``write PATH TEXT``, ``delete PATH``, ``rename A B``,
    ``mkdir PATH``)."""
    command = [str(program)] if program else [sys.executable, "-c", WRITER]
    subprocess.run([*command, *ops], check=True, timeout=30)


def make_program(directory: Path, name: str) -> Path:
    """An executable named like a real tool (``claude``, ``codex`` …) that changes files."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{WRITER}")
    path.chmod(0o755)
    return path


class Editor:
    """Drives the adapter API as an editor adapter would: a document per open file."""

    def __init__(self, att: Attribution) -> None:
        self.att = att
        self.docs: dict[Path, Document] = {}

    def open(self, path: Path) -> Document:
        text = path.read_bytes().decode("utf-8")
        self.docs[path] = Document(text)
        self.att.open_document(path, text)
        return self.docs[path]

    def type(self, path: Path, text: str, at: int | None = None, **kwargs: Any) -> None:
        """Type ``text`` character by character at code point ``at`` (default: the end)."""
        doc = self.docs[path]
        position = len(doc) if at is None else at
        for char in text:
            self.att.edit(path, doc.replace(position, position, char), **kwargs)
            position += 1

    def replace(self, path: Path, start: int, end: int, text: str, **kwargs: Any) -> TextChange:
        change = self.docs[path].replace(start, end, text)
        self.att.edit(path, change, **kwargs)
        return change

    def backspace(self, path: Path, count: int = 1) -> None:
        doc = self.docs[path]
        for _ in range(count):
            end = len(doc)
            self.att.edit(path, doc.replace(end - 1, end, ""))

    def save(self, path: Path) -> None:
        """The editor writes its buffer (as editors do, from its own process) and says so."""
        self.att.save_document(path)
        path.write_bytes(self.docs[path].text.encode("utf-8"))

    def reload(self, path: Path) -> None:
        text = path.read_bytes().decode("utf-8")
        self.docs[path] = Document(text)
        self.att.reload_document(path, text)


@dataclass
class Bench:
    """One scenario's workspace, session and engine."""

    root: Path
    session: Session
    att: Attribution
    events: list[Event] = field(default_factory=list)

    @property
    def editor(self) -> Editor:
        if not hasattr(self, "_editor"):
            self._editor = Editor(self.att)
        return self._editor

    def settle(self) -> None:
        # Generous grace: on a loaded machine the kernel's notifications can lag the writes.
        assert self.att.drain(30, grace=0.4), "attribution did not settle"

    def actions(self, *kinds: str) -> list[dict[str, Any]]:
        self.settle()
        found = []
        for event in self.events:
            wire = event.to_wire()
            action = wire.get("action")
            if action and (not kinds or action["kind"] in kinds):
                found.append({**action, "sequence": wire["sequence"]})
        return found

    def verdicts(self) -> list[tuple[str, str]]:
        """(file, source) of every save (``user``) and every file change, in journal order."""
        return [
            (a["file"], "user" if a["kind"] == "file_save" else a["source"])
            for a in self.actions("file_save", "file_change")
        ]

    def close(self) -> None:
        self.att.close()
        self.session.close()


def start_bench(root: Path, **kwargs: Any) -> Bench:
    session = Session(adapter="test-editor", editor="test", workspace=root)
    events: list[Event] = []
    session.add_listener(events.append)
    att = Attribution(session, roots=[root], **kwargs)
    return Bench(root, session, att, events)


def init_repo(root: Path, files: dict[str, str], branch: str = "main") -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", branch)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")


class ShellFacts:
    """A real shell session publishing registry facts exactly as ``crowdcode shell`` does
    : the foreground command while it runs, then the recent list."""

    def __init__(self, cwd: Path, workspace: Path | None = None) -> None:
        self.cwd = cwd
        self.session = Session(adapter="shell", editor="bash", workspace=workspace or cwd)
        self.session.publish(cwd=str(cwd))
        self.recent: list[dict[str, Any]] = []

    def run(self, argv: list[str], command: str, *, agent: str | None = None) -> None:
        start = self.session.now_ms()
        process = subprocess.Popen(argv, cwd=self.cwd)
        self.session.publish(
            foreground={
                "command": command,
                "process": Path(argv[0]).name,
                "pid": process.pid,
                "cwd": str(self.cwd),
                "agent": agent,
                "since": start,
            }
        )
        assert process.wait(timeout=30) == 0
        self.recent = [
            *self.recent,
            {
                "command": command,
                "process": Path(argv[0]).name,
                "cwd": str(self.cwd),
                "agent": agent,
                "start": start,
                "end": self.session.now_ms(),
            },
        ][-20:]
        self.session.publish(foreground=None, recent=self.recent)

    def close(self) -> None:
        self.session.close()


@dataclass
class Tally:
    """Ground truth vs verdicts, per source."""

    true_positive: Counter[str] = field(default_factory=Counter)
    false_positive: Counter[str] = field(default_factory=Counter)
    false_negative: Counter[str] = field(default_factory=Counter)
    scenarios: int = 0

    def add(self, expected: list[tuple[str, str]], actual: list[tuple[str, str]]) -> None:
        self.scenarios += 1
        want, got = Counter(expected), Counter(actual)
        for key in want | got:
            hit = min(want[key], got[key])
            source = key[1]
            self.true_positive[source] += hit
            self.false_positive[source] += got[key] - hit
            self.false_negative[source] += want[key] - hit

    def table(self) -> list[tuple[str, int, float, float]]:
        rows = []
        for source in sorted(set(self.true_positive) | set(self.false_positive) | set(self.false_negative)):
            tp, fp, fn = self.true_positive[source], self.false_positive[source], self.false_negative[source]
            rows.append((source, tp + fn, tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0))
        return rows
