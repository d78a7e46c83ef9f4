"""The rendered screen: full-screen programs, the alternate screen, tmux as the reference."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from crowdcode_shell.asciicast import read_output
from crowdcode_shell.screen import render
from shell_helpers import CROWDCODE, PROMPT, cast_file, only_session, screens

from crowdcode_sdk import Store
from tests.tmux_pane import Pane


def _vim_session(shell, tmp_path: Path):
    target = tmp_path / "notes.txt"
    target.write_text("".join(f"line {i} of the file\n" for i in range(1, 60)))
    s = shell()
    s.prompt()
    s.run("echo before-vim")
    s.child.sendline(f"vim -u NONE -N {target.name}")
    s.child.expect_exact("line 1 of the file")
    time.sleep(0.5)  # at least one sample of vim's screen
    s.child.send(":q\r")
    s.prompt()
    time.sleep(0.3)
    s.child.sendline("exit")
    assert s.finish() == 0
    return only_session(ended=True)


def test_vim_frames_then_the_shell_screen(shell, tmp_path: Path) -> None:
    info = _vim_session(shell, tmp_path)
    frames = screens(info)
    vim = [f for f in frames if f["alternateScreen"] and f["viewport"][0] == "line 1 of the file"]
    assert vim, "no frame showed vim"
    assert vim[-1]["viewport"][22] == "line 23 of the file"
    assert vim[-1]["rows"] == 24 and vim[-1]["cols"] == 80
    after = frames[frames.index(vim[-1]) + 1 :]
    assert after, "no frame after vim"
    last = after[-1]
    assert not last["alternateScreen"]
    assert "before-vim" in last["viewport"]  # the shell's screen is back
    assert "line 1 of the file" not in last["viewport"]


def test_less(shell, tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("".join(f"row {i}\n" for i in range(200)))
    s = shell()
    s.prompt()
    s.child.sendline("less long.txt")
    s.child.expect_exact("row 5")
    time.sleep(0.4)
    s.child.send(" ")  # next page
    s.child.expect_exact("row 30")
    time.sleep(0.4)
    s.child.send("q")
    s.prompt()
    s.child.sendline("exit")
    s.finish()
    frames = screens(only_session(ended=True))
    pages = [f["viewport"][0] for f in frames if f["alternateScreen"]]
    assert "row 0" in pages and any(p.startswith("row 2") for p in pages)
    assert not frames[-1]["alternateScreen"]
    if shutil.which("tmux"):  # and tmux renders the same bytes the same way, in less and after it
        raw = b"".join(data for _, data in read_output(cast_file(only_session(ended=True))))
        cut = raw.find(b"row 44")
        assert cut > 0
        for stream in (raw[: cut + 10], raw):  # less showing its second page; the shell after it
            ours = render(stream, 80, 24)
            assert _tmux_render(stream, tmp_path) == (ours.lines, ours.cursor)


def test_replaying_the_raw_stream_gives_the_last_frame(shell, tmp_path: Path) -> None:
    info = _vim_session(shell, tmp_path)
    raw = b"".join(data for _, data in read_output(cast_file(info)))
    replayed = render(raw, 80, 24)
    last = screens(info)[-1]
    assert replayed.lines == last["viewport"]
    assert list(replayed.cursor) == [last["cursor"]["line"], last["cursor"]["character"]]


def test_frames_match_tmux(shell, tmp_path: Path) -> None:
    """Feed the same bytes to tmux and to our emulator; compare capture-pane with our screen at
    several points of a vim session (inside vim, after it) and for a synthetic stress stream."""
    info = _vim_session(shell, tmp_path)
    chunks = [data for _, data in read_output(cast_file(info))]
    raw = b"".join(chunks)
    marker = raw.find(b"line 1 of the file")
    stress = (
        b"plain\r\n\x1b[1;31mred\x1b[0m \xe4\xb8\xad\xe6\x96\x87 wide\r\n"  # colour, wide characters
        + b"".join(b"scroll %d\r\n" % i for i in range(40))  # scrolling
        + b"\x1b[5;10Hcursor-moved\x1b[2K\x1b[7;1Htab\there\x1b[10;5H\x1b[1Pdel"  # cursor moves, erase, delete
        + b"\x1b[?1049h\x1b[Hin alternate\x1b[?1049l"  # and back
        + b"\x1b[3;20r\x1b[20;1H"
        + b"".join(b"region %d\n" % i for i in range(5))
        + b"\x1b[r"  # scroll region
    )
    for stream, expected in ((raw[: marker + 400], "line 1 of the file"), (raw, "before-vim"), (stress, "region 4")):
        tmux_lines, tmux_cursor = _tmux_render(stream, tmp_path)
        ours = render(stream, 80, 24)
        assert expected in "\n".join(tmux_lines)
        assert tmux_lines == ours.lines
        assert tmux_cursor == ours.cursor


def _tmux_render(stream: bytes, tmp_path: Path) -> tuple[list[str], tuple[int, int]]:
    """tmux's screen (rows as text) and cursor (row, col) after ``stream``."""
    data = tmp_path / f"stream-{uuid.uuid4().hex}"
    data.write_bytes(stream)
    socket = f"cc-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    done = tmp_path / f"done-{uuid.uuid4().hex}"
    try:
        subprocess.run(
            [*tmux, "new-session", "-d", "-x", "80", "-y", "24", f"stty raw -echo; cat {data}; touch {done}; sleep 60"],
            check=True,
            env={"TERM": "xterm-256color", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        subprocess.run([*tmux, "set", "-g", "status", "off"], check=True)
        deadline = time.monotonic() + 10
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        out = subprocess.run([*tmux, "capture-pane", "-p", "-t", "0"], check=True, capture_output=True, text=True)
        where = subprocess.run(
            [*tmux, "display", "-p", "-t", "0", "#{cursor_y} #{cursor_x}"], check=True, capture_output=True, text=True
        )
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    lines = [line.rstrip() for line in out.stdout.split("\n")][:24]
    row, col = (int(n) for n in where.stdout.split())
    return lines + [""] * (24 - len(lines)), (row, col)


class _Tmux(Pane):
    """``command`` in a private tmux server's one window of ``size`` (no status line), driven as a
    person would; its exit status is asserted when it quits."""

    def __init__(self, tmp_path: Path, command: str, size: tuple[int, int]) -> None:
        cols, rows = size
        super().__init__(shlex.split(command), tmp_path, {}, "screen", cols, rows)
        subprocess.run([*self.tmux, "set", "-g", "status", "off"], check=True)

    def resize(self, cols: int, rows: int) -> None:
        subprocess.run([*self.tmux, "resize-window", "-t", "0", "-x", str(cols), "-y", str(rows)], check=True)

    def lines(self) -> list[str]:
        out = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "0"], check=True, capture_output=True, text=True)
        return [line.rstrip() for line in out.stdout.split("\n")][:-1]

    def styled(self) -> str:
        """The pane with its colours, as escape sequences."""
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-e", "-t", "0"], check=True, capture_output=True, text=True
        ).stdout

    def cursor(self) -> tuple[int, int]:
        out = subprocess.run(
            [*self.tmux, "display", "-p", "-t", "0", "#{cursor_y} #{cursor_x}"],
            check=True,
            capture_output=True,
            text=True,
        )
        row, col = (int(n) for n in out.stdout.split())
        return row, col

    def wait(self, condition, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"tmux never showed what was expected: {self.lines()}")
            time.sleep(0.05)


def _settled_screen(tmux: _Tmux, size: tuple[int, int], unknown: int = 0) -> tuple[list[str], tuple[int, int]]:
    """tmux's screen once the recorder has sampled the same size, contents and cursor (it samples
    at 10 Hz in its own process): polled, never slept for. The first ``unknown`` rows were drawn
    before the recording started: blank in it."""

    def recorded() -> dict | None:
        sessions = Store().sessions()
        seen = screens(sessions[0]) if len(sessions) == 1 else []
        return seen[-1] if seen else None

    expected = tmux.lines()
    deadline = time.monotonic() + 15
    while True:
        last = recorded()
        blanked = [""] * unknown + _rows(expected, size[1])[unknown:]
        cursor = tmux.cursor()
        if (
            last
            and (last["cols"], last["rows"]) == size
            and _rows(last["viewport"], size[1]) == blanked
            and (last["cursor"]["line"], last["cursor"]["character"]) == cursor
        ):
            return expected, cursor
        if time.monotonic() > deadline:
            raise AssertionError(f"recorded {last and last['viewport']}\n tmux shows {expected}")
        time.sleep(0.1)
        expected = tmux.lines()


def _rows(lines: list[str], rows: int) -> list[str]:
    return (list(lines) + [""] * rows)[:rows]


def test_shrink_then_grow_matches_tmux(user_home: Path, home: Path, tmp_path: Path) -> None:
    """Lines a terminal brings back from its scrollback when it grows again are on the recorded
    screen too, and the recording starts where the prompt was, part-way down the screen."""
    tmux = _Tmux(tmp_path, "bash", (100, 30))
    try:
        tmux.wait(lambda: any(PROMPT.strip() in line for line in tmux.lines()))
        tmux.keys("echo before-the-wrapper; seq 1 3", "Enter")  # the wrapper starts mid-screen
        tmux.wait(lambda: "3" in tmux.lines())
        tmux.keys(f"{CROWDCODE} shell", "Enter")
        tmux.wait(lambda: sum(PROMPT.strip() in line for line in tmux.lines()) == 3)
        tmux.keys("echo inside-$((6*7))", "Enter")
        tmux.wait(lambda: "inside-42" in tmux.lines())
        start = tmux.lines().index(f"{PROMPT}echo inside-$((6*7))")  # after the consent notice
        assert start >= 6
        _settled_screen(tmux, (100, 30), unknown=start)  # the rows above the wrapper's start
        tmux.keys("seq 1 40", "Enter")
        tmux.wait(lambda: "40" in tmux.lines())
        _settled_screen(tmux, (100, 30))
        tmux.resize(80, 24)
        _settled_screen(tmux, (80, 24))
        tmux.resize(100, 30)
        lines, cursor = _settled_screen(tmux, (100, 30))
        assert lines[0] != "18"  # what a screen without scrollback shows
        tmux.keys("exit", "Enter")
        tmux.wait(lambda: [line for line in tmux.lines() if line][-3:] == [f"{PROMPT}exit", "exit", PROMPT.strip()])
        tmux.keys("exit", "Enter")
        assert tmux.exited(15, "the terminal's shell") == 0
    finally:
        tmux.kill()
    info = only_session(ended=True)
    last = [s for s in screens(info) if (s["cols"], s["rows"]) == (100, 30) and "exit" not in "".join(s["viewport"])][
        -1
    ]
    assert _rows(last["viewport"], 30) == _rows(lines, 30)
    assert (last["cursor"]["line"], last["cursor"]["character"]) == cursor


def test_paging_in_less_matches_tmux(user_home: Path, home: Path, tmp_path: Path) -> None:
    """PageDown in less inside ``crowdcode shell`` in tmux: each page's recorded screen is what
    capture-pane shows, and so is the shell's screen after less, the last one recorded."""
    (tmp_path / "long.txt").write_text("".join(f"row {i}\n" for i in range(300)))
    steps = [(("NPage",), lambda pane, page=page: pane.lines()[0] == f"row {23 * page}") for page in (1, 2, 3)]
    steps.append((("q",), lambda pane: "row 0" not in pane.lines()))
    info, after, cursor = _full_screen_program_matches_tmux(tmp_path, "less long.txt", "row 0", steps)
    frames = screens(info)
    pages = [f["viewport"][0] for f in frames if f["alternateScreen"]]
    assert [p for p in ("row 0", "row 23", "row 46", "row 69") if p in pages] == ["row 0", "row 23", "row 46", "row 69"]
    last = [f for f in frames if "exit" not in "".join(f["viewport"])][-1]
    assert _rows(last["viewport"], 24) == _rows(after, 24)
    assert (last["cursor"]["line"], last["cursor"]["character"]) == cursor


def _full_screen_program_matches_tmux(tmp_path: Path, command: str, shows: str, steps):  # type: ignore[no-untyped-def]
    """``command`` run at the prompt of ``crowdcode shell`` in tmux, then each of ``steps``: keys,
    and a test of the pane that says they have been drawn. At each point the recorded screen and
    cursor are what tmux shows, and after the program quits (the last step) so are the shell's.
    Returns the session, and the last step's screen and cursor as tmux showed them."""
    from crowdcode_sdk.consent import set_consent

    set_consent("declined")  # no consent notice above the recording's first prompt
    tmux = _Tmux(tmp_path, f"{CROWDCODE} shell", (80, 24))
    try:
        tmux.wait(lambda: any(PROMPT.strip() in line for line in tmux.lines()))
        tmux.keys("echo ready-$((6*7))", "Enter")
        tmux.wait(lambda: "ready-42" in tmux.lines())
        _settled_screen(tmux, (80, 24))
        tmux.keys(command, "Enter")
        tmux.wait(lambda: any(shows in line for line in tmux.lines()))
        _settled_screen(tmux, (80, 24))
        for keys, then in steps:
            tmux.keys(*keys)
            tmux.wait(lambda then=then: then(tmux))
            lines, cursor = _settled_screen(tmux, (80, 24))
        tmux.keys("exit", "Enter")
        assert tmux.exited(15, "the terminal's shell") == 0
    finally:
        tmux.kill()
    return only_session(ended=True), lines, cursor


def test_a_curses_dialog_matches_tmux(user_home: Path, home: Path, tmp_path: Path) -> None:
    """dialog's menu (line-drawing borders, a highlighted row that moves: the recording keeps
    text, not colours, so the screens compared are the same before and after the move), and the
    shell's screen under what it leaves behind."""
    items = "a Apple b Banana c Cherry d Date e Elder f Fig"
    _full_screen_program_matches_tmux(
        tmp_path,
        f"dialog --menu 'Pick a fruit' 14 40 6 {items} 2>choice; echo picked",
        "Pick a fruit",
        [
            (("Down", "Down", "Down"), lambda pane: "\x1b[44md" in pane.styled()),  # Date highlighted
            (("Enter",), lambda pane: any(line.startswith("picked") for line in pane.lines())),
        ],
    )


def test_htop_matches_tmux(user_home: Path, home: Path, tmp_path: Path) -> None:
    """htop (colours, meters, a process list it redraws; 10 s between its own refreshes, so that
    the screen holds still long enough to compare), sorted by another column, then quit."""
    info, _, _ = _full_screen_program_matches_tmux(
        tmp_path,
        "htop -d 100 -u $(id -un)",
        "PID",
        [
            (("F6",), lambda pane: any("Sort by" in line for line in pane.lines())),
            (("Escape",), lambda pane: not any("Sort by" in line for line in pane.lines())),
            (("q",), lambda pane: not any("PID" in line for line in pane.lines())),
        ],
    )
    assert any(f["alternateScreen"] and any("PID" in row for row in f["viewport"]) for f in screens(info))


def test_random_resizes_match_tmux(user_home: Path, home: Path, tmp_path: Path) -> None:
    """Output of every width (long lines that wrap, blank lines, short lines of wide characters),
    then the terminal resized at random, shrinking and growing in either direction: after each
    step the recorded screen and cursor are what tmux shows. (Wide characters in a line that
    wraps, and a command line that ends in the last column, are left out: docs/shell.md,
    "Resizes", says why they can differ.)"""
    from crowdcode_sdk.consent import set_consent

    seed = int(os.environ.get("CROWDCODE_TEST_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    set_consent("declined")
    (tmp_path / "lines.txt").write_text(
        "".join(
            rng.choice(["", "x" * rng.randrange(1, 200), "漢字" * rng.randrange(1, 8), f"line {i}"]) + "\n"
            for i in range(120)
        )
    )
    size = (80, 24)
    tmux = _Tmux(tmp_path, f"{CROWDCODE} shell", size)
    try:
        tmux.wait(lambda: any(PROMPT.strip() in line for line in tmux.lines()))
        for step in range(10):
            start, count = rng.randrange(0, 100), rng.randrange(1, 30)
            command = f"sed -n '{start + 1},{start + count}p' lines.txt; echo step-{step}"
            if len(PROMPT + command) % size[0] == 0:  # not to the last column: docs/shell.md, "Resizes"
                command += " "
            tmux.keys(command, "Enter")
            tmux.wait(lambda step=step: any(line.startswith(f"step-{step}") for line in tmux.lines()))
            _settled_screen(tmux, size)
            size = (rng.randrange(30, 140), rng.randrange(8, 45))
            tmux.resize(*size)
            _settled_screen(tmux, size)
        tmux.keys("exit", "Enter")
        assert tmux.exited(15, "the terminal's shell") == 0
    except AssertionError as failure:
        raise AssertionError(f"CROWDCODE_TEST_SEED={seed}: {failure}") from failure
    finally:
        tmux.kill()
    only_session(ended=True)
