"""Optional dependencies, grouped by role into the package's extras (``pip install 'crowdcode[nvim]'``).

The core install carries only what recording needs; an adapter or command whose library lives in an
extra imports it through :func:`require` when it runs, so a missing extra is one clear line naming
the install command, never a traceback, and the rest of ``crowdcode`` keeps working.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import CrowdcodeError


class MissingExtra(CrowdcodeError):
    """An optional dependency is not installed."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or module
        raise MissingExtra(
            f"{purpose} needs {missing}, from the '{extra}' extra: pip install 'crowdcode[{extra}]' "
            f"(installed with pipx: pipx inject crowdcode {missing})"
        ) from None
