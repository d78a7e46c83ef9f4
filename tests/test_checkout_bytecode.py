"""README's install (``./scripts/install``) leaves current bytecode for every module of the checkout.

An editable install runs the checkout's modules, which pip does not compile as it does an installed
package's. Where Python may not write bytecode itself (``PYTHONDONTWRITEBYTECODE``, set on these
machines), every start of ``crowdcode shell`` and of its recorder would otherwise compile them from
source again, several times the start-up being measured (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from .conftest import ROOT

PACKAGES = ("crowdcode_sdk", "adapters")


def current_bytecode(source: Path) -> bool:
    """Whether Python would load ``source`` from its cached bytecode without compiling it: the
    header of ``__pycache__/<name>.cpython-XY.pyc`` holds this Python's magic number and the
    source's modification time and size."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    try:
        header = cached.read_bytes()[:16]
    except FileNotFoundError:
        return False
    stat = source.stat()
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == 0
        and int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF
    )


def test_the_install_compiles_every_module_of_the_checkout() -> None:
    for package in PACKAGES:
        for cache in (ROOT / package).rglob("__pycache__"):
            shutil.rmtree(cache)
    result = subprocess.run(["./scripts/install"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    sources = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(sources) > 100
    assert [str(path.relative_to(ROOT)) for path in sources if not current_bytecode(path)] == []
