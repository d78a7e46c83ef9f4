"""Secret files: the one list of files crowdcode never reads, and the matcher for it.

Contract between issue 4 (snapshots and attribution, which never read these files and own the
full version of this module: gitignore, ``.crowdcodeignore``, size and binary rules) and issue 7
(redaction, which masks whatever an editor still shows of them, e.g. an open ``.env`` buffer,
before anything leaves). Issue 4's module exports the same two names, :data:`SECRET_GLOBS` and
:func:`is_secret`; this minimal version exists so that issue 7 works before that one is merged.

Patterns are gitignore-style (pathspec's ``GitIgnoreSpec``): ``*.pem`` matches at any depth.
"""

from __future__ import annotations

import os
from pathlib import PurePath

import pathspec

SECRET_GLOBS: tuple[str, ...] = (
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
    "*.ovpn",
    "*.tfstate",
    "*.tfstate.*",
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
    "secrets.yaml",
    "secrets.yml",
    "*.secret",
    "*.secrets",
    "**/.aws/credentials",
    "**/.docker/config.json",
    "**/.kube/config",
    "**/.ssh/*",
    ".gnupg/",
)
"""Built-in secret-file patterns (gitignore syntax)."""

_SECRET_SPEC = pathspec.GitIgnoreSpec.from_lines(SECRET_GLOBS)


def is_secret(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (workspace-relative, ``~/…`` or absolute) names a secret file."""
    text = PurePath(path).as_posix().lstrip("/")
    if text.startswith("~/"):
        text = text[2:]
    return bool(text) and _SECRET_SPEC.match_file(text)


is_secret_file = is_secret
"""The name the cross-issue contract gives the matcher."""
