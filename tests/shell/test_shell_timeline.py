"""A person works in one repository in a recorded terminal and in Neovim at the same time: the
dataset reads the two sessions as one timeline. `crowdcode dataset build` on the data directory
gives one conversation holding both sessions' work in the order it happened, and its sed
commands, run in GNU sed, rebuild every file at every save and every change on disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from shell_helpers import actions

from crowdcode_sdk import Store
from crowdcode_sdk.dataset.timelines import merge_overlapping
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.serialize.sources import resolve
from tests.conftest import run_cli
from tests.nvim_driver import editor, settle, wait_for, wait_recording
from tests.recordings import disk_files, sed_rebuild


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_terminal_and_a_neovim_on_one_repository_are_one_conversation(shell, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("x = 1\ny = 2\n")
    (repo / "notes.txt").write_text("alpha\nbeta\n")
    (repo / "old.txt").write_text("old\n")

    terminal = shell(cwd=repo)
    terminal.prompt()
    wait_for(lambda: len(Store().sessions()) == 1, what="the terminal's session")
    [shell_session] = Store().sessions()
    with editor(repo, files=["notes.txt"]) as nvim:
        wait_recording(nvim)
        wait_for(lambda: len(Store().sessions()) == 2, what="the Neovim session")
        [nvim_session] = [i for i in Store().sessions() if i.id != shell_session.id]
        wait_for(lambda: actions(nvim_session, "file_open"), what="Neovim's open of notes.txt")

        # The terminal changes a file open in Neovim, unmodified: Neovim reloads it. (First: a
        # change by the workspace's owner of a file another session's editor saved earlier does
        # not verify in the owner's own timeline, see docs/attribution.md, "Known limits".)
        terminal.run("sed -i 's/alpha/ALPHA/' notes.txt")
        wait_for(lambda: _changes() >= 1, what="the terminal's change of notes.txt")
        nvim.input(":checktime<CR>GAafter the reload<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 1, what="Neovim's save after the reload")
        nvim.input("Gogamma from neovim<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 2, what="Neovim's save")
        terminal.run("sed -i 's/x = 1/x = 10/' app.py")
        wait_for(lambda: _changes() >= 2, what="the terminal's change of app.py")
        nvim.input("ggOfirst<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 3, what="Neovim's third save")
        terminal.run("printf 'made in the terminal\\n' > fresh.txt && rm old.txt")
        wait_for(lambda: _changes() >= 4, what="the terminal's new and removed files")
        nvim.input(":e fresh.txt<CR>Aand edited<Esc>:w<CR>")
        settle(nvim)
        wait_for(lambda: len(actions(nvim_session, "file_save")) == 4, what="Neovim's save of fresh.txt")
    terminal.child.sendline("exit")
    assert terminal.finish() == 0
    wait_for(lambda: all(info.end is not None for info in Store().sessions()), what="both sessions' ends")
    sessions = Store().sessions()
    assert len(sessions) == 2, sessions
    data_dir = Locations.default().data_dir

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
    assert done.stdout.splitlines()[-1].startswith("2 sessions (1 read into an overlapping one's timeline) -> "), done.stdout
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
        "sed -i 's/alpha/ALPHA/' notes.txt",
        "after the reload",
        "gamma from neovim",
        "sed -i 's/x = 1/x = 10/' app.py",
        "first",
        "rm old.txt",
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
    return sum(len(actions(info, "file_change")) for info in Store().sessions())


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
