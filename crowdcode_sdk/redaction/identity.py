"""Anonymising who the user is: the home directory, the user name and the host name.

Two forms, for two kinds of field:

- in *paths* (``file``, ``cwd``, workspace names) the home directory becomes ``~`` and the user
  and host names become ``user`` and ``host`` — lengths do not matter there;
- in *content* (edited text, screens, commands, diffs, snapshots) the names are masked with the
  same number of characters, so that edit offsets and screen columns stay valid.

Short or generic names (``root``, ``dev``, ``ubuntu``…) are not masked as words, or every ``dev``
in the code would go; they are still masked inside home-directory paths.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from .detector import Finding

GENERIC_NAMES = frozenset(
    (
        "root",
        "user",
        "users",
        "admin",
        "administrator",
        "test",
        "tests",
        "dev",
        "developer",
        "ubuntu",
        "debian",
        "runner",
        "node",
        "app",
        "build",
        "ci",
        "vagrant",
        "docker",
        "git",
        "www",
        "guest",
        "pi",
        "home",
        "local",
        "localhost",
        "server",
        "default",
        "nobody",
    )
)


def _word(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", re.IGNORECASE)


@dataclass(frozen=True)
class Identity:
    home: str
    user: str
    host: str

    @classmethod
    def current(cls) -> Identity:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = os.environ.get("USER", "")
        return cls(home=str(Path.home()), user=user, host=socket.gethostname())


class IdentityMasker:
    """Finds and replaces the user's identity in content and paths; see the module docstring."""

    def __init__(self, identity: Identity | None = None) -> None:
        self.identity = identity or Identity.current()
        home = self.identity.home.rstrip("/")
        user = self.identity.user
        patterns: list[tuple[re.Pattern[str], int, str]] = []
        if home and home != "/":
            # The last component of the home directory is the user's folder name.
            head, _, leaf = home.rpartition("/")
            if leaf:
                folder = re.compile(re.escape(head + "/") + "(" + re.escape(leaf) + r")(?![A-Za-z0-9_.\-])")
                patterns.append((folder, 1, "home"))
        for prefix in ("/home/", "/Users/", "C:\\Users\\", "C:/Users/"):
            if user:
                patterns.append((re.compile(re.escape(prefix) + "(" + re.escape(user) + ")", re.IGNORECASE), 1, "home"))
        names = {(user, "user"), (self.identity.host, "host"), (self.identity.host.split(".")[0], "host")}
        for name, category in sorted(names):
            if len(name) >= 3 and name.lower() not in GENERIC_NAMES:
                patterns.append((_word(name), 0, category))
        self._patterns = patterns
        self._home = home
        # Every pattern contains one of these: a text without any of them needs no regex at all.
        leaf = home.rpartition("/")[2]
        self._needles = tuple({n.lower() for n, _ in names if len(n) >= 3} | {n.lower() for n in (user, leaf) if n})

    def may_find(self, text: str) -> bool:
        """False when :meth:`find` finds nothing in ``text``."""
        lowered = text.lower()
        return any(needle in lowered for needle in self._needles)

    def find(self, text: str) -> list[Finding]:
        """Spans of the user's identity in ``text`` (for same-length masking)."""
        if not self.may_find(text):
            return []
        found = []
        for pattern, group, category in self._patterns:
            for match in pattern.finditer(text):
                found.append(Finding(match.start(group), match.end(group), category))
        return found

    def path(self, path: str) -> str:
        """A path field as it may leave: ``~`` for home, ``user``/``host`` for the names."""
        if self._home and self._home != "/" and (path == self._home or path.startswith(self._home + "/")):
            path = "~" + path[len(self._home) :]
        for pattern, group, category in self._patterns:
            replacement = "user" if category in ("home", "user") else "host"
            if group:

                def keep_prefix(m: re.Match[str], r: str = replacement) -> str:
                    return m.group(0)[: m.start(1) - m.start(0)] + r

                path = pattern.sub(keep_prefix, path)
            else:
                path = pattern.sub(replacement, path)
        return path
