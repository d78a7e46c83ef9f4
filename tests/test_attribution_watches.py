"""The kernel's watches over a workspace leave its ignored directory trees out (a virtualenv,
``node_modules``, build trees), and follow the tree as it changes: every change outside them is
still reported (see ``crowdcode_sdk/attribution/coverage.py``)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from crowdcode_sdk.attribution import watcher
from crowdcode_sdk.attribution.coverage import plan

from .attribution_support import Bench, git, init_repo, run_writer, start_bench
from .conftest import wait_for
from .fresh_corpus import fresh_rng
from .test_attribution_scenarios import _branchy_repo, _files_changed_by_feature, check

IGNORES = "node_modules/\n.venv/\n__pycache__/\nbuild/\n"


def _package_tree(directory: Path, packages: int = 40, depth: int = 5) -> int:
    """What ``npm install`` or a virtualenv leaves: many nested directories; how many."""
    for n in range(packages):
        nested = directory.joinpath(f"pkg{n}", *(f"d{level}" for level in range(depth)))
        nested.mkdir(parents=True)
        (nested / "index.js").write_text("module.exports = 1\n")
    return packages * (depth + 1) + 1


def _kernel_watches() -> int:
    """The inotify watches this process holds."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    count += info.read().count("inotify wd:")
        except OSError:  # the listing's own descriptor, closed meanwhile
            continue
    return count


def _watched(bench: Bench) -> dict[Path, bool]:
    watcher = bench.att._watcher
    assert watcher is not None
    return watcher.watched


def _changed(bench: Bench) -> set[str]:
    return {action["file"] for action in bench.actions("file_change")}


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    init_repo(ws, {".gitignore": IGNORES, "README.md": "hello\n", "src/app/main.py": "print(1)\n"})
    (ws / "src" / "app" / "__pycache__").mkdir()
    return ws


def test_ignored_directory_trees_take_no_watches_and_the_rest_is_reported(home: Path, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    ignored = _package_tree(ws / "node_modules") + _package_tree(ws / ".venv" / "lib")
    before = _kernel_watches()
    bench = start_bench(ws)
    try:
        watched = _watched(bench)
        assert not any(d.is_relative_to(ws / "node_modules") or d.is_relative_to(ws / ".venv") for d in watched)
        assert watched[ws] is False and watched[ws / "src"] is True  # __pycache__ rides along
        held = _kernel_watches() - before
        git_dirs = sum(1 for _ in (ws / ".git").rglob("*") if _.is_dir()) + 1
        assert held <= git_dirs + 10 < ignored, (held, git_dirs, ignored)
        run_writer(
            "write", str(ws / "README.md"), "hello again\n",
            "write", str(ws / "src" / "app" / "main.py"), "print(2)\n",
            "write", str(ws / "node_modules" / "pkg0" / "index.js"), "changed\n",
        )  # fmt: skip
        assert _changed(bench) == {"README.md", "src/app/main.py"}
    finally:
        bench.close()


def test_a_directory_made_where_the_watches_are_not_recursive_is_watched_at_once(home: Path, tmp_path: Path) -> None:
    """``mkdir`` and a write into it at once, then the directory renamed, removed and made again:
    each file is reported, whether written before or after its directory was watched."""
    ws = _workspace(tmp_path)
    _package_tree(ws / "node_modules", packages=3)
    bench = start_bench(ws)
    try:
        run_writer("mkdir", str(ws / "lib" / "deep"), "write", str(ws / "lib" / "deep" / "a.py"), "a = 1\n")
        wait_for(lambda: "lib/deep/a.py" in _changed(bench), what="the file in the new directory")
        assert _watched(bench)[ws / "lib"] is True
        run_writer("rename", str(ws / "lib"), str(ws / "lib2"), "write", str(ws / "lib2" / "deep" / "b.py"), "b\n")
        wait_for(lambda: "lib2/deep/b.py" in _changed(bench), what="the file in the renamed directory")
        shutil.rmtree(ws / "lib2")
        run_writer("mkdir", str(ws / "lib2"), "write", str(ws / "lib2" / "c.py"), "c\n")
        wait_for(lambda: "lib2/c.py" in _changed(bench), what="the file in the directory made again")
        assert ws / "lib" not in _watched(bench)
    finally:
        bench.close()


def test_an_ignored_directory_filled_while_watching_is_then_left_out(home: Path, tmp_path: Path) -> None:
    """``npm install`` in a workspace watched recursively as a whole: ``node_modules`` gains
    directories, the watch is planned again without it, and the rest is still reported."""
    ws = tmp_path / "ws"
    init_repo(ws, {".gitignore": IGNORES, "src/main.py": "x = 1\n"})
    bench = start_bench(ws)
    try:
        assert _watched(bench) == {ws: True}
        _package_tree(ws / "node_modules")
        wait_for(lambda: ws / "node_modules" not in _covered(bench), what="node_modules left out")
        assert _watched(bench)[ws] is False
        run_writer("write", str(ws / "src" / "main.py"), "x = 2\n", "write", str(ws / "top.txt"), "top\n")
        assert _changed(bench) == {"src/main.py", "top.txt"}
    finally:
        bench.close()


def _covered(bench: Bench) -> set[Path]:
    """The directories some watch covers."""
    covered = set()
    for directory, recursive in _watched(bench).items():
        covered.add(directory)
        if recursive:
            covered.update(d for d in directory.rglob("*") if d.is_dir())
    return covered


def test_the_plan_leaves_out_ignored_directories_with_directories_of_their_own(tmp_path: Path) -> None:
    for name in ("a/x/y", "a/cache", "b/node_modules/p/q", "b/src/z", "c"):
        (tmp_path / name).mkdir(parents=True)
    ignored = {tmp_path / "a" / "cache", tmp_path / "b" / "node_modules"}
    watches, skipped = plan(tmp_path, lambda d: d in ignored)
    assert skipped == {tmp_path / "b" / "node_modules"}  # "cache" has no directory: one watch
    assert watches == {
        tmp_path: False,
        tmp_path / "a": True,
        tmp_path / "b": False,
        tmp_path / "b" / "src": True,
        tmp_path / "c": True,
    }
    assert plan(tmp_path / "a", lambda d: d in ignored) == ({tmp_path / "a": True}, set())


def test_a_directory_no_longer_ignored_is_watched(home: Path, tmp_path: Path) -> None:
    """``build/`` taken out of ``.gitignore`` while watching: changes in it are reported."""
    ws = _workspace(tmp_path)
    (ws / "build" / "out").mkdir(parents=True)
    bench = start_bench(ws)
    try:
        assert ws / "build" not in _covered(bench)
        run_writer("write", str(ws / ".gitignore"), IGNORES.replace("build/\n", ""))
        wait_for(lambda: ws / "build" in _covered(bench), what="build/ watched")
        run_writer("write", str(ws / "build" / "out" / "report.txt"), "built\n")
        wait_for(lambda: "build/out/report.txt" in _changed(bench), what="the change in build/")
    finally:
        bench.close()


def test_after_random_directory_changes_every_file_is_still_watched(home: Path, tmp_path: Path) -> None:
    """Directories made, filled, renamed and removed at random — ignored ones among them, some
    filled with directories — by another program: afterwards a write to any file that is not
    ignored is reported, wherever it is."""
    seed, rng = fresh_rng()
    ws = _workspace(tmp_path)
    bench = start_bench(ws)
    names = ["a", "b", "c", "node_modules", "build", "src"]
    try:
        for _ in range(60):
            existing = [d for d in ws.rglob("*") if d.is_dir() and ".git" not in d.parts]
            parent = rng.choice([ws, ws, *existing])
            target = parent / rng.choice(names)
            op = rng.randrange(4)
            if op == 0 and not target.exists():
                run_writer("mkdir", str(target / rng.choice(names)), "write", str(target / "f.txt"), "made\n")
            elif op == 1 and existing:
                source = rng.choice(existing)
                if not target.exists() and not target.is_relative_to(source):
                    run_writer("rename", str(source), str(target))
            elif op == 2 and existing:
                shutil.rmtree(rng.choice(existing), ignore_errors=True)
            elif not target.exists():
                _package_tree(target, packages=2, depth=2)
        ignored = bench.att._roots[0].rules
        files = [f for f in ws.rglob("*") if f.is_file() and ".git" not in f.parts and ignored.ignored(f) is None]
        for n, path in enumerate(files):
            run_writer("write", str(path), f"last write {n}\n")
        expected = {str(path.relative_to(ws)) for path in files}
        wait_for(lambda: expected <= _changed(bench), what=f"every write reported (seed {seed})", timeout=60)
    finally:
        bench.close()


def test_a_checkout_beside_an_ignored_tree_is_git_s(home: Path, tmp_path: Path) -> None:
    """With ``node_modules`` beside them, the git directory and ``src/`` are watched apart (their
    events come on different threads): a checkout of hundreds of files is still git's."""
    ws = tmp_path / "ws"
    _branchy_repo(ws)
    (ws / ".git" / "info" / "exclude").write_text("node_modules/\n")
    _package_tree(ws / "node_modules")
    bench = start_bench(ws)
    try:
        watched = _watched(bench)
        assert watched[ws] is False and watched[ws / "src"] is True and watched[ws / ".git"] is True
        git(ws, "checkout", "-q", "feature")
        bench.settle()
        git(ws, "switch", "-q", "main")
        check(bench, _files_changed_by_feature("git_checkout") * 2)
    finally:
        bench.close()


def test_a_watch_the_kernel_refuses_leaves_the_rest_watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of inotify watches (``ENOSPC``) for one subtree: the others are watched; a directory
    asked for that cannot be watched at all is an error to the caller."""
    for name in ("a/x", "b/y", "node_modules/p/q"):
        (tmp_path / name).mkdir(parents=True)
    schedule = watcher.Observer.schedule

    def refusing(observer: Any, handler: Any, path: str, **kwargs: Any) -> Any:
        if Path(path).name in ("a", "gone"):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return schedule(observer, handler, path, **kwargs)

    monkeypatch.setattr(watcher.Observer, "schedule", refusing)
    events: list[Path] = []
    watching = watcher.Watcher(
        [tmp_path], lambda path, is_dir, gone: events.append(path), lambda d: d.name == "node_modules"
    )
    watching.start()
    try:
        assert watching.watched == {tmp_path: False, tmp_path / "b": True}
        (tmp_path / "b" / "y" / "f.txt").write_text("reported\n")
        wait_for(lambda: tmp_path / "b" / "y" / "f.txt" in events, what="the change in b/")
        (tmp_path / "gone").mkdir()
        with pytest.raises(OSError):
            watching.add(tmp_path / "gone")
    finally:
        watching.stop()
