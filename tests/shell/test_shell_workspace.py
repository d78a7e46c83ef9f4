"""Terminal-only work in a git repository: `crowdcode shell` records every file change on disk,
once, with who made it — and every live terminal on the workspace shares one watcher."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from shell_helpers import actions, live_entry, only_session, python_program_on_path

from crowdcode_sdk import Store
from crowdcode_sdk.serialize.sources import resolve
from crowdcode_sdk.store import SessionInfo
from tests.conftest import run_cli
from tests.recordings import disk_files, sed_rebuild

STAND_IN_AGENT = """\
import os, sys, termios, tty
from pathlib import Path

def act(prompt):
    if prompt == "build it":
        Path("feature.py").write_text("def feature():\\n    return 42\\n")
        app = Path("app.py")
        app.write_text(app.read_text().replace("x = 1", "x = 2"))
        os.unlink("old.txt")

saved = termios.tcgetattr(0)
tty.setraw(0)
out = os.fdopen(1, "w")
out.write("\\x1b[?1049h\\x1b[?2004hagent> ")  # alternate screen, bracketed paste
out.flush()
pending = b""
while True:
    chunk = os.read(0, 1024)
    if not chunk:
        break
    pending += chunk
    if b"\\r" not in pending:
        continue
    line, _, pending = pending.partition(b"\\r")
    prompt = line.replace(b"\\x1b[200~", b"").replace(b"\\x1b[201~", b"").decode()
    if prompt == "/exit":
        break
    act(prompt)
    out.write("\\r\\ndone\\r\\nagent> ")
    out.flush()
termios.tcsetattr(0, termios.TCSADRAIN, saved)
out.write("\\x1b[?2004l\\x1b[?1049l")
out.flush()
"""

RUFF = str(Path(sys.executable).with_name("ruff"))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    (root / "app.py").write_text("x = 1\n")
    (root / "old.txt").write_text("old\n")
    (root / "notes.txt").write_text("alpha\n")
    (root / "fmt.py").write_text("def f( a ):\n  return a\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    git(root, "checkout", "-q", "-b", "other")
    (root / "branch.txt").write_text("on other\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "other")
    git(root, "checkout", "-q", "main")
    return root


@pytest.fixture
def agent_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return python_program_on_path(tmp_path / "bin", "claude", STAND_IN_AGENT, monkeypatch)


def changes(info: SessionInfo) -> list[dict]:
    """The changes on disk a session recorded that no editor's save explains."""
    return [c for c in actions(info, "file_change") if "savedIn" not in c]


def saves_recorded(info: SessionInfo) -> list[tuple[str, str, str]]:
    """(file, source, saving session) of each other session's editor save the owner ``info``
    recorded, so that its own timeline holds what the save left on disk."""
    return [(c["file"], c["source"], c["savedIn"]) for c in actions(info, "file_change") if "savedIn" in c]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """The owner decides a change after git settles and the journal flushes it: wait for it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def recorded(info: SessionInfo, count: int) -> Callable[[], bool]:
    return lambda: len(changes(info)) >= count


def test_terminal_only_work_is_captured_once_with_its_source(
    shell, repo: Path, agent_on_path: Path, tmp_path: Path
) -> None:
    s = shell(cwd=repo)
    s.prompt()
    wait_for(lambda: bool(Store().sessions()), "the recorder's session")
    info = only_session()
    wait_for(
        lambda: any(e.to_wire()["type"] == "workspace_snapshot" for e in Store().events(info)),
        "the start snapshot",
    )

    s.run("sed -i 's/alpha/beta/' notes.txt")
    wait_for(recorded(info, 1), "the sed change")

    s.child.sendline("claude")
    s.child.expect_exact("agent> ")
    s.child.send("\x1b[200~build it\x1b[201~\r")  # pasted, as a terminal pastes
    s.child.expect_exact("done")
    s.child.expect_exact("agent> ")
    wait_for(recorded(info, 4), "the agent's three changes")
    s.child.send("/exit\r")
    s.prompt()
    # The registry learns that the agent ended a sampling tick later (a person is never faster).
    live_entry(lambda e: "foreground" not in e)

    s.run(f"{RUFF} format --no-cache -q fmt.py")
    wait_for(recorded(info, 5), "the formatter's change")

    s.run("git checkout -q other")
    wait_for(recorded(info, 6), "the checkout")
    s.run("echo changed >> branch.txt")
    wait_for(recorded(info, 7), "the append")
    s.run("git stash -q")  # puts back every tracked file the session changed
    wait_for(recorded(info, 12), "the stash")
    s.child.sendline("exit")
    assert s.finish() == 0

    info = only_session(ended=True)
    found = changes(info)
    summary = [(c["file"], str(c["changeType"]), str(c["source"])) for c in found]
    assert [summary[0], *sorted(summary[1:4]), *summary[4:7], *sorted(summary[7:])] == [
        ("notes.txt", "change", "external"),
        ("app.py", "change", "agent"),
        ("feature.py", "create", "agent"),
        ("old.txt", "delete", "agent"),
        ("fmt.py", "change", "external"),
        ("branch.txt", "create", "git_checkout"),
        ("branch.txt", "change", "external"),
        ("app.py", "change", "git"),
        ("branch.txt", "change", "git"),
        ("fmt.py", "change", "git"),
        ("notes.txt", "change", "git"),
        ("old.txt", "create", "git"),
    ], summary
    assert "sed -i" in found[0]["evidence"]["command"]
    assert "-alpha\n+beta" in found[0]["diff"]
    assert {c["evidence"]["agent"] for c in found[1:4]} == {"claude"}
    assert "ruff format" in found[4]["evidence"]["command"]
    assert found[4]["diff"] is not None and "+def f(a):" in found[4]["diff"]
    assert "echo changed" in found[6]["evidence"]["command"]
    # A snapshot before the agent's batch (after the start snapshot), none before the others.
    kinds = [
        w["action"]["kind"] if w["type"] == "action" else w["type"] for w in (e.to_wire() for e in Store().events(info))
    ]
    kinds = [k for k in kinds if k in ("workspace_snapshot", "file_change")]
    assert kinds[:3] == ["workspace_snapshot", "file_change", "workspace_snapshot"], kinds
    assert kinds.count("workspace_snapshot") == 2, kinds
    # The last recorded text of each file is what is on disk.
    last = {c["file"]: c for c in found}
    for name, change in last.items():
        assert change["content"]["sha256"] == hashlib.sha256((repo / name).read_bytes()).hexdigest(), name
    # So is the training text: its sed commands, run in GNU sed from the session's first snapshot,
    # leave each file as each change recorded it, and the repository's files as they are.
    [source] = resolve([info.id])
    rebuilt, _ = sed_rebuild(source, tmp_path / "sed")
    assert rebuilt == {name: data for name, data in disk_files(repo).items() if not name.startswith(".git/")}


BURST = """\
import sys, time
from pathlib import Path
for i in range(int(sys.argv[1])):
    Path(f"gen/f{i:03d}.txt").write_text(f"generated {i}\\n")
    time.sleep(0.01)
print("burst done")
"""


def owners() -> list[dict]:
    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions

    return [e for e in live_sessions(Locations.default()) if "workspaceOwner" in e]


def all_changes() -> list[dict]:
    return [c for info in Store().sessions() for c in changes(info)]


def exit_all(terminals: list) -> list[tuple[str, str, str, str]]:
    """Exit every terminal; (file, change type, source, command) of every change recorded anywhere."""
    for s in terminals:
        s.child.sendline("exit")
        assert s.finish() == 0
    wait_for(lambda: all(info.end is not None for info in Store().sessions()), "every session's end")
    return sorted(
        (c["file"], str(c["changeType"]), str(c["source"]), c["evidence"].get("command")) for c in all_changes()
    )


SED_AND_APPEND = [
    ("app.py", "change", "external", "echo more >> app.py"),
    ("notes.txt", "change", "external", "sed -i 's/alpha/beta/' notes.txt"),
]


def start_terminals(shell, repo: Path, count: int) -> list:
    """``count`` recorded terminals on ``repo``, beside the sessions already live there."""
    before = len(Store().sessions())
    terminals = []
    for _ in range(count):
        s = shell(cwd=repo)
        s.prompt()
        terminals.append(s)
    wait_for(lambda: len(Store().sessions()) == before + count, f"{count} more sessions")
    wait_for(lambda: len(owners()) == 1, "an owner")
    return terminals


def test_three_terminals_on_one_workspace_record_each_change_once(shell, repo: Path) -> None:
    terminals = start_terminals(shell, repo, 3)
    (owner,) = owners()
    terminals[1].run("sed -i 's/alpha/beta/' notes.txt")
    wait_for(lambda: len(all_changes()) >= 1, "the sed change")  # the next command, at a person's pace
    terminals[2].run("echo more >> app.py")
    wait_for(lambda: len(all_changes()) >= 2, "both changes")
    assert exit_all(terminals) == SED_AND_APPEND
    holders = [info for info in Store().sessions() if changes(info)]
    assert [info.id for info in holders] == [owner["sessionId"]]  # the owner's timeline holds them


def recorder_of(terminal) -> dict:
    """The registry entry of a terminal's recorder, the child of its wrapper that has a session
    (it registers a moment after its session's directory appears)."""
    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions

    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    def found() -> list[dict]:
        entries = live_sessions(Locations.default())
        return [e for e in entries if "terminal" in e and parent(e["pid"]) == terminal.child.pid]

    wait_for(lambda: len(found()) == 1, "the terminal's recorder in the registry")
    return found()[0]


def test_a_terminal_answers_the_owner_from_the_moment_it_is_published(shell, repo: Path) -> None:
    """A recorder publishes its terminal in the live registry while it sets itself up: in a
    working tree, starting the workspace capture imports the attribution engine, a tenth of a
    second here and seconds on a busy machine. A workspace's owner asks every terminal on it
    whether it is behind before deciding who changed a file, and decides at once past one that
    does not know the question; so a terminal answers it from the moment the registry shows it
    (a command typed while its recorder still set itself up was decided without it)."""
    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions, request

    s = shell(cwd=repo)
    answers: list[dict] = []
    deadline = time.monotonic() + 60
    while True:
        entries = live_sessions(Locations.default())
        if any("workspaceOwner" in entry for entry in entries):
            break
        assert time.monotonic() < deadline, "the terminal's recorder never became the workspace's owner"
        for entry in entries:
            if "terminal" in entry:
                answers.append(request(entry, "caught_up", timeout=5, moment=int(time.time() * 1000)))
        time.sleep(0.002)
    assert answers, "the terminal was published only with its capture"
    assert all(answer.get("ok") for answer in answers), answers
    s.prompt()
    s.child.sendline("exit")
    assert s.finish() == 0


def test_a_command_whose_recorder_is_behind_is_given_its_own_change(shell, repo: Path) -> None:
    """A terminal's recorder reads the shell's marks in a process of its own, seconds late on a busy
    machine; here it is stopped while ``rm`` runs. The owner waits for it to catch up: the removal
    is ``rm``'s, not that of the command typed just before in another terminal."""
    terminals = start_terminals(shell, repo, 3)
    (owner,) = owners()
    first, late = (t for t in terminals if recorder_of(t)["sessionId"] != owner["sessionId"])
    first.run("echo more >> app.py")
    wait_for(lambda: len(all_changes()) >= 1, "the append")
    stopped = recorder_of(late)["pid"]
    os.kill(stopped, signal.SIGSTOP)
    try:
        late.run("rm old.txt")
        time.sleep(1.0)  # the owner sees the removal meanwhile; only the stopped recorder knows `rm`
    finally:
        os.kill(stopped, signal.SIGCONT)
    wait_for(lambda: len(all_changes()) >= 2, "the removal")
    assert exit_all(terminals) == [
        ("app.py", "change", "external", "echo more >> app.py"),
        ("old.txt", "delete", "external", "rm old.txt"),
    ]


def kill_the_owner_mid_burst(worker, burst: Path, owner: dict) -> None:
    """``worker`` writes 150 files; the owner's recorder is killed with SIGKILL after the first
    20 are recorded; returns once a new owner has recorded every file."""
    worker.child.sendline(f"{sys.executable} {burst} 150")
    wait_for(lambda: len(all_changes()) >= 20, "the first changes of the burst")
    os.kill(owner["pid"], signal.SIGKILL)
    worker.child.expect_exact("burst done", timeout=60)
    worker.prompt()
    wait_for(lambda: len(owners()) == 1 and owners()[0]["sessionId"] != owner["sessionId"], "a new owner")
    wait_for(lambda: {c["file"] for c in all_changes()} >= {f"gen/f{i:03d}.txt" for i in range(150)}, "every file")


def test_owner_killed_mid_burst_loses_nothing(shell, repo: Path, tmp_path: Path) -> None:
    (repo / "gen").mkdir()
    burst = tmp_path / "burst.py"
    burst.write_text(BURST)
    terminals = start_terminals(shell, repo, 2)
    (owner,) = owners()
    kill_the_owner_mid_burst(terminals[0], burst, owner)
    for s in terminals:
        s.child.sendline("exit")
        s.finish()
    holders = {info.id: len(changes(info)) for info in Store().sessions()}
    assert holders[owner["sessionId"]] and all(holders.values()), holders  # both owners recorded part of it
    files = [c["file"] for c in all_changes()]
    assert sorted(files) == sorted(f"gen/f{i:03d}.txt" for i in range(150)), "each file exactly once"
    for info in Store().sessions():
        for c in changes(info):
            name = c["file"]
            assert c["content"]["sha256"] == hashlib.sha256((repo / name).read_bytes()).hexdigest(), name


def test_a_rebase_in_a_recorded_terminal_is_git(shell, repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    (repo / "app.py").write_text("x = 10\n")
    git(repo, "commit", "-qam", "main moves on")
    git(repo, "checkout", "-q", "other")
    s = shell(cwd=repo)
    s.prompt()
    wait_for(lambda: bool(Store().sessions()), "the recorder's session")
    info = only_session()
    wait_for(lambda: any(e.to_wire()["type"] == "workspace_snapshot" for e in Store().events(info)), "the scan")
    s.run("git rebase -q main")
    wait_for(recorded(info, 1), "the rebase")
    s.child.sendline("exit")
    assert s.finish() == 0
    (change,) = changes(only_session(ended=True))
    assert (change["file"], change["changeType"], change["source"]) == ("app.py", "change", "git_checkout")
    assert "-x = 1\n+x = 10" in change["diff"]


def test_an_editor_that_does_not_own_the_workspace_records_its_own_save(shell, repo: Path) -> None:
    """A recorded terminal owns the workspace; an editor joins the election later and waits. The
    terminal records the others' changes, once; for a file the editor holds it asks the editor,
    which records its own save as the user's ``file_save`` — no ``file_change`` anywhere. When the
    terminal exits, the editor takes over: it records the next change, with an exact diff, and
    nothing of the past again."""
    from crowdcode_sdk import Document, Session
    from crowdcode_sdk.attribution.ownership import WorkspaceCapture

    s = shell(cwd=repo)
    s.prompt()
    wait_for(lambda: len(owners()) == 1, "the terminal's ownership")
    with Session(adapter="test-editor", editor="test", workspace=repo) as editor:
        capture = WorkspaceCapture(editor, repo, editor=True)
        assert not capture.owner and not capture.engine.watching
        notes = repo / "notes.txt"
        capture.engine.open_document(notes, "alpha\n")
        s.run("sed -i 's/alpha/beta/' notes.txt")  # a file the editor holds, unsaved edits none
        wait_for(lambda: len(all_changes()) >= 1, "the sed change")
        s.run("echo more >> app.py")
        wait_for(lambda: len(all_changes()) >= 2, "the append")
        capture.engine.reload_document(notes, "beta\n")  # autoread
        capture.engine.edit(notes, Document("beta\n").replace(0, 0, "# "))
        capture.engine.save_document(notes)
        notes.write_text("# beta\n")
        wait_for(lambda: bool(actions(Store().find(editor.id), "file_save")), "the editor's save")
        s.child.sendline("exit")
        assert s.finish() == 0
        wait_for(lambda: capture.owner, "the editor's ownership")
        subprocess.run([sys.executable, "-c", "open('app.py', 'a').write('last\\n')"], cwd=repo, check=True)
        wait_for(lambda: len(all_changes()) >= 3, "the change after the hand-over")
        capture.close()
    (terminal,) = [info for info in Store().sessions() if info.id != editor.id]
    found = sorted(
        (c["file"], str(c["changeType"]), str(c["source"]), c["evidence"]["command"]) for c in changes(terminal)
    )
    assert found == SED_AND_APPEND
    assert saves_recorded(terminal) == [("notes.txt", "user", editor.id)]
    (last,) = changes(Store().find(editor.id))
    assert (last["file"], last["changeType"]) == ("app.py", "change")
    assert last["diff"].endswith(" x = 1\n more\n+last\n")
    (save,) = actions(Store().find(editor.id), "file_save")
    assert save["content"]["sha256"] == hashlib.sha256(notes.read_bytes()).hexdigest()


def test_three_terminals_and_a_neovim_record_each_change_once(shell, repo: Path) -> None:
    """Neovim joins the terminals' election: the first terminal owns the workspace and records
    every other program's change once, in its timeline; a save typed in Neovim is Neovim's
    ``file_save``, in Neovim's timeline, and no change."""
    from tests.nvim_driver import editor, settle, wait_recording

    terminals = start_terminals(shell, repo, 3)
    (owner,) = owners()
    with editor(repo, files=[str(repo / "notes.txt")]) as nvim:
        wait_recording(nvim)
        wait_for(lambda: len(Store().sessions()) == 4, "the Neovim session")
        nvim_session = next(i for i in Store().sessions() if i.metadata.get("adapter") != "shell")
        wait_for(
            lambda: any(e.to_wire().get("action", {}).get("kind") == "file_open" for e in Store().events(nvim_session)),
            "Neovim's open of notes.txt",
        )
        terminals[0].run("sed -i 's/alpha/beta/' notes.txt")  # open and visible in Neovim
        wait_for(lambda: len(all_changes()) >= 1, "the sed change")
        terminals[1].run("echo more >> app.py")  # not open
        wait_for(lambda: len(all_changes()) >= 2, "the append")
        terminals[2].run("rm old.txt")
        wait_for(lambda: len(all_changes()) >= 3, "the removal")
        nvim.command("checktime")  # Neovim reloads the sed's text
        nvim.input("ggItyped <Esc>")
        settle(nvim)
        nvim.command("write")
        wait_for(lambda: bool(actions(nvim_session, "file_save")), "Neovim's save")
    assert exit_all(terminals) == [*SED_AND_APPEND, ("old.txt", "delete", "external", "rm old.txt")]
    assert [info.id for info in Store().sessions() if changes(info)] == [owner["sessionId"]]
    assert saves_recorded(Store().find(owner["sessionId"])) == [("notes.txt", "user", nvim_session.id)]
    (save,) = actions(Store().find(nvim_session.id), "file_save")
    assert (repo / "notes.txt").read_text() == "typed beta\n"
    assert save["content"]["sha256"] == hashlib.sha256((repo / "notes.txt").read_bytes()).hexdigest()


def test_terminals_a_neovim_and_an_lsp_editor_record_each_change_once(
    shell, repo: Path, agent_on_path: Path, home: Path, tmp_path: Path
) -> None:
    """Three recorded terminals, a real Neovim with the plugin and the LSP recorder (as VS Code
    runs it) on one workspace: each program's change is recorded once, by the owner, with its
    source; each editor's save is that editor's ``file_save``, in its own timeline."""
    import asyncio

    from lsprotocol import types

    from tests.lsp.lsp_harness import change, shim, uri
    from tests.nvim_driver import editor, settle, wait_recording

    terminals = start_terminals(shell, repo, 3)
    (owner,) = owners()

    def session_of(adapter: str) -> SessionInfo:
        return next(i for i in Store().sessions() if i.metadata.get("adapter") == adapter)

    def opened(adapter: str) -> bool:
        return any(s.metadata.get("adapter") == adapter and actions(s, "file_open") for s in Store().sessions())

    fmt = repo / "fmt.py"
    save_now, done = threading.Event(), threading.Event()

    async def lsp_editor() -> None:
        """VS Code's side, on its own thread (its client runs an event loop; pynvim runs another)."""
        loop = asyncio.get_running_loop()
        async with shim(home, repo) as client:
            item = types.TextDocumentItem(uri(fmt), "python", 1, fmt.read_text())
            client.text_document_did_open(types.DidOpenTextDocumentParams(item))
            await client.roundtrip()
            await loop.run_in_executor(None, save_now.wait)
            # Type, then save (willSave, the write, didSave).
            document = types.VersionedTextDocumentIdentifier(version=2, uri=uri(fmt))
            client.text_document_did_change(types.DidChangeTextDocumentParams(document, [change((0, 0), (0, 0), "# ")]))
            await client.roundtrip()
            identifier = types.TextDocumentIdentifier(uri(fmt))
            reason = types.TextDocumentSaveReason.Manual
            client.text_document_will_save(types.WillSaveTextDocumentParams(identifier, reason))
            fmt.write_text("# def f( a ):\n  return a\n")
            client.text_document_did_save(types.DidSaveTextDocumentParams(identifier))
            await client.roundtrip()
            await loop.run_in_executor(None, done.wait)

    vscode = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(lsp_editor(), 120)))
    vscode.start()
    try:
        with editor(repo, files=[str(repo / "notes.txt")]) as nvim:
            wait_recording(nvim)
            wait_for(lambda: opened("nvim") and opened("lsp"), "both editors' opens")
            terminals[0].run("sed -i 's/alpha/beta/' notes.txt")  # open and visible in Neovim
            wait_for(lambda: len(all_changes()) >= 1, "the sed change")
            agent = terminals[1]
            agent.child.sendline("claude")
            agent.child.expect_exact("agent> ")
            agent.child.send("\x1b[200~build it\x1b[201~\r")
            agent.child.expect_exact("done")
            wait_for(lambda: len(all_changes()) >= 4, "the agent's three changes")
            agent.child.send("/exit\r")
            agent.prompt()
            wait_for(lambda: all("foreground" not in e for e in owners_and_others()), "the agent's end")
            terminals[2].run("git checkout -q other")
            wait_for(lambda: len(all_changes()) >= 5, "the checkout")
            # Neovim: reload the sed's text, type, save.
            nvim.command("checktime")
            nvim.input("ggItyped <Esc>")
            settle(nvim)
            nvim.command("write")
            save_now.set()
            wait_for(lambda: bool(actions(session_of("nvim"), "file_save")), "Neovim's save")
            wait_for(lambda: bool(actions(session_of("lsp"), "file_save")), "the LSP editor's save")
    finally:
        save_now.set()
        done.set()
        vscode.join(timeout=30)
    assert not vscode.is_alive()
    found = exit_all(terminals)
    assert [change[:3] for change in found] == [
        ("app.py", "change", "agent"),
        ("branch.txt", "create", "git_checkout"),
        ("feature.py", "create", "agent"),
        ("notes.txt", "change", "external"),
        ("old.txt", "delete", "agent"),
    ]
    assert found[3][3] == "sed -i 's/alpha/beta/' notes.txt"
    assert {c["evidence"].get("agent") for c in all_changes() if c["source"] == "agent"} == {"claude"}
    assert [info.id for info in Store().sessions() if changes(info)] == [owner["sessionId"]]
    assert sorted(saves_recorded(Store().find(owner["sessionId"]))) == [
        ("fmt.py", "user", session_of("lsp").id),
        ("notes.txt", "user", session_of("nvim").id),
    ]
    for adapter, name, text in (
        ("nvim", "notes.txt", "typed beta\n"),
        ("lsp", "fmt.py", "# def f( a ):\n  return a\n"),
    ):
        (save,) = actions(Store().find(session_of(adapter).id), "file_save")
        assert (repo / name).read_text() == text
        assert save["content"]["sha256"] == hashlib.sha256(text.encode()).hexdigest(), adapter
    # Neovim did not own the workspace: its export still holds the workspace's changes, once.
    nvim_id = session_of("nvim").id
    exported = [orjson.loads(line) for line in run_cli("export", nvim_id).stdout.splitlines()]
    assert [e["sequence"] for e in exported] == list(range(1, len(exported) + 1))
    merged = [e["action"] for e in exported if e["type"] == "action" and e["action"]["kind"] == "file_change"]
    # The LSP editor's save is a change on the disk Neovim saw; Neovim's own save is its file_save.
    assert sorted((c["file"], c["changeType"], c["source"]) for c in merged) == sorted(
        [change[:3] for change in found] + [("fmt.py", "change", "user")]
    )
    assert [c.get("savedIn") for c in merged if "savedIn" in c] == [session_of("lsp").id]
    (save,) = [e["action"] for e in exported if e["type"] == "action" and e["action"]["kind"] == "file_save"]
    edits = [e for e in exported if e["type"] == "action" and e["action"]["kind"] == "edit"]
    (typed,) = [e for e in edits if e["action"]["diff"]["text"] == "typed "]
    assert save["lastEditSequence"] >= typed["sequence"]  # numbered afresh, still pointing at its edit
    out = tmp_path / "serialized"
    result = run_cli("serialize", nvim_id, "--out", str(out), "--no-progress", "--verified-only")
    assert "0 do not verify" in result.stderr, result.stderr


def owners_and_others() -> list[dict]:
    from crowdcode_sdk import Locations
    from crowdcode_sdk.registry import live_sessions

    return live_sessions(Locations.default())


def test_an_editor_that_owns_the_workspace_killed_mid_burst_loses_nothing(shell, repo: Path, tmp_path: Path) -> None:
    """Neovim starts first and owns the workspace; its recorder is killed with SIGKILL while a
    terminal's program writes 150 files: a waiting terminal takes over and records the rest, each
    file exactly once."""
    from tests.nvim_driver import editor, wait_recording

    (repo / "gen").mkdir()
    burst = tmp_path / "burst.py"
    burst.write_text(BURST)
    with editor(repo, files=[str(repo / "notes.txt")]) as nvim:
        wait_recording(nvim)
        wait_for(lambda: len(owners()) == 1, "Neovim's ownership")
        (owner,) = owners()
        assert owner["adapter"] == "nvim"
        terminals = start_terminals(shell, repo, 2)
        kill_the_owner_mid_burst(terminals[0], burst, owner)
        assert owners()[0]["adapter"] == "shell"
        for s in terminals:
            s.child.sendline("exit")
            assert s.finish() == 0
    holders = {info.id: len(changes(info)) for info in Store().sessions() if changes(info)}
    assert owner["sessionId"] in holders and len(holders) == 2, holders  # both owners recorded part of it
    files = [c["file"] for c in all_changes()]
    assert sorted(files) == sorted(f"gen/f{i:03d}.txt" for i in range(150)), "each file exactly once"
    for c in all_changes():
        assert c["content"]["sha256"] == hashlib.sha256((repo / c["file"]).read_bytes()).hexdigest(), c["file"]
