"""Secret files: the one list of files crowdcode never reads, and the matcher for it.

Snapshots (issue 4) skip these files when they read the workspace; the redactor (issue 7) masks
whatever an editor still shows of them (an open ``.env`` buffer) before anything leaves. Patterns
are gitignore-style (pathspec), matched against workspace-relative POSIX paths, so ``*.pem``
matches at any depth and a pattern with a slash is anchored as in ``.gitignore``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import PurePath

import pathspec

SECRET_FILE_GLOBS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.gpg",
    "*.asc",
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
    "credentials",
    "credentials.json",
    "secrets.*",
    "*.secret",
    "*.secrets",
    "**/.aws/credentials",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/.ssh/*",
    ".gnupg/",
)
"""Built-in secret-file patterns (gitignore syntax)."""

IGNORE_FILE = ".crowdcodeignore"
"""A workspace file whose gitignore-style entries are treated as secret files too."""


@lru_cache(maxsize=64)
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def secret_file_spec(extra: Iterable[str] = ()) -> pathspec.GitIgnoreSpec:
    """The matcher for the built-in patterns plus ``extra`` (e.g. a ``.crowdcodeignore``)."""
    return _spec(SECRET_FILE_GLOBS + tuple(p for p in extra if p.strip() and not p.lstrip().startswith("#")))


def is_secret_file(path: str | os.PathLike[str], extra: Iterable[str] = ()) -> bool:
    """Whether ``path`` (workspace-relative or absolute, any separator) is a secret file."""
    text = PurePath(path).as_posix().lstrip("/")
    if text.startswith("~/"):
        text = text[2:]
    return bool(text) and secret_file_spec(tuple(extra)).match_file(text)


def read_ignore_file(workspace: str | os.PathLike[str]) -> list[str]:
    """The entries of the workspace's ``.crowdcodeignore`` (empty when there is none)."""
    try:
        with open(os.path.join(workspace, IGNORE_FILE), encoding="utf-8") as f:
            return f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
