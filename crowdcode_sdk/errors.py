"""Exceptions raised by the SDK.

Every error a user or an adapter can cause derives from :class:`CrowdcodeError`, so that the CLI
prints one clear line for it and an adapter can reject one bad message and carry on.
"""

from __future__ import annotations


class CrowdcodeError(Exception):
    """An expected problem with a clear message: bad input, bad configuration, missing data."""


class SchemaError(CrowdcodeError, ValueError):
    """An event (or part of one) does not follow the schema.

    ``path`` names the offending field the way it appears on the wire, e.g.
    ``action.diff.rangeOffset``, so that the author of a broken adapter sees what to fix.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class ConfigError(CrowdcodeError):
    """The configuration file or a ``config set`` value is invalid."""


class SessionNotFound(CrowdcodeError):
    """A session id (or prefix, or ``latest``) names no recorded session."""


class SessionClosed(CrowdcodeError):
    """An adapter recorded into a session after closing it."""
