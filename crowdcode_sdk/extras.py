"""Optional dependencies, grouped by role into the package's extras (``pip install 'crowdcode[nvim]'``).

The core install carries only what recording needs; an adapter or command whose library lives in an
extra imports it through :func:`require` when it runs, so a missing extra is one clear line naming
the install command, never a traceback, and the rest of ``crowdcode`` keeps working.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from types import ModuleType

from .errors import CrowdcodeError


class MissingExtra(CrowdcodeError):
    """An optional dependency is not installed."""


def install_command(extra: str) -> str:
    """The command that adds ``extra`` to the environment this ``crowdcode`` runs from.

    It names this interpreter, so it is right however crowdcode was installed: a checkout's
    ``.venv``, a venv, or pipx (whose venvs run pip through a shared copy). A bare ``pip`` would be
    another environment's, or refused by a Debian system Python; ``pipx inject`` of one module
    misses the rest of an extra. pip takes the extra from the crowdcode already installed, so
    this works for a wheel or checkout that is not on PyPI.
    """
    return f"{shlex.quote(sys.executable)} -m pip install 'crowdcode[{extra}]'"


def missing_extra(module: str, extra: str, purpose: str) -> MissingExtra:
    """The error for ``purpose`` lacking ``module`` of ``extra``: what is missing, and the command."""
    return MissingExtra(f"{purpose} needs {module}, from the '{extra}' extra: {install_command(extra)}")


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(exc.name or module, extra, purpose) from None
