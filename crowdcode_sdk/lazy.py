"""Package attributes imported when first asked for (PEP 562).

``import crowdcode_sdk`` or ``import crowdcode_sdk.attribution`` then costs only what its user
touches: the shell wrapper reads the configuration without the schema and the session, and a
terminal recorder outside a git working tree asks where the working tree is without loading the
attribution engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def attributes(package: str, exports: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``exports[name]`` (a module relative
    to the package) when ``name`` is first asked for, and keeps it in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
