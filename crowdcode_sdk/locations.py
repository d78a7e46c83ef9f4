"""Where crowdcode keeps its configuration, data and runtime state.

``CROWDCODE_HOME=DIR`` puts all three under DIR (tests and isolated installs rely on it);
otherwise platformdirs picks the platform's conventional places. Everything is private to the
user: directories 0700, files 0600.

Every command reads this module first, ``crowdcode shell`` before it starts the user's shell, so
it imports only the standard library's basics: platformdirs when no ``CROWDCODE_HOME`` is set,
orjson when the install identity is read, and random names come from ``os.urandom`` (what
``secrets`` uses, without its ``hashlib``/``random`` imports). Its records are NamedTuples, not
dataclasses: a frozen dataclass's generated methods cost about a millisecond each to build, and
``dataclasses`` imports ``inspect``; every module ``crowdcode shell`` imports before the user's
shell starts does the same.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import NamedTuple

APP = "crowdcode"
HOME_VARIABLE = "CROWDCODE_HOME"

DIR_MODE = 0o700
FILE_MODE = 0o600


class Locations(NamedTuple):
    config_file: Path
    data_dir: Path
    runtime_dir: Path

    @classmethod
    def default(cls) -> Locations:
        home = os.environ.get(HOME_VARIABLE)
        if home:
            root = Path(home).expanduser().absolute()
            return cls(root / "config.toml", root / "data", root / "run")
        import platformdirs

        with warnings.catch_warnings():  # platformdirs warns on stderr without XDG_RUNTIME_DIR:
            warnings.simplefilter("ignore")  # the fallback just below is ours, and quiet
            runtime = Path(platformdirs.user_runtime_dir(APP))
        if not runtime.parent.is_dir():  # no XDG runtime dir (containers, cron): keep it private
            runtime = Path(platformdirs.user_state_dir(APP)) / "run"
        return cls(
            Path(platformdirs.user_config_dir(APP)) / "config.toml",
            Path(platformdirs.user_data_dir(APP)),
            runtime,
        )

    @property
    def sessions_dir(self) -> Path:
        return self.data_dir / "sessions"

    @property
    def live_dir(self) -> Path:
        return self.runtime_dir / "live"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIR_MODE)
        directory.chmod(DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with mode 0600 whatever the umask."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:  # a full disk: no temporary file left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class InstallIdentity(NamedTuple):
    """A random id for this installation and a salt for hashing local identifiers.

    crowd-code hashed the machine id and user name, which anyone can recompute; a random id and
    salt reveal nothing about the machine or person.
    """

    install_id: str
    salt: str


def install_identity(locations: Locations) -> InstallIdentity:
    import orjson

    path = locations.data_dir / "install.json"
    try:
        data = orjson.loads(path.read_bytes())
        return InstallIdentity(data["installId"], data["salt"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    identity = InstallIdentity(os.urandom(16).hex(), os.urandom(16).hex())
    tmp = path.with_name(f".install.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    write_private_atomic(tmp, orjson.dumps({"installId": identity.install_id, "salt": identity.salt}))
    try:
        os.link(tmp, path)  # fails if another process got there first; then theirs is kept
    except FileExistsError:
        return install_identity(locations)
    finally:
        tmp.unlink()
    return identity
