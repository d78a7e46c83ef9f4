"""Redacting recorded events (their wire form) before they leave the machine.

:class:`Redactor` is the one entry point: ``events()`` for a session's journal lines, ``text()``
for a whole text (snapshot files, diffs), ``path()`` for path fields, ``cast()`` for a terminal's
raw stream. Every string of an event is covered: path fields (``file``, ``previousFile``, ``cwd``)
are anonymised, edit texts and terminal keystrokes go through the stream trackers of
:mod:`.streams`, terminal screens are scanned with wrapped rows joined, an open secret file's
content is masked whole, and every other string is scanned as text. Counts per category are kept
for ``crowdcode status``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .. import journal
from ..attribution.diffs import PatchError, apply_diff, diff_lines
from ..ignore import is_secret
from ..password_prompt import CursorLine, prompts_for_secret
from .detector import Finding, find_secrets, may_find, maybe_secret, merge
from .identity import IdentityMasker
from .key_blocks import holds_key_rows, key_row_lines
from .known import CATEGORY as KNOWN
from .known import KnownSecrets
from .masking import mask_all, mask_spans
from .streams import KeystrokeLine, Marks, OutputLines, ShadowDocument, mask_units

PATH_KEYS = frozenset({"file", "previousFile", "cwd"})
PLAIN_KEYS = frozenset(
    {
        "type",
        "kind",
        "source",
        "reason",
        "changeType",
        "mode",
        "snapshotId",
        "sessionId",
        "savedIn",
        "schemaVersion",
        "sdkVersion",
        "os",
        "adapter",
        "id",
        "terminalId",
        "agent",
        "version",
        "sha256",
        "eol",
    }
)


class Redactor:
    """Redacts one session's events in order; see the module docstring.

    Stream state (each file's shadow document, each terminal's line) lives as long as the
    redactor, so a secret typed across two batches of the same session is still found; the
    ``lookahead`` of :meth:`events` masks its characters in the earlier batch too.
    """

    def __init__(self, identity: IdentityMasker | None = None, secret_file: Callable[[str], bool] = is_secret):
        self.identity = identity or IdentityMasker()
        self.is_secret_file = secret_file
        self.counts: Counter[str] = Counter()
        self._documents: dict[str, ShadowDocument] = {}
        self._keystrokes: dict[str, KeystrokeLine] = {}
        self._paths: dict[str, str] = {}
        self._secret_file_cache: dict[str, bool] = {}
        self._field_cache: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
        self._secret_files: set[str] = set()
        self._counted: set[bytes] = set()
        self.known = KnownSecrets()
        self._snapshot: str | None = None
        self._disk: dict[str, str | None] = {}
        """The last ``workspace_snapshot`` of the session, and the files' text on disk since
        (read from it or from a ``file_open``'s text, changed by the recorded diffs) where it
        holds a private key's rows (``None``: it does not, or it is not known)."""
        self._columns: dict[str, int] = {}
        """Each terminal's width, as its last screen said: an agent's response is that screen's rows."""

    snapshot_text: Callable[[str, str], str | None] | None = None
    """Reads a file's text in a workspace snapshot (its id, the file as events name it): set by
    the owner of the snapshots (the upload), never kept with the state."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("snapshot_text", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"_snapshot": None, "_disk": {}, "_columns": {}, **state})  # saved before these existed

    # --- text -------------------------------------------------------------------------------------

    def scan(self, text: str) -> list[Finding]:
        """Secrets and identity in ``text``, merged (secrets win where both overlap), and what
        is left of secrets this session already showed (:mod:`.known`)."""
        found = find_secrets(text)
        if found:
            self.known.remember(text, found)
        others = self.identity.find(text) + (self.known.find(text) if self.known else [])
        return merge(found + others) if others else found

    def may_hold(self, text: str) -> bool:
        """False only when :meth:`scan` finds nothing in any part of any line of ``text``: the
        detectors' conditions (one RE2 set, :func:`.detector.detectors`), the identity's names and the known
        secrets' heads, each one pass over the whole text."""
        return "PRIVATE KEY" in text or maybe_secret(text) or self._others_may_find(text)

    def lines_may_hold(self, text: str) -> bool:
        """False only when :meth:`scan` finds nothing in ``text`` nor in any of its lines; unlike
        :meth:`may_hold`, not said of parts of lines (:func:`.detector.may_find` judges whole
        lines' assignments, which lets log lines with a secret-sounding field pass in bulk)."""
        return "PRIVATE KEY" in text or may_find(text) or self._others_may_find(text)

    def _others_may_find(self, text: str) -> bool:
        return self.identity.may_find(text) or self.known.may_find(text)

    def text(self, text: str) -> str:
        if not text:
            return text
        findings = self.scan(text)
        for f in findings:
            if f.category == KNOWN:
                continue
            # A secret on a screen sampled 10 times a second is one secret, not hundreds.
            key = hashlib.blake2b(f"{f.category}\0{text[f.start : f.end]}".encode(), digest_size=8).digest()
            if key not in self._counted:
                self._counted.add(key)
                self.counts[f.category] += 1
        return mask_spans(text, ((f.start, f.end) for f in findings))

    def path(self, path: str) -> str:
        anonymised = self._paths.get(path)
        if anonymised is None:
            anonymised = self._paths[path] = self.identity.path(path)
            if anonymised != path:
                self.counts["path"] += 1
        return anonymised

    def _is_secret_file(self, path: str) -> bool:
        known = self._secret_file_cache.get(path)
        if known is None:
            known = self._secret_file_cache[path] = self.is_secret_file(path)
        return known

    def secret_content(self, text: str) -> str:
        if text:
            self.counts["secret_file"] += 1
        return mask_all(text)

    # --- events -----------------------------------------------------------------------------------

    def events(
        self, events: Iterable[dict[str, Any]], lookahead: Iterable[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """Redact a batch of decoded events (in sequence order); returns new dicts.

        ``lookahead``: the events that follow the batch (the next segment, not leaving yet). A
        secret still being typed when the batch ends is completed there; a throw-away copy of the
        stream state reads them, so that the characters typed inside the batch are masked too.
        """
        marks = Marks()
        out = [self._event(e, marks) for e in events]
        ahead = list(lookahead)
        if ahead:
            probe = copy.deepcopy(self)
            probe.snapshot_text = self.snapshot_text
            probe_marks = Marks()
            for event in ahead:
                probe._event(event, probe_marks)
            probe._flush(probe_marks)
            for event in out:
                if extra := probe_marks.units.get(event["sequence"]):
                    marks.units[event["sequence"]].update(extra)
        self._flush(marks)
        if self.known:
            for event in out:
                if event.get("type") == "observation":
                    self._mask_known(event["observation"])
        for event in out:
            units = marks.units.get(event["sequence"])
            if not units or event.get("type") != "action":
                continue
            action = event["action"]
            if action.get("kind") == "edit":
                action["diff"]["text"] = mask_units(action["diff"]["text"], units)
            elif action.get("kind") == "terminal_input":
                action["data"] = "".join("*" if i in units else c for i, c in enumerate(action["data"]))
        self.counts.update(marks.counts)
        return out

    def settle(self) -> None:
        """Before the state is kept between bundles: drop what the bundles already sent need no
        longer (files' text but the line being edited, path caches). The secrets found stay, so
        that the rest of the session is masked against them."""
        for document in self._documents.values():
            document.settle()
        self._paths.clear()
        self._secret_file_cache.clear()
        self._field_cache.clear()

    def _flush(self, marks: Marks) -> None:
        for document in self._documents.values():
            document.end_batch(self.scan, marks)
        for line in self._keystrokes.values():
            line.flush(self.scan, marks)

    def lines(
        self, lines: Iterable[bytes], lookahead: Iterable[bytes] = (), damaged: Callable[[bytes], None] | None = None
    ) -> list[bytes]:
        """Redact journal lines; returns the redacted lines (compact JSON). A line that is not
        an event is dropped and given to ``damaged``."""
        ahead = journal.decoded(lookahead)
        return [orjson.dumps(e) for e in self.events(journal.decoded(lines, damaged), ahead)]

    def _event(self, event: dict[str, Any], marks: Marks) -> dict[str, Any]:
        kind = event.get("type")
        if kind == "action":
            return {**event, "action": self._action(event["sequence"], event["action"], marks)}
        if kind == "observation":
            return {**event, "observation": self._observation(event["observation"])}
        if kind == "workspace_snapshot" and isinstance(event.get("snapshotId"), str):
            self._snapshot = event["snapshotId"]
            self._disk = {}
        return self.value(event)

    def _action(self, sequence: int, action: dict[str, Any], marks: Marks) -> dict[str, Any]:
        kind = action.get("kind")
        file = action.get("file", "")
        secret = isinstance(file, str) and self._is_secret_file(file)
        key_rows: list[tuple[int, int]] = []
        if not secret and kind in ("file_open", "file_change") and isinstance(file, str):
            key_rows = self._follow_disk(kind, file, action, marks)
        if kind == "edit":
            out = self._fields(action, "diff")
            diff = dict(action["diff"])
            if secret:
                marks.mask(sequence, range(len(diff["text"]) * 2))
                if file not in self._secret_files:
                    self._secret_files.add(file)
                    self.counts["secret_file"] += 1
            else:
                document = self._documents.get(file) or self._documents.setdefault(file, self._opened(file))
                document.apply(sequence, diff["rangeOffset"], diff["rangeLength"], diff["text"], self.scan, marks)
            out["diff"] = diff
            return out
        if kind == "terminal_input":
            out = self._fields(action, "data")
            line = self._keystroke_line(action.get("terminalId", ""))
            line.feed(sequence, action["data"], self.scan, marks)
            out["data"] = action["data"]
            return out
        if kind == "agent_response" and isinstance(action.get("text"), str):
            # The rows of the agent's screen: a secret wrapped at the terminal's width is found
            # whole on a full-width row continued on the next, and a known one's end alone on a
            # row, as on a screen.
            out = self.value({k: v for k, v in action.items() if k != "text"})
            columns = self._columns.get(str(action.get("terminalId", "")))
            out["text"] = "\n".join(self._screen(action["text"].split("\n"), columns))
            return out
        if secret and kind in ("selection", "file_change"):
            out = self.value({k: v for k, v in action.items() if k not in ("selectedText", "diff")})
            for key in ("selectedText", "diff"):
                if key in action:
                    out[key] = self.secret_content(action[key]) if isinstance(action[key], str) else action[key]
            return out
        out = self.value(action)
        if key_rows:
            out["diff"] = mask_spans(out["diff"], key_rows)
        return out

    # --- what a file held before its edits ---------------------------------------------------------

    def _follow_disk(self, kind: str, file: str, action: dict[str, Any], marks: Marks) -> list[tuple[int, int]]:
        """A file opened: its document starts from the text it was opened with (the event's, or
        the disk's as the last snapshot and the diffs since tell it), so that the private keys
        in it are known before the edits reach them. A file changed on disk: its text follows,
        and the spans of its diff that show a key's rows (before or after the change) are
        returned, to be masked whether or not the diff shows the key's BEGIN line."""
        if kind == "file_open":
            text = action.get("text")
            if isinstance(text, str):
                self._disk[file] = text if holds_key_rows(text) else None
            elif file in self._documents:
                return []  # reopened: its document goes on from its edits
            start = self._disk_text(file)
            if start is not None:
                previous = self._documents.pop(file, None)
                if previous is not None:
                    previous.end_batch(self.scan, marks)
                self._documents[file] = ShadowDocument.opened(start)
            return []
        diff = action.get("diff")
        before = "" if action.get("changeType") == "create" else self._disk_text(file)
        after = None
        if isinstance(diff, str) and before is not None:
            with contextlib.suppress(PatchError):
                after = apply_diff(before, diff)
        self._disk[file] = after if after is not None and holds_key_rows(after) else None
        if not isinstance(diff, str) or before is None or after is None:
            return []
        rows_before, rows_after = key_row_lines(before), key_row_lines(after)
        return [
            (start, end)
            for start, end, old, new in diff_lines(diff)
            if (old is not None and old in rows_before) or (new is not None and new in rows_after)
        ]

    def _disk_text(self, file: str) -> str | None:
        """The file's text on disk where it holds a private key's rows, as far as known."""
        if file in self._disk:
            return self._disk[file]
        text = None
        if self._snapshot is not None and self.snapshot_text is not None:
            text = self.snapshot_text(self._snapshot, file)
        self._disk[file] = text if text is not None and holds_key_rows(text) else None
        return self._disk[file]

    def _opened(self, file: str) -> ShadowDocument:
        text = self._disk_text(file)
        return ShadowDocument() if text is None else ShadowDocument.opened(text)

    def _keystroke_line(self, terminal: str) -> KeystrokeLine:
        """The terminal's line being typed (made on its first keystroke, not on every one)."""
        line = self._keystrokes.get(terminal)
        if line is None:
            line = self._keystrokes[terminal] = KeystrokeLine()
        return line

    def _fields(self, action: dict[str, Any], stream: str) -> dict[str, Any]:
        """An edit's or a keystroke's other fields, redacted: one keystroke after another repeats
        them (kind, source, file), so each distinct set is redacted once per batch."""
        others = dict(action)
        others.pop(stream, None)
        fields = tuple(others.items())
        try:
            done = self._field_cache.get(fields)
        except TypeError:  # a nested value: not cached
            return self.value(others)
        if done is None:
            done = self._field_cache[fields] = self.value(others)
        return dict(done)

    def _observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        viewport = observation.get("viewport")
        if viewport is not None:
            viewport = dict(viewport)
            secret = self._is_secret_file(viewport.get("file", ""))
            viewport["content"] = self.secret_content(viewport["content"]) if secret else self.text(viewport["content"])
            viewport["file"] = self.path(viewport["file"])
        out["viewport"] = viewport
        terminal = observation.get("activeTerminal")
        if terminal is not None:
            terminal = dict(terminal)
            terminal["viewport"] = self._screen(terminal["viewport"], terminal.get("cols"))
            if isinstance(terminal.get("cols"), int):
                self._columns[str(terminal.get("id", ""))] = terminal["cols"]
            terminal["name"] = self.text(terminal.get("name", ""))
            self._note_prompt(terminal, observation["activeTerminal"]["viewport"])
        out["activeTerminal"] = terminal
        return {**observation, **out}

    def _mask_known(self, observation: dict[str, Any]) -> None:
        """Samples taken before a secret was complete (or found) in this batch: mask what they
        show of it."""
        viewport = observation.get("viewport")
        if viewport is not None:
            content = viewport["content"]
            viewport["content"] = mask_spans(content, ((f.start, f.end) for f in self.known.find(content)))
        terminal = observation.get("activeTerminal")
        if terminal is not None:
            rows, cols = terminal["viewport"], terminal.get("cols")
            joined = _joined(rows, cols)
            spans = ((f.start, f.end) for f in self.known.find(joined) + self.known.ends(joined))
            terminal["viewport"] = [
                mask_spans(row, ((f.start, f.end) for f in self.known.find(row) + self.known.ends(row)))
                for row in _rows_of(mask_spans(joined, spans), rows, cols)
            ]

    def _screen(self, rows: list[str], cols: int | None) -> list[str]:
        """Scan a screen as text, a full-width row continuing on the next (wrapped secrets).

        The identity's names are also looked for in each row alone: joined, a name that ends a
        full row (`echo "$HOME" "$USER"` filling it) runs into the next row's first word and is
        no longer a word of its own."""
        joined = _joined(rows, cols)
        masked = self.text(joined)
        if self.known:
            masked = mask_spans(masked, ((f.start, f.end) for f in self.known.ends(joined)))
        return [
            mask_spans(piece, ((f.start, f.end) for f in self.identity.find(row)))
            for piece, row in zip(_rows_of(masked, rows, cols), rows, strict=True)
        ]

    def _note_prompt(self, terminal: dict[str, Any], rows: list[str]) -> None:
        """A password prompt on screen: what is typed next in this terminal is masked."""
        cursor = terminal.get("cursor")
        if cursor is not None and 0 <= cursor["line"] < len(rows):
            before_cursor = rows[cursor["line"]][: cursor["character"]]
        else:
            before_cursor = next((r for r in reversed(rows) if r.strip()), "")
        line = self._keystroke_line(terminal.get("id", ""))
        line.secret_prompt = prompts_for_secret(before_cursor)

    def value(self, value: Any, key: str | None = None) -> Any:
        """Redact any JSON value: path keys anonymised, other strings scanned, structure kept."""
        if isinstance(value, str):
            if key in PLAIN_KEYS:
                return value
            return self.path(value) if key in PATH_KEYS else self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, key) for v in value]
        return value

    # --- terminal streams -------------------------------------------------------------------------

    def cast(self, data: bytes) -> bytes:
        """Redact an asciicast v2 file: the header and every event kind.

        Output (``"o"``, escape sequences included: the shell integration's marks carry command
        lines and directories) and input (``"i"``) are scanned as streams; markers and exit codes
        as text; a ``"b"`` event (the exact bytes of the ``"o"`` before it, base64) is scanned as
        a byte stream of its own, so that a secret next to a byte that is not UTF-8 is masked in
        the exact copy as well. An event kind not listed here is dropped, never copied unread.
        """
        lines = data.splitlines()
        if not lines:
            return data
        try:
            header = self.value(orjson.loads(lines[0]))
        except orjson.JSONDecodeError:
            return b""
        events = []
        for raw in lines[1:]:
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:  # a torn final line of a crashed recording
                continue
            if isinstance(event, list) and len(event) == 3 and isinstance(event[2], str):
                events.append(event)
        marks = Marks()
        output = OutputLines(self.scan, marks, self.may_hold, self.lines_may_hold, self.known)
        keystrokes = KeystrokeLine()
        cursor_line = CursorLine()  # the row the cursor is on: a prompt is the text before it
        exact = _exact_output(events)
        byte_marks = Marks()
        byte_output = (
            OutputLines(self.scan, byte_marks, self.may_hold, self.lines_may_hold, self.known) if exact else None
        )
        for index, event in enumerate(events):
            if event[1] == "o":
                output.feed(index, event[2])
                cursor_line.feed(event[2])
                keystrokes.secret_prompt = prompts_for_secret(cursor_line.before_cursor)
            elif event[1] == "i":
                keystrokes.feed(index, event[2], self.scan, marks)
            if byte_output is not None and index in exact:
                byte_output.feed(index, exact[index])
        output.flush()
        keystrokes.flush(self.scan, marks)
        if byte_output is not None:
            byte_output.flush()
        self.counts.update(marks.counts)
        out = [orjson.dumps(header)]
        for index, (at, code, text) in enumerate(events):
            if code in ("o", "i"):
                units = marks.units.get(index)
                if units:
                    text = "".join("*" if i in units else c for i, c in enumerate(text))
            elif code == "b":
                source = exact.get(index)
                if source is None:
                    continue
                units = byte_marks.units.get(index, set())
                text = base64.b64encode(
                    "".join("*" if i in units else c for i, c in enumerate(source)).encode("latin-1")
                ).decode()
            elif code in ("r", "x"):
                pass
            elif code == "m":
                text = self.text(text)
            else:
                continue
            out.append(orjson.dumps([at, code, text]))
        return b"\n".join(out) + b"\n"


def _exact_output(events: list[list[Any]]) -> dict[int, str]:
    """When a cast has ``"b"`` events: the exact output bytes of every output event, as Latin-1
    text (one character per byte, so positions are byte offsets), keyed by the event whose text
    they are — the ``"b"`` event where there is one, else the ``"o"`` event (UTF-8 encoded)."""
    if not any(code == "b" for _, code, _ in events):
        return {}
    exact: dict[int, str] = {}
    for index, (_, code, text) in enumerate(events):
        if code == "b" and index > 0 and events[index - 1][1] == "o":
            try:
                exact[index] = base64.b64decode(text, validate=True).decode("latin-1")
            except (binascii.Error, ValueError):
                continue
            exact.pop(index - 1, None)
        elif code == "o":
            exact[index] = text.encode("utf-8", "surrogatepass").decode("latin-1")
    return exact


def _joined(rows: list[str], cols: int | None) -> str:
    """A screen's rows as one text, a full-width row continued on the next (a wrapped token is
    whole), the others ended by a newline."""
    return "".join(row + ("" if cols and len(row) == cols else "\n") for row in rows)


def _rows_of(joined: str, rows: list[str], cols: int | None) -> list[str]:
    """:func:`_joined` text (masked, same length) cut back into the rows it was made of."""
    out, position = [], 0
    for row in rows:
        out.append(joined[position : position + len(row)])
        position += len(row) + (0 if cols and len(row) == cols else 1)
    return out
