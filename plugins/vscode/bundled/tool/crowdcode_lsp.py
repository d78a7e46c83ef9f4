"""Start ``crowdcode lsp`` from the packages bundled in the .vsix (``bundled/libs``).

The extension runs this file with a Python interpreter it found (the Python extension's, else
``python3`` on PATH), as Microsoft's Python tools extensions do, so that the .vsix needs no separate
install. ``--check`` answers, as one JSON line, whether this interpreter can run the bundle: the
pure-Python code runs anywhere, the native wheels (orjson, zstandard, pyavt, watchdog) only on the
Python version and platform the .vsix was built for.
"""

import json
import os
import sys

LIBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "libs")
NEEDED = ("orjson", "zstandard", "avt", "watchdog", "pygls", "lsprotocol", "crowdcode_sdk", "crowdcode_lsp")


def check() -> int:
    missing = []
    for module in NEEDED:
        try:
            __import__(module)
        except ImportError:
            missing.append("pyavt" if module == "avt" else module)
    version = ".".join(map(str, sys.version_info[:2]))
    print(json.dumps({"ok": not missing and sys.version_info >= (3, 11), "missing": missing, "python": version}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, LIBS)
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    from crowdcode_sdk.cli.main import main

    sys.exit(main(["lsp", *sys.argv[1:]]))
