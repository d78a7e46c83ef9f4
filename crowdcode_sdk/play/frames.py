"""What the player shows at each moment of a recording, as plain text frames.

A frame has three panes, as the newer crowd-code replay tool draws them: the editor viewport
(file, numbered lines, the cursor's cell in reverse video), the active terminal's screen, and an
overlay of the most recent actions. Panes come straight from observations (what the person saw);
actions only update the overlay. Rendering is plain text plus optional ANSI styling, so tests
and ``--no-wait`` print the same frames a terminal shows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wcwidth import wcwidth

from ..positions import PositionError
from ..serialize.buffer import TextBuffer
from ..serialize.terminal import clean_line, is_rendered

REVERSE = "\x1b[7m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"


@dataclass
class State:
    """The recording's visible state after some prefix of its events."""

    start: int = 0
    now: int = 0
    viewport: dict[str, Any] | None = None
    terminal: dict[str, Any] | None = None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    texts: dict[str, TextBuffer] = field(default_factory=dict)
    """Files' texts as far as the recording tells (``file_open`` text, edits), so that typing
    shows in the editor pane even when no observation follows each keystroke."""

    def apply(self, event: dict[str, Any]) -> None:
        self.now = event.get("timestamp", self.now)
        if not self.start:  # crowd-code bundles have no session_start: time runs from the first event
            self.start = self.now
        kind = event.get("type")
        if kind == "observation":
            observation = event["observation"]
            self.viewport = observation.get("viewport")
            if self.viewport and self.viewport["startLine"] == 1 and self.viewport["file"] not in self.texts:
                self.texts[self.viewport["file"]] = TextBuffer(self.viewport["content"])  # the best we know
            self.terminal = observation.get("activeTerminal") or self.terminal
        elif kind == "action":
            action = event["action"]
            if action["kind"] == "session_start":
                self.start = action["metadata"]["startTime"]
            self._track(action)
            line = describe(action)
            if line:
                self.recent.append(f"{format_offset(self.now - self.start)} {line}")
        elif kind == "workspace_snapshot":
            self.recent.append(f"{format_offset(self.now - self.start)} snapshot {event['snapshotId']}")

    def _track(self, action: dict[str, Any]) -> None:
        kind = action["kind"]
        if kind == "file_open" and action.get("text") is not None:
            self.texts[action["file"]] = TextBuffer(action["text"])
        elif kind == "edit" and action["file"] in self.texts:
            buffer = self.texts[action["file"]]
            diff = action["diff"]
            try:
                first, _ = buffer.replace(diff["rangeOffset"], diff["rangeLength"], diff["text"])
            except PositionError:
                del self.texts[action["file"]]
                return
            viewport = self.viewport
            if viewport is not None and viewport["file"] == action["file"]:
                # Redraw the pane from the tracked text; the cursor goes to the edit's end.
                lines = buffer.text.split("\n")
                start, height = viewport["startLine"], viewport["endLine"] - viewport["startLine"] + 1
                end_line = first + diff["text"].count("\n")
                column = len(diff["text"].rsplit("\n", 1)[-1]) if "\n" in diff["text"] else None
                if column is None:
                    line_start = buffer.text.rfind("\n", 0, buffer.index(diff["rangeOffset"])) + 1
                    column = buffer.index(diff["rangeOffset"]) - line_start + len(diff["text"])
                if not start <= end_line + 1 < start + height:
                    start = max(end_line + 1 - height // 2, 1)
                self.viewport = {
                    **viewport,
                    "startLine": start,
                    "endLine": start + height - 1,
                    "content": "\n".join(lines[start - 1 : start - 1 + height]),
                    "cursorPosition": {"line": end_line, "character": column},
                }


def describe(action: dict[str, Any]) -> str | None:
    """One overlay line for an action (``None`` for lifecycle noise)."""
    kind = action["kind"]
    source = action.get("source")
    who = f"[{source}] " if source and source != "user" else ""
    if kind == "edit":
        diff = action["diff"]
        text = diff["text"].replace("\n", "⏎")
        change = f"+{text!r}" if not diff["rangeLength"] else f"-{diff['rangeLength']} +{text!r}"
        return f"{who}edit {action['file']} @{diff['rangeOffset']} {change[:40]}"
    if kind == "selection":
        return f"cursor {action['file']}:{action['selectionStart']['line'] + 1}"
    if kind in ("tab_switch", "file_open", "file_save", "file_close"):
        return f"{kind.replace('_', ' ')} {action['file']}"
    if kind == "file_change":
        return f"{who}{action['changeType']} {action['file']} (on disk)"
    if kind == "terminal_command":
        return f"$ {action['command']}"
    if kind == "terminal_command_end":
        code = action.get("exitCode")
        return "command ended" if code is None else f"exit {code}"
    if kind == "agent_prompt":
        return f"{action['agent']} < {action['text'][:60]!r}"
    if kind == "agent_response":
        return f"{action['agent']} > {action['text'][:60]!r}"
    if kind == "panic":
        return "panic: recording removed here"
    if kind == "recording_gap":
        return f"gap: {action['lostEvents']} events lost"
    return None


def format_offset(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def frames(events: Iterable[dict[str, Any]]) -> Iterator[State]:
    """The state after every event that changes what is shown."""
    state = State()
    for event in events:
        state.apply(event)
        if event.get("type") == "action" and event["action"]["kind"] in ("session_start",):
            continue
        yield state


def fit(text: str, width: int) -> str:
    """``text`` cut or padded to exactly ``width`` terminal cells: CJK and most emoji take two
    cells, combining marks none (wcwidth, the Unicode tables terminals follow); a character that
    does not print is left out, a wide one that would straddle the edge too."""
    out = []
    used = 0
    for char in text.expandtabs(4):
        cells = wcwidth(char)
        if cells < 0:
            continue
        if used + cells > width:
            break
        out.append(char)
        used += cells
    return "".join(out) + " " * (width - used)


def render(state: State, width: int, height: int, *, status: str = "", color: bool = True) -> list[str]:
    """The frame as ``height`` lines of ``width`` columns."""
    width = max(width, 20)
    height = max(height, 10)
    style = (lambda code, text: f"{code}{text}{RESET}") if color else (lambda code, text: text)
    lines = [style(BOLD, fit(f" crowdcode play  {format_offset(state.now - state.start)}  {status}", width))]
    body = height - 1
    overlay_rows = min(len(state.recent) + 1, max(body // 4, 3))
    # A session that has shown no file (a terminal-only one) gives the terminal the editor's rows.
    editor_rows = (body - overlay_rows) // 2 if state.viewport or not state.terminal else 0
    terminal_rows = body - overlay_rows - editor_rows
    if editor_rows:
        lines += _editor(state.viewport, width, editor_rows, style)
    lines += _terminal(state.terminal, width, terminal_rows, style)
    lines.append(style(DIM, fit("─ recent actions " + "─" * width, width)))
    recent = list(state.recent)[-(overlay_rows - 1) :] if overlay_rows > 1 else []
    lines += [fit(line, width) for line in recent]
    lines += [" " * width] * (height - len(lines))
    return lines[:height]


def _editor(viewport: dict[str, Any] | None, width: int, rows: int, style) -> list[str]:
    if not viewport:
        return [style(DIM, fit("─ editor: no file ", width))] + [" " * width] * (rows - 1)
    cursor = viewport["cursorPosition"]
    title = f"─ {viewport['file']}:{cursor['line'] + 1}:{cursor['character'] + 1} "
    out = [style(DIM, fit(title + "─" * width, width))]
    content = viewport["content"].split("\n")
    first = viewport["startLine"]
    # Keep the cursor's line on screen when the viewport is taller than the pane.
    offset = max(0, min(cursor["line"] + 1 - first - (rows - 1) // 2, len(content) - (rows - 1)))
    for index, text in enumerate(content[offset : offset + rows - 1]):
        number = first + offset + index
        line = fit(f"{number:5d} {text.rstrip(chr(13))}", width)
        if number == cursor["line"] + 1:
            column = min(6 + len(text[: cursor["character"]].expandtabs(4)), width - 1)
            line = line[:column] + style(REVERSE, line[column]) + line[column + 1 :]
        out.append(line)
    return out + [" " * width] * (rows - len(out))


def _terminal(terminal: dict[str, Any] | None, width: int, rows: int, style) -> list[str]:
    if not terminal:
        return [style(DIM, fit("─ terminal: none ", width))] + [" " * width] * (rows - 1)
    out = [style(DIM, fit(f"─ terminal {terminal.get('name', '')} ({terminal.get('id', '')}) " + "─" * width, width))]
    screen = list(terminal.get("viewport") or [])
    if not is_rendered(terminal):  # crowd-code's raw tail: clean it for display
        screen = [clean_line(row) for row in screen]
    while screen and not screen[-1].strip():
        screen.pop()
    shown = screen[-(rows - 1) :] if rows > 1 else []
    out += [fit(row, width) for row in shown]
    return out + [" " * width] * (rows - len(out))
