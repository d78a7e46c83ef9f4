"""The attribution scenario suite: labelled ground truth, driven for real.

Files are written by real processes (an "agent" executable, ``sed -i``, git), git operations are
real git, and registry evidence is published by a real shell session. Every scenario asserts its
verdicts exactly and adds them to the suite's tally; the last test reports precision and recall
per source (docs/attribution.md quotes it).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from crowdcode_sdk.attribution import Attribution, workspace_root
from crowdcode_sdk.attribution.diffs import apply_diff
from crowdcode_sdk.ignore import IgnoreRules
from crowdcode_sdk.positions import Document

from .attribution_support import (
    Bench,
    ShellFacts,
    Tally,
    git,
    init_repo,
    make_program,
    run_writer,
    start_bench,
)

TALLY = Tally()


@pytest.fixture
def ws(home: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def bench_factory(ws: Path) -> Iterator:
    benches: list[Bench] = []

    def make(root: Path | None = None, **kwargs) -> Bench:
        bench = start_bench(root or ws, **kwargs)
        benches.append(bench)
        return bench

    yield make
    for bench in benches:
        bench.close()


def check(bench: Bench, expected: list[tuple[str, str]], *, distinct: bool = False) -> list[dict]:
    """Assert the verdicts equal the labels (as a multiset, or as a set with ``distinct`` where
    git may write a file once or twice on its way) and tally them."""
    actual = [(file, str(source)) for file, source in bench.verdicts()]
    if distinct:
        expected, actual = sorted(set(expected)), sorted(set(actual))
    TALLY.add(expected, actual)
    missing, extra = Counter(expected) - Counter(actual), Counter(actual) - Counter(expected)
    assert not missing and not extra, (
        f"missing {sorted(missing.elements())[:20]}, unexpected {sorted(extra.elements())[:20]}"
    )
    return bench.actions("file_save", "file_change")


def diff_of(bench: Bench, file: str) -> list[str | None]:
    return [a.get("diff") for a in bench.actions("file_change") if a["file"] == file]


# --- editor saves --------------------------------------------------------------------------------


def test_user_types_and_saves(ws: Path, bench_factory) -> None:
    path = ws / "a.py"
    path.write_text("def f():\n    return 1\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "# a comment\n")
    bench.editor.save(path)
    actions = check(bench, [("a.py", "user")])
    edits = bench.actions("edit")
    assert actions[0]["lastEditSequence"] == edits[-1]["sequence"]


def test_save_then_close_at_once(ws: Path, bench_factory) -> None:
    """`:wq`: the close comes right after the save; the journal has the save first."""
    path = ws / "wq.txt"
    path.write_text("x\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "y\n")
    bench.editor.save(path)
    bench.att.close_document(path)
    check(bench, [("wq.txt", "user")])
    kinds = [a["kind"] for a in bench.actions("file_save", "file_close")]
    assert kinds == ["file_save", "file_close"]


def _written_without_hint(path: Path, bench_factory):  # type: ignore[no-untyped-def]
    """``path`` opened in the editor, a line typed, and the buffer written to disk by the editor
    without its save hint. Returns the bench and the path."""
    path.write_text("hello\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "world\n")
    path.write_text(bench.editor.docs[path].text)  # written, no save_document
    return bench, path


def test_save_without_hint_and_typing_after_the_save(ws: Path, bench_factory) -> None:
    """The editor's hint never comes, and the user types on before the watcher looks: the prefix
    of the edits that reached the disk still explains the save."""
    bench, path = _written_without_hint(ws / "b.txt", bench_factory)
    bench.editor.type(path, "more")
    check(bench, [("b.txt", "user")])
    save = bench.actions("file_save")[0]
    typed = [e["sequence"] for e in bench.actions("edit")]
    assert save["lastEditSequence"] == typed[5]


def test_a_save_stamped_by_the_kernel_s_coarse_clock_is_still_the_users(ws: Path, bench_factory) -> None:
    """The kernel stamps a write's modification time from its tick clock, up to a tick (4 ms at
    250 Hz) behind the time the write happened: the last edit, received a moment before the
    write, can look later than it. Such an edit still wrote the file (no hint comes)."""
    import os

    bench, path = _written_without_hint(ws / "coarse.txt", bench_factory)
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime, mtime - 4_000_000))  # as a coarse clock stamps it
    check(bench, [("coarse.txt", "user")])


def test_burst_of_5000_keystrokes_then_save(ws: Path, bench_factory) -> None:
    path = ws / "burst.py"
    path.write_text("start\n")
    bench = bench_factory()
    bench.editor.open(path)
    for i in range(1000):
        bench.editor.type(path, "abcd" if i % 7 else "ab\n")
        bench.editor.backspace(path, 1)
    bench.editor.type(path, "x" * (5000 - len(bench.actions("edit"))))
    assert len(bench.actions("edit")) >= 5000
    bench.editor.save(path)
    check(bench, [("burst.py", "user")])


def test_format_on_save_edits_from_the_adapter(ws: Path, bench_factory) -> None:
    path = ws / "fmt.py"
    path.write_text("x=1\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "y=2\n")
    from crowdcode_sdk.schema import EditReason, Source

    doc = bench.editor.docs[path]
    text = doc.text
    bench.editor.replace(path, 0, len(text), text.replace("=", " = "), source=Source.EXTERNAL, reason=EditReason.FORMAT)
    bench.editor.save(path)
    check(bench, [("fmt.py", "user")])
    formatted = [e for e in bench.actions("edit") if e.get("reason") == "format"]
    assert formatted and formatted[0]["source"] == "external"
    assert path.read_text() == "x = 1\ny = 2\n"


def test_crlf_file(ws: Path, bench_factory) -> None:
    path = ws / "win.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "three\r\n")
    bench.editor.save(path)
    agent_text = "one\r\nTWO\r\nthree\r\nfour\r\n"
    run_writer("write", str(path), agent_text)
    check(bench, [("win.txt", "user"), ("win.txt", "agent")])
    [diff] = diff_of(bench, "win.txt")
    assert apply_diff("one\r\ntwo\r\nthree\r\n", diff) == agent_text


def test_non_bmp_text(ws: Path, bench_factory) -> None:
    path = ws / "emoji.md"
    path.write_text("😀 smile 𝄞\n", encoding="utf-8")
    bench = bench_factory()
    doc = bench.editor.open(path)
    bench.editor.replace(path, 2, 7, "grin")  # code points; the change is in UTF-16 units
    edit = bench.actions("edit")[0]
    assert edit["diff"] == {"rangeOffset": 3, "rangeLength": 5, "text": "grin"}
    bench.editor.type(path, "🎉")
    bench.editor.save(path)
    check(bench, [("emoji.md", "user")])
    assert path.read_text(encoding="utf-8") == doc.text == "😀 grin 𝄞\n🎉"


def test_workspace_through_a_symbolic_link(tmp_path: Path, home: Path, bench_factory) -> None:
    """The workspace is given through a symlink and the editor reports resolved paths."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    (real / "a.txt").write_text("a\n")
    bench = bench_factory(tmp_path / "link")
    bench.editor.open(real / "a.txt")
    bench.editor.type(real / "a.txt", "b\n")
    bench.editor.save(real / "a.txt")
    bench.settle()
    run_writer("write", str(real / "a.txt"), "agent\n")
    check(bench, [("a.txt", "user"), ("a.txt", "agent")])


def test_change_during_the_initial_scan_is_not_lost(ws: Path, bench_factory) -> None:
    """With ``wait=False`` the scan runs in the background; a file changed before the scan read
    it still gets its ``file_change`` (without a diff if its old text was never seen)."""
    for i in range(1500):
        (ws / f"z{i:04d}.txt").write_text(f"{i}\n")
    bench = bench_factory(wait=False)
    run_writer("write", str(ws / "z1499.txt"), "changed\n")
    changes = check(bench, [("z1499.txt", "agent")])
    assert changes[0]["changeType"] == "change"


# --- agents ----------------------------------------------------------------------------------------


def test_agent_process_writes_an_unopened_file(ws: Path, tmp_path: Path, bench_factory) -> None:
    (ws / "lib.py").write_text("a = 1\n")
    bench = bench_factory()
    shell = ShellFacts(ws)
    claude = make_program(tmp_path / "bin", "claude")
    shell.run([str(claude), "write", str(ws / "lib.py"), "a = 2\n"], "claude -p 'bump a'", agent="claude")
    actions = check(bench, [("lib.py", "agent")])
    assert actions[0]["evidence"]["agent"] == "claude"
    assert actions[0]["diff"].endswith("-a = 1\n+a = 2\n")
    kinds = [e.to_wire()["type"] for e in bench.events]
    assert kinds.count("workspace_snapshot") == 2  # at start, and before the agent batch
    shell.close()


def test_unexplained_change_without_evidence_is_agent_and_create_delete_unknown(ws: Path, bench_factory) -> None:
    (ws / "old.txt").write_text("old\n")
    (ws / "gone.txt").write_text("bye\n")
    (ws / "mv.txt").write_text("moving\n")
    bench = bench_factory()
    run_writer(
        "write",
        str(ws / "old.txt"),
        "new\n",
        "write",
        str(ws / "fresh.txt"),
        "fresh\n",
        "delete",
        str(ws / "gone.txt"),
        "rename",
        str(ws / "mv.txt"),
        str(ws / "moved.txt"),
    )
    check(
        bench,
        [
            ("old.txt", "agent"),
            ("fresh.txt", "unknown"),
            ("gone.txt", "unknown"),
            ("mv.txt", "unknown"),
            ("moved.txt", "unknown"),
        ],
    )
    changes = {a["file"]: a for a in bench.actions("file_change")}
    assert changes["fresh.txt"]["changeType"] == "create"
    assert changes["gone.txt"]["changeType"] == "delete"
    assert changes["mv.txt"]["changeType"] == "delete" and changes["moved.txt"]["changeType"] == "create"


def test_agent_writes_a_file_with_pending_user_edits(ws: Path, tmp_path: Path, bench_factory) -> None:
    path = ws / "shared.py"
    path.write_text("def a():\n    pass\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "# user note\n", at=0)  # unsaved
    codex = make_program(tmp_path / "bin", "codex")
    shell = ShellFacts(ws)
    agent_text = "def a():\n    pass\n\n\ndef b():\n    return 2\n"
    shell.run([str(codex), "write", str(path), agent_text], "codex exec 'add b'", agent="codex")
    bench.settle()
    [diff] = diff_of(bench, "shared.py")
    assert "user note" not in diff  # the agent-only diff: it neither adds nor reverts user text
    assert apply_diff("def a():\n    pass\n", diff) == agent_text
    bench.editor.type(path, "x = 1\n")
    bench.editor.save(path)  # the editor overwrites with its buffer: the user's save
    actions = check(bench, [("shared.py", "agent"), ("shared.py", "user")])
    assert [a["kind"] for a in actions] == ["file_change", "file_save"]
    shell.close()


def test_save_of_a_buffer_an_agent_also_changed(ws: Path, tmp_path: Path, bench_factory) -> None:
    from crowdcode_sdk.schema import Source

    path = ws / "both.py"
    path.write_text("v = 1\n")
    bench = bench_factory()
    bench.editor.open(path)
    # An agent changes the file on disk; the editor reloads it; the user edits and saves.
    run_writer("write", str(path), "v = 1\nw = 2\n")
    bench.settle()
    bench.editor.reload(path)
    bench.editor.type(path, "u = 3\n")
    # An in-editor agent edits the buffer too; then the user saves everything.
    bench.editor.replace(path, 0, 1, "value", source=Source.AGENT, evidence=None)
    bench.editor.save(path)
    check(bench, [("both.py", "agent"), ("both.py", "user")])
    sources = [e["source"] for e in bench.actions("edit") if e.get("reason") != "reload"]
    assert sources == ["user"] * 6 + ["agent"]
    assert path.read_text() == "value = 1\nw = 2\nu = 3\n"


def test_editor_reloads_before_the_watcher_decides(ws: Path, bench_factory) -> None:
    """autoread: the editor reloads the agent's text at once; the buffer then equals the disk,
    which must not pass for a save."""
    path = ws / "auto.py"
    path.write_text("x = 1\n")
    bench = bench_factory()
    bench.editor.open(path)
    run_writer("write", str(path), "x = 2\n")
    bench.editor.reload(path)
    check(bench, [("auto.py", "agent")])


def test_late_edits_and_hint_after_the_write(ws: Path, bench_factory) -> None:
    """The adapter's last keystroke and its save hint reach the engine after the watcher saw the
    write (an RPC queue behind the disk): the change waits for them and is the user's save."""
    import time

    path = ws / "late.py"
    path.write_text("a\n")
    bench = bench_factory()
    doc = bench.editor.open(path)
    bench.editor.type(path, "b")
    final = doc.text + "c"
    path.write_text(final)  # the editor wrote "…bc" but told us only about "b" so far
    time.sleep(0.25)
    bench.editor.type(path, "c")
    bench.att.save_document(path)
    check(bench, [("late.py", "user")])


def test_save_then_reload_before_the_watcher_decides(ws: Path, bench_factory) -> None:
    """`:w` then `:e!` at once: the editor reads back what it wrote before the watcher looked; the
    write is still the user's save."""
    path = ws / "back.txt"
    path.write_text("one\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "two\n")
    bench.editor.save(path)
    bench.editor.reload(path)
    check(bench, [("back.txt", "user")])


def test_open_reported_after_the_editor_wrote_the_new_file(ws: Path, bench_factory) -> None:
    """`:e new.txt`, typing, `:w` faster than the adapter's events reach the engine (a busy RPC
    queue): the file is on disk before its open. The editor is still the one that wrote it."""
    import time

    path = ws / "new.txt"
    bench = bench_factory()
    path.write_text("typed\n")  # the editor's write
    time.sleep(0.25)  # past the watcher's window: the adapter's events are late
    doc = Document("")
    bench.att.open_document(path, doc.text)
    bench.att.edit(path, doc.replace(0, 0, "typed\n"))
    bench.att.save_document(path)
    check(bench, [("new.txt", "user")])


def test_journal_order_change_after_the_edits_it_follows(ws: Path, bench_factory) -> None:
    path = ws / "order.txt"
    path.write_text("base\n")
    bench = bench_factory()
    bench.editor.open(path)
    bench.editor.type(path, "typed\n")
    run_writer("write", str(path), "base\nagent\n")
    bench.settle()
    kinds = [a["kind"] for a in bench.actions("edit", "file_change")]
    assert kinds == ["edit"] * 6 + ["file_change"]
    check(bench, [("order.txt", "agent")])


# --- terminals -------------------------------------------------------------------------------------


def test_sed_in_a_recorded_terminal_is_external(ws: Path, bench_factory) -> None:
    (ws / "conf.ini").write_text("debug = false\n")
    bench = bench_factory()
    shell = ShellFacts(ws)
    shell.run(["sed", "-i", "s/false/true/", "conf.ini"], "sed -i s/false/true/ conf.ini")
    actions = check(bench, [("conf.ini", "external")])
    assert actions[0]["evidence"]["command"] == "sed -i s/false/true/ conf.ini"
    shell.close()


def test_code_generator_and_agent_creating_files_in_recorded_terminals(ws: Path, tmp_path: Path, bench_factory) -> None:
    """A create is ``unknown`` only without evidence: a generator run in a recorded terminal is
    external, an agent CLI's new files are the agent's."""
    (ws / "gen.py").write_text(
        "from pathlib import Path\nfor i in range(3):\n    Path(f'gen_{i}.py').write_text(f'# generated {i}\\n')\n"
    )
    bench = bench_factory()
    shell = ShellFacts(ws)
    shell.run([sys.executable, "gen.py"], "python3 gen.py")
    bench.settle()
    gemini = make_program(tmp_path / "bin", "gemini")
    shell.run([str(gemini), "write", str(ws / "feature.py"), "def feature():\n    ...\n"], "gemini", agent="gemini")
    check(
        bench, [("gen_0.py", "external"), ("gen_1.py", "external"), ("gen_2.py", "external"), ("feature.py", "agent")]
    )
    shell.close()


def test_vim_in_a_recorded_terminal_is_the_user(ws: Path, bench_factory) -> None:
    """Terminal-only work: the person edits with a terminal editor (here its write is a process
    run as `vim`) in a recorded shell with no editor adapter; the shell session's own engine
    watches the git root of its start directory."""
    init_repo(ws, {"notes.md": "# notes\n", "sub/x.txt": "x\n"})
    shell = ShellFacts(ws / "sub", workspace=workspace_root(ws / "sub"))
    events: list = []
    shell.session.add_listener(events.append)
    att = Attribution.for_terminal(shell.session, ws / "sub")
    bench = Bench(ws, shell.session, att, events)
    vim = make_program(ws.parent / "bin", "vim")
    shell.run([str(vim), "write", str(ws / "notes.md"), "# notes\n- one\n"], "vim ../notes.md")
    check(bench, [("notes.md", "user")])
    att.close()
    shell.close()


# --- git -------------------------------------------------------------------------------------------

MANY = 300


def _branchy_repo(root: Path) -> None:
    init_repo(root, {f"src/m{i:03d}.py": f"value = {i}\n" for i in range(MANY)} | {"README.md": "readme\n"})
    git(root, "checkout", "-q", "-b", "feature")
    for i in range(MANY):
        (root / f"src/m{i:03d}.py").write_text(f"value = {i * 2}\n")
    (root / "src/m000.py").unlink()
    (root / "src/added.py").write_text("added\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature")
    git(root, "checkout", "-q", "main")


def _files_changed_by_feature(label: str) -> list[tuple[str, str]]:
    return [(f"src/m{i:03d}.py", label) for i in range(MANY)] + [("src/added.py", label)]


def test_git_checkout_and_switch_hundreds_of_files(ws: Path, bench_factory) -> None:
    _branchy_repo(ws)
    bench = bench_factory()
    git(ws, "checkout", "-q", "feature")
    bench.settle()
    git(ws, "switch", "-q", "main")
    check(bench, _files_changed_by_feature("git_checkout") * 2)


def test_git_restore_stash_and_rebase(ws: Path, bench_factory) -> None:
    _branchy_repo(ws)
    bench = bench_factory()
    expected: list[tuple[str, str]] = []
    # An unrecorded process changes 200 files (agent, no evidence); `git restore` puts them back.
    ops = []
    for i in range(200):
        ops += ["write", str(ws / f"src/m{i:03d}.py"), f"changed = {i}\n"]
    run_writer(*ops)
    bench.settle()
    expected += [(f"src/m{i:03d}.py", "agent") for i in range(200)]
    git(ws, "restore", "src")
    bench.settle()
    expected += [(f"src/m{i:03d}.py", "git") for i in range(200)]
    # Stash and pop.
    run_writer("write", str(ws / "README.md"), "local change\n")
    bench.settle()
    expected.append(("README.md", "agent"))
    git(ws, "stash", "-q")
    bench.settle()
    git(ws, "stash", "pop", "-q")
    bench.settle()
    expected += [("README.md", "git"), ("README.md", "git")]
    git(ws, "commit", "-qam", "readme")
    git(ws, "checkout", "-q", "feature")
    expected += [*_files_changed_by_feature("git_checkout"), ("README.md", "git_checkout")]
    check(bench, expected)


def test_git_rebase(ws: Path, bench_factory) -> None:
    """A rebase checks out the new base, then replays commits: files may be written more than
    once on the way, and every write is git's, with HEAD moving."""
    _branchy_repo(ws)
    (ws / "README.md").write_text("main moved on\n")
    for i in range(100):
        (ws / f"lib/l{i:03d}.py").parent.mkdir(exist_ok=True)
        (ws / f"lib/l{i:03d}.py").write_text(f"lib {i}\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "main work")
    git(ws, "checkout", "-q", "feature")
    bench = bench_factory()
    git(ws, "rebase", "-q", "main")
    labelled = {("README.md", "git_checkout")} | {(f"lib/l{i:03d}.py", "git_checkout") for i in range(100)}
    # Files the feature commit touches are rewritten to their own content: seen or coalesced.
    transient = {(file, "git_checkout") for file, _ in _files_changed_by_feature("git_checkout")}
    actual = {(file, str(source)) for file, source in bench.verdicts()}
    TALLY.add(sorted(labelled), sorted(actual - transient))
    assert labelled <= actual and actual <= labelled | transient, sorted(actual ^ labelled)[:10]


def test_packed_refs(ws: Path, bench_factory) -> None:
    init_repo(ws, {"f.txt": "one\n"})
    (ws / "f.txt").write_text("two\n")
    git(ws, "commit", "-qam", "two")
    git(ws, "branch", "old", "HEAD~1")
    git(ws, "pack-refs", "--all")
    assert not (ws / ".git/refs/heads/main").exists()
    bench = bench_factory()
    git(ws, "checkout", "-q", "old")  # the branch exists only in packed-refs
    bench.settle()
    git(ws, "reset", "-q", "--hard", "main")  # HEAD's symbolic ref stays, its commit moves
    check(bench, [("f.txt", "git_checkout"), ("f.txt", "git_checkout")])


def test_a_worktree_with_a_dot_git_file(ws: Path, tmp_path: Path, bench_factory) -> None:
    init_repo(ws, {"w.txt": "main\n"})
    git(ws, "branch", "other")
    worktree = tmp_path / "wt"
    git(ws, "worktree", "add", "-q", str(worktree), "other")
    (worktree / "w.txt").write_text("other\n")
    git(worktree, "commit", "-qam", "other")
    git(worktree, "checkout", "-q", "-b", "third", "main")
    assert (worktree / ".git").is_file()
    bench = bench_factory(worktree)
    git(worktree, "checkout", "-q", "other")
    bench.settle()
    (worktree / "w.txt").write_text("scratch\n")
    bench.settle()
    git(worktree, "restore", "w.txt")
    bench.settle()
    run_writer("write", str(worktree / "w.txt"), "agent\n")
    check(bench, [("w.txt", "git_checkout"), ("w.txt", "agent"), ("w.txt", "git"), ("w.txt", "agent")])


def test_submodule_and_nested_repository(ws: Path, tmp_path: Path, bench_factory) -> None:
    """A checkout inside a submodule (git dir in the superproject's .git/modules) or a nested
    clone is git's, though the enclosing repository's index and HEAD never move."""
    origin = tmp_path / "lib-origin"
    init_repo(origin, {f"l{i}.py": f"lib {i}\n" for i in range(20)})
    git(origin, "checkout", "-q", "-b", "v2")
    for i in range(20):
        (origin / f"l{i}.py").write_text(f"lib v2 {i}\n")
    git(origin, "commit", "-qam", "v2")
    git(origin, "checkout", "-q", "main")
    init_repo(ws, {"app.py": "import lib\n"})
    git(ws, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(origin), "lib")
    git(ws, "commit", "-qm", "lib")
    git(ws, "clone", "-q", str(origin), "vendor/lib2")
    assert (ws / "lib/.git").is_file() and (ws / "vendor/lib2/.git").is_dir()
    bench = bench_factory()
    git(ws / "lib", "checkout", "-q", "v2")
    bench.settle()
    git(ws / "vendor/lib2", "checkout", "-q", "v2")
    check(
        bench,
        [(f"lib/l{i}.py", "git_checkout") for i in range(20)]
        + [(f"vendor/lib2/l{i}.py", "git_checkout") for i in range(20)],
    )


def test_background_fetch_does_not_turn_a_save_into_git(ws: Path, bench_factory) -> None:
    init_repo(ws, {"s.txt": "s\n"})
    bench = bench_factory()
    path = ws / "s.txt"
    bench.editor.open(path)
    bench.editor.type(path, "t\n")
    git(ws, "update-ref", "refs/remotes/origin/main", "HEAD")  # what a fetch writes
    bench.editor.save(path)
    check(bench, [("s.txt", "user")])


# --- privacy ---------------------------------------------------------------------------------------


def test_ignored_and_secret_files_are_never_read(ws: Path, bench_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    init_repo(ws, {"keep.txt": "k\n", "sub/.gitignore": "private/\n", ".gitignore": "*.log\n"})
    (ws / "sub/private").mkdir(parents=True)
    secret = ws / "sub/private/data.txt"
    secret.write_text("top secret\n")
    (ws / ".env").write_text("TOKEN=abc\n")
    (ws / ".crowdcodeignore").write_text("drafts/\n")
    (ws / "drafts").mkdir()
    (ws / "drafts/d.txt").write_text("draft\n")
    read: list[Path] = []
    original = IgnoreRules.read

    def spy(self: IgnoreRules, path: Path):
        read.append(path)
        return original(self, path)

    monkeypatch.setattr(IgnoreRules, "read", spy)
    secret.chmod(0)
    bench = bench_factory()
    run_writer(
        "write",
        str(secret),
        "changed\n",
        "write",
        str(ws / ".env"),
        "TOKEN=xyz\n",
        "write",
        str(ws / "x.log"),
        "log\n",
        "write",
        str(ws / "drafts/d.txt"),
        "draft 2\n",
        "write",
        str(ws / "keep.txt"),
        "kept\n",
    )
    env_doc = bench.editor.open(ws / ".env")  # the editor reads it; crowdcode must not record it
    assert bench.att.edit(ws / ".env", env_doc.replace(0, 0, "#")) is None
    check(bench, [("keep.txt", "agent")])
    forbidden = {secret, ws / ".env", ws / "x.log", ws / "drafts/d.txt"}
    assert not forbidden & set(read)
    assert all(a["file"] != ".env" for a in bench.actions())
    secret.chmod(0o600)


def test_precision_and_recall_per_source() -> None:
    """Reports the suite's precision and recall per source (run with -s to see the table)."""
    assert TALLY.scenarios >= 15, "run the whole module: the tally covers every scenario"
    rows = TALLY.table()
    print("\nsource          labels  precision  recall")
    for source, labels, precision, recall in rows:
        print(f"{source:<15} {labels:>6}  {precision:>9.1%}  {recall:>6.1%}")
    assert all(p == 1.0 and r == 1.0 for _, _, p, r in rows)


def test_a_panic_while_the_editor_types_never_deadlocks(ws: Path, bench_factory) -> None:
    """The engine records while holding its lock; a panic runs the engine's hook inside the
    session's lock. Typing and panics at the same time must both finish."""
    path = ws / "a.txt"
    path.write_text("start\n")
    bench = bench_factory()
    bench.editor.open(path)
    done = threading.Event()

    def type_on() -> None:
        while not done.is_set():
            bench.editor.type(path, "x")

    typist = threading.Thread(target=type_on, daemon=True)
    typist.start()
    panics = threading.Thread(
        target=lambda: [bench.session.remove_since(bench.session.now_ms()) for _ in range(200)], daemon=True
    )
    panics.start()
    panics.join(60)
    done.set()
    typist.join(60)
    assert not panics.is_alive() and not typist.is_alive(), "typing and panic deadlocked"
