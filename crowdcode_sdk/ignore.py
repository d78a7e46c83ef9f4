"""Which workspace files crowdcode may read: ignore rules, secret files, size cap, binary files.

Git's own rules decide what a workspace's files are — every ``.gitignore`` (nested ones apply
below their directory), ``.git/info/exclude`` — plus a ``.crowdcodeignore`` (same syntax, same
nesting) for what the person wants kept out of recordings, plus built-in globs for secret files
(``.env``, keys, certificates …) that are never read whatever the other rules say. Matching uses
pathspec's ``GitIgnoreSpec`` so that negations, anchoring and ``**`` behave exactly like git.

A directory that is ignored is never descended into (git cannot re-include files below an
excluded directory either), so files in it are neither listed nor read.

Redaction imports :data:`SECRET_GLOBS` and :func:`is_secret` from here: one list, one matcher.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from .attribution.git import read_gitdir_file

SECRET_GLOBS: tuple[str, ...] = (
    ".env",
    ".env.*",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.crt",
    "*.cer",
    "*.der",
    "*.csr",
    "*.gpg",
    "*.asc",
    "*.kdbx",
    "*.ovpn",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".htpasswd",
    "credentials.json",
    "*.tfstate",
    "*.tfstate.*",
    "secrets.yaml",
    "secrets.yml",
    "*.secret",
    "*.secrets",
    "*.env",
    "credentials",
    "**/.aws/credentials",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/.ssh/*",
    ".gnupg/",
)
"""Files that hold credentials (gitignore syntax: a name pattern matches at any depth)."""

EDITOR_TEMP_GLOBS: tuple[str, ...] = (
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    "4913",
    ".DS_Store",
    "__pycache__/",
)
"""Editors' swap, backup and probe files and caches: churn, never anyone's work."""

CROWDCODE_IGNORE = ".crowdcodeignore"
GIT_IGNORE = ".gitignore"
ALWAYS_SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})
"""Version-control internals: watched for git activity (see attribution.git) but never content."""

DEFAULT_MAX_BYTES = 1024 * 1024
BINARY_PROBE_BYTES = 8192


def _one_regex(globs: tuple[str, ...]) -> re.Pattern[str]:
    """pathspec's translation of gitignore globs, joined into one expression: the watcher checks
    every event's path, and one search is much cheaper than one per glob."""
    spec = pathspec.GitIgnoreSpec.from_lines(globs)
    parts = [re.sub(r"\(\?P<\w+>", "(?:", p.regex.pattern) for p in spec.patterns if p.include and p.regex]
    return re.compile("|".join(f"(?:{part})" for part in parts))


_SECRET_RE = _one_regex(SECRET_GLOBS)
_TEMP_RE = _one_regex(EDITOR_TEMP_GLOBS)


def is_secret(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (workspace-relative, ``~/…`` or absolute) names a secret file."""
    text = Path(path).as_posix().lstrip("/")
    if text.startswith("~/"):
        text = text[2:]
    return bool(text) and _SECRET_RE.match(text) is not None


class Skip(enum.StrEnum):
    """Why a file's content was not read (it is noted, never read)."""

    IGNORED = "ignored"
    SECRET = "secret"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class FileContent:
    """What reading a workspace file gave: ``data`` and ``text`` for a readable text file, else
    ``skip`` says why not; ``exists`` is false for a missing file."""

    exists: bool
    data: bytes | None = None
    text: str | None = None
    skip: Skip | None = None
    size: int = 0


MISSING = FileContent(exists=False)


def decode_text(data: bytes) -> str | None:
    """The text of a file's bytes, or ``None`` if they look binary (a NUL byte or not UTF-8).

    Line endings are kept as they are (CRLF stays CRLF) so that offsets match the editor's.
    """
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class IgnoreRules:
    """The ignore rules of one workspace root; ``.gitignore`` files are cached per directory and
    re-read after :meth:`invalidate` (the watcher calls it when one changes)."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        git_dir: Path | None = None,
        exclude: Iterable[Path] = (),
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._git_dir = git_dir if git_dir is not None else _find_git_dir(root)
        # Directories never read whatever the rules say: crowdcode's own data, whose every write
        # would otherwise be recorded as a change, which writes again.
        self._excluded = tuple({p for e in exclude for p in (Path(e).absolute(), Path(e).resolve())})
        self._specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}
        self._root_text = root.as_posix().rstrip("/") + "/"
        self._dirs: dict[Path, bool] = {}
        self._chains: dict[Path, list[tuple[int, pathspec.GitIgnoreSpec]]] = {}
        """Directory → whether it or an ancestor is ignored (the watcher asks for every event)."""
        self._lock = threading.Lock()

    def invalidate(self, directory: Path | None = None) -> None:
        """Forget cached rules of ``directory`` (all when ``None``)."""
        with self._lock:
            if directory is None:
                self._specs.clear()
            else:
                self._specs.pop(directory, None)
            self._dirs.clear()
            self._chains.clear()

    def _spec(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        with self._lock:
            if directory in self._specs:
                return self._specs[directory]
        lines: list[str] = []
        names = [GIT_IGNORE, CROWDCODE_IGNORE]
        for name in names:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                lines.extend((directory / name).read_text(encoding="utf-8").splitlines())
        if directory == self.root and self._git_dir is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                lines.extend((self._git_dir / "info" / "exclude").read_text(encoding="utf-8").splitlines())
        spec = pathspec.GitIgnoreSpec.from_lines(lines) if any(_is_rule(line) for line in lines) else None
        with self._lock:
            self._specs[directory] = spec
        return spec

    def _matches(self, path: Path, is_dir: bool) -> bool:
        """Whether the rules of ``path``'s ancestors (root down to its parent) exclude it."""
        suffix = "/" if is_dir else ""
        if _TEMP_RE.match(path.name + suffix):
            return True
        text = path.as_posix()
        ignored = False
        for prefix, spec in self._chain(path.parent):  # shallow to deep: deeper rules win, as in git
            result = spec.check_file(text[prefix:] + suffix)
            if result.include is not None:
                ignored = bool(result.include)
        return ignored

    def _chain(self, directory: Path) -> list[tuple[int, pathspec.GitIgnoreSpec]]:
        """The rule sets that apply in ``directory``, root first, each with the length of its
        directory's path prefix (to make paths relative by slicing)."""
        with self._lock:
            known = self._chains.get(directory)
        if known is not None:
            return known
        chain = [] if directory == self.root else list(self._chain(directory.parent))
        spec = self._spec(directory)
        if spec is not None:
            chain.append((len(directory.as_posix()) + 1, spec))
        with self._lock:
            if len(self._chains) > 100_000:
                self._chains.clear()
            self._chains[directory] = chain
        return chain

    def ignored(self, path: Path, *, is_dir: bool = False) -> Skip | None:
        """Why ``path`` (absolute, under the root) must not be read, or ``None`` if it may be.

        Checks every ancestor directory too: nothing below an ignored directory is read.
        """
        if not path.is_relative_to(self.root) or path == self.root:
            return Skip.IGNORED if path != self.root else None
        if self._is_excluded(path):
            return Skip.IGNORED
        if self._directory_ignored(path.parent) or self._matches(path, is_dir=is_dir):
            return Skip.IGNORED
        if not is_dir and is_secret(path.as_posix()[len(self._root_text) :]):
            return Skip.SECRET
        return None

    def _is_excluded(self, path: Path) -> bool:
        return any(path.is_relative_to(excluded) for excluded in self._excluded)

    def _directory_ignored(self, directory: Path) -> bool:
        if directory == self.root:
            return False
        with self._lock:
            known = self._dirs.get(directory)
        if known is not None:
            return known
        ignored = (
            directory.name in ALWAYS_SKIPPED_DIRS
            or self._directory_ignored(directory.parent)
            or self._matches(directory, is_dir=True)
        )
        with self._lock:
            if len(self._dirs) > 100_000:
                self._dirs.clear()
            self._dirs[directory] = ignored
        return ignored

    def walk(self, start: Path | None = None, on_repository: Callable[[Path], None] | None = None) -> Iterator[Path]:
        """Every file under ``start`` (default: the root) that the rules allow, never entering an
        ignored directory. ``start`` itself must not be ignored. ``on_repository`` is called with
        every directory below ``start`` that is a git working tree of its own (a nested
        repository or a submodule)."""
        stack = [start or self.root]
        while stack:
            directory = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            subdirs = []
            for entry in entries:
                path = Path(entry.path)
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if not is_dir and not entry.is_file(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                if entry.name == ".git" and on_repository is not None and directory != (start or self.root):
                    on_repository(Path(directory))
                if is_dir:
                    if entry.name in ALWAYS_SKIPPED_DIRS or self._matches(path, is_dir=True) or self._is_excluded(path):
                        continue
                    subdirs.append(path)
                elif not self._matches(path, is_dir=False) and not is_secret(path.as_posix()[len(self._root_text) :]):
                    yield path
            stack.extend(reversed(subdirs))

    def read(self, path: Path) -> FileContent:
        """Read ``path`` if the rules allow it; a file over the size cap or binary is noted with
        its reason and never decoded. Call only for paths that :meth:`ignored` accepted."""
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > self.max_bytes:
                    return FileContent(exists=True, skip=Skip.TOO_LARGE, size=size)
                data = f.read(self.max_bytes + 1)
        except FileNotFoundError:
            return MISSING
        except IsADirectoryError:
            return MISSING
        except OSError:
            return FileContent(exists=path.exists(), skip=Skip.UNREADABLE)
        if len(data) > self.max_bytes:
            return FileContent(exists=True, skip=Skip.TOO_LARGE, size=len(data))
        text = decode_text(data)
        if text is None:
            return FileContent(exists=True, data=data, skip=Skip.BINARY, size=len(data))
        return FileContent(exists=True, data=data, text=text, size=len(data))


def _is_rule(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _find_git_dir(root: Path) -> Path | None:
    """The git directory of the repository containing ``root`` (a ``.git`` file is followed)."""
    for directory in (root, *root.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            return read_gitdir_file(dot_git)
    return None
