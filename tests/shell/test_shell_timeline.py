"""A person works in one repository in a recorded terminal and in Neovim at the same time: the
dataset reads the two sessions as one timeline. `crowdcode dataset build` on the data directory
gives one conversation holding both sessions' work in the order it happened, and its sed
commands, run in GNU sed, rebuild every file at every save and every change on disk."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from shell_helpers import actions

from crowdcode_sdk import Store
from crowdcode_sdk.dataset.timelines import merge_overlapping
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.serialize.sources import resolve
from crowdcode_sdk.store import SessionInfo
from tests.conftest import run_cli
from tests.nvim_driver import editor, settle, wait_for, wait_recording
from tests.recordings import disk_files, sed_rebuild


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_terminal_and_a_neovim_on_one_repository_are_one_conversation(shell, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    others = {"app.py": "x = 1\ny = 2\n", "old.txt": "old\n"}
    with terminal_then_neovim(shell, repo, others) as (terminal, nvim, shell_session, nvim_session):
        nvim.input("Gogamma from neovim<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 1, what="Neovim's save")
        terminal.run("sed -i 's/x = 1/x = 10/' app.py")
        wait_for(lambda: _changes() >= 1, what="the terminal's change of app.py")
        nvim.input("ggOfirst<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 2, what="Neovim's second save")
        terminal.run("printf 'made in the terminal\\n' > fresh.txt && rm old.txt")
        wait_for(lambda: _changes() >= 3, what="the terminal's new and removed files")
        terminal.run("sed -i 's/alpha/ALPHA/' notes.txt")  # open in Neovim, unmodified: it reloads
        wait_for(lambda: _changes() >= 4, what="the terminal's change of notes.txt")
        nvim.input(":checktime<CR>GAafter the reload<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 3, what="Neovim's save after the reload")
        nvim.input(":e fresh.txt<CR>Aand edited<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 4, what="Neovim's save of fresh.txt")
    terminal.child.sendline("exit")
    assert terminal.finish() == 0
    wait_for(lambda: all(info.end is not None for info in Store().sessions()), what="both sessions' ends")
    sessions = Store().sessions()
    assert len(sessions) == 2, sessions
    data_dir = Locations.default().data_dir
    # The terminal owns the workspace: its journal holds Neovim's saves of notes.txt as the user's
    # changes, naming the session that saved, so that its own timeline reaches the text the
    # terminal's sed then changed. Each session verifies alone.
    saved = [c for c in actions(shell_session, "file_change") if c.get("savedIn")]
    assert [(c["file"], c["source"]) for c in saved] == [("notes.txt", "user")] * 3 + [("fresh.txt", "user")], saved
    assert {c["savedIn"] for c in saved} == {nvim_session.id}
    assert [c["file"] for c in actions(nvim_session, "file_change")] == []
    verified_alone(*sessions)

    out = tmp_path / "ds"
    done = run_cli(
        "dataset",
        "build",
        str(data_dir),
        "--out",
        str(out),
        "--min-conversation-messages",
        "1",
        "--no-plots",
        timeout=120,
    )
    assert done.stdout.splitlines()[-1].startswith("2 sessions (1 read into an overlapping one's timeline) -> "), (
        done.stdout
    )
    report = orjson.loads((out / "report.json").read_bytes())
    assert (report["summary"]["sessions"], report["summary"]["timelines"], report["quarantined"]) == (2, 1, [])
    raw = [line for name in ("training", "validation") for line in (out / f"{name}.jsonl").read_bytes().splitlines()]
    assert len(raw) == 1, raw
    line = orjson.loads(raw[0])
    assert line["provenance"]["sessions"] == [shell_session.id, nvim_session.id]
    assert line["provenance"]["session"] == shell_session.id
    commands = [m["value"] for m in line["conversations"][::2]]
    text = "\n".join(commands)
    # Both sessions' work, in the order it was done.
    order = [
        "gamma from neovim",
        "sed -i 's/x = 1/x = 10/' app.py",
        "first",
        "rm old.txt",
        "sed -i 's/alpha/ALPHA/' notes.txt",
        "after the reload",
        "and edited",
    ]
    positions = [text.find(needle) for needle in order]
    assert -1 not in positions and positions == sorted(positions), (positions, commands)

    [source] = merge_overlapping(resolve([str(data_dir)]))[0]
    rebuilt, result = sed_rebuild(source, tmp_path / "sed")
    # The conversation the build wrote is the one whose commands were run.
    assert [orjson.loads(built) for built in result.lines] == [
        {**line, "provenance": {**line["provenance"], "contributor": ""}}
    ]
    assert rebuilt == {name: data for name, data in disk_files(repo).items() if not name.startswith(".git/")}


def _changes() -> int:
    """Changes on disk made outside the editors (the owner's records of Neovim's saves are not)."""
    return sum(len([c for c in actions(info, "file_change") if "savedIn" not in c]) for info in Store().sessions())


def test_a_change_two_editors_record_is_in_the_timeline_once(shell, tmp_path: Path) -> None:
    """A terminal and two Neovims on one repository: the workspace's one owner records the
    terminal's change of a file no editor has open, the editors their saves; the timeline of all
    three holds the change once, and rebuilds."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name in ("a.txt", "b.txt", "c.txt"):
        (repo / name).write_text(f"{name} one\n{name} two\n")

    terminal = shell(cwd=repo)
    terminal.prompt()
    wait_for(lambda: len(Store().sessions()) == 1, what="the terminal's session")
    with editor(repo, files=["a.txt"]) as first, editor(repo, files=["b.txt"]) as second:
        wait_recording(first)
        wait_recording(second)
        wait_for(lambda: len(Store().sessions()) == 3, what="both Neovim sessions")
        editors = [i for i in Store().sessions() if i.metadata.get("adapter") == "nvim"]
        wait_for(lambda: all(actions(info, "file_open") for info in editors), what="both opens")
        terminal.run("sed -i 's/two/TWO/' c.txt")
        wait_for(lambda: any(actions(info, "file_change") for info in Store().sessions()), what="the record of c.txt")
        first.input("GAand more<Esc>:w<CR>")
        settle(first)
        wait_for(lambda: any(actions(info, "file_save") for info in editors), what="the save of a.txt")
    terminal.child.sendline("exit")
    assert terminal.finish() == 0
    wait_for(lambda: all(info.end is not None for info in Store().sessions()), what="every session's end")
    recorded = [c for info in Store().sessions() for c in actions(info, "file_change") if c["file"] == "c.txt"]
    assert len(recorded) == 1, recorded  # one owner: one record of one change
    data_dir = Locations.default().data_dir

    [source] = merge_overlapping(resolve([str(data_dir)]))[0]
    assert len(source.parts) == 3
    events, _ = source.open(strict=True)
    merged = [e["action"] for e in events if e.get("action", {}).get("kind") == "file_change"]
    assert [(c["file"], c["changeType"]) for c in merged if c["file"] == "c.txt"] == [("c.txt", "change")]
    rebuilt, _ = sed_rebuild(source, tmp_path / "sed")
    assert rebuilt == {name: data for name, data in disk_files(repo).items() if not name.startswith(".git/")}


def test_a_save_another_program_changes_at_once_is_in_the_owners_timeline(shell, tmp_path: Path) -> None:
    """Neovim, not the owner, saves a file and a program it runs on the save (a formatter) changes
    it before the terminal that owns the workspace looks. The owner hears from Neovim what it
    saved: its own timeline holds the save (naming Neovim's session), then the formatter's change
    from the saved text, so that it verifies alone; the merged timeline holds each state once."""
    repo = tmp_path / "repo"
    with terminal_then_neovim(shell, repo) as (terminal, nvim, shell_session, nvim_session):
        nvim.command("set autoread")
        # (A job, as formatter plugins run them: ``:!`` would reload the buffer at once.)
        nvim.command("autocmd BufWritePost notes.txt call jobstart(['sed', '-i', 's/beta/BETA/', 'notes.txt'])")
        nvim.input("Gogamma<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: _changes() >= 1, what="the formatter's change")
        nvim.command("checktime")
        settle(nvim)
    terminal.child.sendline("exit")
    assert terminal.finish() == 0
    wait_for(lambda: all(info.end is not None for info in Store().sessions()), what="both sessions' ends")
    assert (repo / "notes.txt").read_text() == "alpha\nBETA\ngamma\n"
    (save,) = actions(nvim_session, "file_save")
    assert save["content"]["sha256"] == hashlib.sha256(b"alpha\nbeta\ngamma\n").hexdigest()
    mirrored, formatted = actions(shell_session, "file_change")
    assert (mirrored["file"], mirrored["source"], mirrored["savedIn"]) == ("notes.txt", "user", nvim_session.id)
    assert mirrored["content"]["sha256"] == save["content"]["sha256"]
    assert mirrored["diff"].endswith(" beta\n+gamma\n"), mirrored["diff"]
    assert "savedIn" not in formatted and "-beta\n+BETA\n" in formatted["diff"], formatted
    verified_alone(shell_session, nvim_session)

    events = rebuilt_from_the_merged_timeline(repo, tmp_path)
    states = [
        (e["action"]["kind"], e["action"]["content"]["sha256"])
        for e in events
        if e.get("action", {}).get("kind") in ("file_save", "file_change")
    ]
    assert states == [
        ("file_save", save["content"]["sha256"]),
        ("file_change", formatted["content"]["sha256"]),
    ]


def test_a_neovim_that_takes_over_the_workspace_verifies_alone(shell, tmp_path: Path) -> None:
    """Neovim holds a file the terminal that owns the workspace changes; the terminal exits and
    Neovim's session takes the workspace over. Its journal held the file as Neovim opened it: it
    records the change as known by its content id before its first snapshot states the disk, so
    it verifies alone; the merged timeline holds the change once, as the terminal recorded it."""
    repo = tmp_path / "repo"
    with terminal_then_neovim(shell, repo) as (terminal, _, shell_session, nvim_session):
        terminal.run("sed -i 's/alpha/ALPHA/' notes.txt")
        wait_for(lambda: _changes() >= 1, what="the terminal's change")
        terminal.child.sendline("exit")
        assert terminal.finish() == 0
        wait_for(lambda: Store().find(shell_session.id).end is not None, what="the terminal's end")
        wait_for(lambda: actions(nvim_session, "file_change"), what="Neovim's session taking over")
        (repo / "later.txt").write_text("after the hand-over\n")
        wait_for(lambda: len(actions(nvim_session, "file_change")) == 2, what="the change after the hand-over")
    wait_for(lambda: Store().find(nvim_session.id).end is not None, what="Neovim's end")
    restated, later = actions(nvim_session, "file_change")
    assert (restated["file"], restated["changeType"], restated["diff"], restated["source"]) == (
        "notes.txt",
        "change",
        None,
        "unknown",
    )
    assert restated["content"]["sha256"] == hashlib.sha256(b"ALPHA\nbeta\n").hexdigest()
    assert (later["file"], later["changeType"]) == ("later.txt", "create")
    verified_alone(shell_session, nvim_session)

    events = rebuilt_from_the_merged_timeline(repo, tmp_path)
    changes = [e["action"] for e in events if e.get("action", {}).get("kind") == "file_change"]
    assert [(c["file"], c["diff"] is None) for c in changes] == [("notes.txt", False), ("later.txt", False)]


@contextlib.contextmanager
def terminal_then_neovim(
    shell, repo: Path, others: dict[str, str] | None = None
) -> Iterator[tuple[Any, Any, SessionInfo, SessionInfo]]:
    """A git repository holding ``notes.txt`` (and the ``others``), a recorded terminal in it (the
    workspace's owner) and a Neovim, started after it, showing ``notes.txt``: (terminal, Neovim,
    their sessions)."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, text in {"notes.txt": "alpha\nbeta\n", **(others or {})}.items():
        (repo / name).write_text(text)
    terminal = shell(cwd=repo)
    terminal.prompt()
    wait_for(lambda: len(Store().sessions()) == 1, what="the terminal's session")
    [shell_session] = Store().sessions()
    with editor(repo, files=["notes.txt"]) as nvim:
        wait_recording(nvim)
        wait_for(lambda: len(Store().sessions()) == 2, what="the Neovim session")
        [nvim_session] = [i for i in Store().sessions() if i.id != shell_session.id]
        wait_for(lambda: actions(nvim_session, "file_open"), what="Neovim's open of notes.txt")
        yield terminal, nvim, shell_session, nvim_session


def verified_alone(*sessions: SessionInfo) -> None:
    """``crowdcode verify`` of each session by itself passes."""
    for info in sessions:
        checked = run_cli("verify", info.id, check=False)
        assert checked.returncode == 0 and " verified (" in checked.stdout, checked.stdout + checked.stderr


def rebuilt_from_the_merged_timeline(repo: Path, tmp_path: Path) -> list[dict]:
    """The events of the one timeline the data directory's sessions make, after checking that its
    sed commands rebuild every file of ``repo``."""
    [source] = merge_overlapping(resolve([str(Locations.default().data_dir)]))[0]
    rebuilt, _ = sed_rebuild(source, tmp_path / "sed")
    assert rebuilt == {name: data for name, data in disk_files(repo).items() if not name.startswith(".git/")}
    events, _ = source.open(strict=True)
    return list(events)
