"""The real Neovim TUI in tmux, paged with Ctrl-F and PageDown: each page Neovim shows
(``line('w0')``..``line('w$')``, read off its own screen) is a recorded viewport with that text,
the last one recorded is the last one shown, and ``crowdcode status`` finds nothing suspicious."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from crowdcode_sdk.store import Store

from .conftest import only_session, run_cli
from .nvim_driver import events, wait_for
from .test_nvim_quit import Tui, started_tui

pytestmark = pytest.mark.timeout(120)

LINES = [f"line {n} of the file" for n in range(1, 501)]


@pytest.fixture
def tui(home: Path, tmp_path: Path) -> Iterator[Tui]:
    with started_tui(home, tmp_path, "\n".join(LINES) + "\n", shown="line 1 of the file") as tui:
        yield tui


def shown(tui: Tui, page: int) -> tuple[int, int]:
    """The window's first and last line, as Neovim itself reports them on its command line."""
    tui.type(f":echo 'page{page}' line('w0') line('w$')")
    tui.keys("Enter")
    found = wait_for(lambda: re.search(rf"page{page} (\d+) (\d+)", tui.screen()), what=f"page {page}'s lines")
    return int(found[1]), int(found[2])


def recorded_views() -> list[tuple[int, int]]:
    """The viewports of f.txt in the journal so far (it is written every flush interval)."""
    views = [e.payload.viewport for e in Store().events(only_session()) if e.type == "observation"]
    return [(v.start_line, v.end_line) for v in views if v and v.file == "f.txt"]


def test_paging_records_the_viewports_neovim_shows(tui: Tui) -> None:
    pages = [shown(tui, 0)]
    for page, key in enumerate(["C-f", "C-f", "NPage", "C-f"], start=1):
        wait_for(lambda: pages[-1] in recorded_views(), what=f"{pages[-1]} recorded")  # a person reads it
        before = pages[-1]
        tui.keys(key)
        tui.wait_screen(LINES[before[0] - 1], present=False)  # the page moved on
        pages.append(shown(tui, page))
    assert len(set(pages)) == len(pages) and pages[-1][0] > 100
    # the last page is left at once: it is still recorded (the trailing update, at the quit)
    tui.gone_after(":q", lambda: tui.command(":q"))
    info = only_session(ended=True)
    views = [e.payload.viewport for e in events(info) if e.type == "observation" and e.payload.viewport]
    recorded = [(v.start_line, v.end_line) for v in views if v.file == "f.txt"]
    for first, last in pages:
        assert (first, last) in recorded, (pages, recorded)
    assert recorded[-1] == pages[-1]
    for view in views:
        assert view.content == "\n".join(LINES[view.start_line - 1 : view.end_line])
    status = orjson.loads(run_cli("status", "--json").stdout)
    assert status["suspiciousSessions"] == {}
