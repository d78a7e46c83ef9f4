"""Consent and the user's switches: whether data may leave, and whether to record at all.

Consent is ``pending`` until the user answers, ``accepted`` (uploads allowed) or ``declined``
(everything stays local); only ``accepted`` lets the uploader build or send anything. Each adapter
asks in its own way (a prompt in the terminal, a modal in VS Code) through :func:`ask_consent`,
which never blocks a non-interactive run: there consent stays pending.

Recording itself can be turned off everywhere (``crowdcode off``, config ``recording.enabled``)
or for one workspace (an opt-out file, :data:`OPT_OUT_FILE`, in it or any folder above it);
adapters call :func:`recording_allowed` before they start a session.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .config import Config, set_value
from .locations import Locations, open_private, private_dir
from .quota import Level, storage_usage

OPT_OUT_FILE = ".crowdcode-off"

CONSENT_EXPLANATION = (
    "crowdcode records your edits, terminal commands and screens on this machine to build an open "
    "dataset for training coding models. Nothing leaves this machine unless you accept: then data "
    "older than the hold-back window (so that the panic button can still remove it) is redacted "
    "(secrets, home directory, user name) and uploaded to the configured server. You can change "
    "this at any time with `crowdcode consent accept|decline`."
)
CONSENT_TEXT = f"{CONSENT_EXPLANATION} Upload your recordings?"
"""What adapters ask; ``crowdcode consent status`` shows only the explanation, as it asks nothing."""


class Consent(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


def consent_status(locations: Locations | None = None) -> Consent:
    return Consent(Config.load(locations or Locations.default())["consent.status"])


def set_consent(status: Consent | str, locations: Locations | None = None) -> Consent:
    locations = locations or Locations.default()
    return Consent(set_value(locations, "consent.status", Consent(status).value))


PromptFn = Callable[[str], "bool | None"]
"""Shows the consent text; returns True (accept), False (decline) or None (ask again later)."""


def ask_consent(prompt_fn: PromptFn, locations: Locations | None = None, *, interactive: bool | None = None) -> Consent:
    """Ask the user once if consent is pending, store the answer and return the status.

    ``interactive`` defaults to whether stdin and stdout are terminals; when it is false the prompt
    is never shown and consent stays pending (a script or CI run must not block). A prompt that
    fails (EOF, Ctrl-C, a closed editor window) also leaves consent pending.
    """
    locations = locations or Locations.default()
    status = consent_status(locations)
    if status is not Consent.PENDING:
        return status
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not interactive:
        return status
    try:
        answer = prompt_fn(CONSENT_TEXT)
    except (EOFError, KeyboardInterrupt, OSError):
        return status
    if answer is None:
        return status
    return set_consent(Consent.ACCEPTED if answer else Consent.DECLINED, locations)


def consent_notice_due(adapter: str, locations: Locations | None = None) -> bool:
    """Whether ``adapter`` should show the consent question now: only while consent is pending and
    only on its first start ever, so the question never blocks and never comes back (each adapter
    asks in its own way; a marker under the data directory remembers that it did)."""
    locations = locations or Locations.default()
    if consent_status(locations) is not Consent.PENDING:
        return False
    marker = private_dir(locations.data_dir / "consent-shown") / adapter
    try:
        os.close(open_private(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


CONSENT_LINE = (
    "crowdcode is recording on this machine only; to share it for an open dataset of coding: "
    "`crowdcode consent accept` (or `decline`; `crowdcode consent` says what is uploaded)."
)
"""The consent question as one line, for terminals, where a prompt would hold up the shell."""


def terminal_prompt(text: str) -> bool | None:
    """A ready-made ``prompt_fn`` for terminal adapters: y/n on stdin, anything else postpones."""
    answer = input(f"{text} [y/n, Enter = ask later] ").strip().lower()
    if answer in ("y", "yes"):
        return True
    if answer in ("n", "no"):
        return False
    return None


class Permission(NamedTuple):  # not a dataclass: imported at every start (locations.py says why)
    """Whether recording may start, and if not, why (one line for the user); ``warning`` is a line
    to show even when it may (local storage nearly full)."""

    allowed: bool
    reason: str | None = None
    warning: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def opt_out_file(workspace: str | os.PathLike[str]) -> Path | None:
    """The opt-out file that covers ``workspace`` (in it or a folder above it), if any."""
    path = Path(workspace).absolute()
    for folder in (path, *path.parents):
        candidate = folder / OPT_OUT_FILE
        if candidate.exists():
            return candidate
    return None


def recording_allowed(
    workspace: str | os.PathLike[str] | None = None,
    locations: Locations | None = None,
    config: Config | None = None,
) -> Permission:
    """Adapters call this before starting a :class:`~crowdcode_sdk.session.Session`."""
    locations = locations or Locations.default()
    config = config or Config.load(locations)
    if not config["recording.enabled"]:
        return Permission(False, "recording is off (`crowdcode on` turns it back on)")
    if workspace is not None and (marker := opt_out_file(workspace)) is not None:
        return Permission(False, f"this workspace opted out ({marker}; `crowdcode on --workspace` removes it)")
    usage = storage_usage(locations, config)
    if usage.level is Level.FULL:
        return Permission(False, usage.warning())
    return Permission(True, warning=usage.warning())
