"""Which directories the kernel watches: a workspace's tree, less its ignored directory trees.

watchdog's recursive watch puts an inotify watch on every directory below its root, ignored ones
included. In this repository's working tree with its virtualenv that was 8,879 watches, where 36
directories hold the tracked files: a third of a CPU-second at every start of a recorder, and a
Python event for every file ``pip install`` or ``npm install`` writes there, each then dropped
as ignored. On kernels before 5.11 a user has 8,192 watches in all, so such a tree was not even
watched to the end.

So a tree is covered by recursive watches over the subtrees that leave nothing out, and by
watches of their own (not recursive) on the directories some of whose subdirectories are left
out. An ignored directory is left out when it has subdirectories: one without (``__pycache__``)
costs one watch, and leaving it out would split its parent into a watch per sibling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

Plan = dict[Path, bool]
"""The watches over a tree: each watched directory, and whether its watch is recursive."""

LeaveOut = Callable[[Path], bool]
"""Whether a directory's events never matter (an ignored directory): nothing below it is read."""


def subdirectories(directory: Path) -> list[Path]:
    """The directories in ``directory`` (not through symbolic links, as watchdog watches them)."""
    try:
        with os.scandir(directory) as entries:
            return [Path(entry.path) for entry in entries if _is_directory(entry)]
    except OSError:  # gone meanwhile, or unreadable: nothing to watch there
        return []


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def plan(directory: Path, leave_out: LeaveOut, skip: set[Path] | None = None) -> tuple[Plan, set[Path]]:
    """The watches covering ``directory``'s tree (``directory`` itself is watched), and the
    directories left out of them: ignored ones with directories of their own, and ``skip``."""
    watches: Plan = {}
    skipped: set[Path] = set()
    if _cover(directory, lambda sub: sub in (skip or ()) or _left_out(sub, leave_out), watches, skipped):
        watches[directory] = True
    return watches, skipped


def _left_out(directory: Path, leave_out: LeaveOut) -> bool:
    return leave_out(directory) and bool(subdirectories(directory))


def _cover(directory: Path, left_out: LeaveOut, watches: Plan, skipped: set[Path]) -> bool:
    """Add the watches below ``directory`` to ``watches``; ``True`` (and nothing added) when no
    directory below it is left out, so that one recursive watch of it covers its tree."""
    below: list[Plan] = []
    whole = True
    for sub in subdirectories(directory):
        if left_out(sub):
            skipped.add(sub)
            whole = False
            continue
        sub_watches: Plan = {}
        if _cover(sub, left_out, sub_watches, skipped):
            sub_watches[sub] = True
        else:
            whole = False
        below.append(sub_watches)
    if whole:
        return True
    watches[directory] = False
    for sub_watches in below:
        watches.update(sub_watches)
    return False
