"""`crowdcode play` of a recorded terminal-only session: cells, not characters, and the whole
height for the terminal."""

from __future__ import annotations

from wcwidth import wcswidth

from crowdcode_sdk.cli.main import main
from tests.conftest import only_session


def test_play_a_terminal_session_with_wide_characters(shell, capsys) -> None:
    s = shell(size=(30, 80))  # played at 60 columns: its rows are cut to 60 cells
    s.prompt()
    s.run("seq 1 25")
    s.run("printf '中%.0s' {1..40}; printf '\\n😀 emoji\\n'")
    s.child.sendline("exit")
    assert s.finish() == 0
    only_session(ended=True)  # the recorder finishes the session after the shell has gone
    assert main(["play", "latest", "--no-wait", "--size", "60x30"]) == 0
    frames = capsys.readouterr().out.split("--- frame ")[1:]
    assert frames
    for frame in frames:
        rows = frame.splitlines()[1:]  # after the frame's own header line (trailing blanks cut)
        assert len(rows) == 30
        assert max(wcswidth(row) for row in rows) <= 60, [row for row in rows if wcswidth(row) > 60]
        assert "exit None" not in frame
    last = frames[-1]
    assert "editor: no file" not in last
    wide = [f for f in frames if "中" * 30 in [row.rstrip() for row in f.splitlines()]]  # 60 cells of 80
    assert wide and "😀 emoji" in wide[-1]
    shown = [n for n in range(1, 26) if any(row.rstrip() == str(n) for row in last.splitlines())]
    assert len(shown) >= 15  # the terminal pane has the rows the editor pane would have taken
