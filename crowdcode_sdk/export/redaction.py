"""An export is redacted as an upload is: it is a file meant to be shared (a crowd-code 2.0
bundle, an asciicast to post, events to hand to someone), so it may leave the machine as surely as
an upload does. The same :class:`~crowdcode_sdk.redaction.Redactor` reads the session's events in
order, then its terminal streams, and the snapshot files an export carries, as
:mod:`crowdcode_sdk.upload.prepare` does for a bundle; ``crowdcode export --no-redact`` writes what
was recorded, for the user's own use."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from .. import journal
from ..ignore import is_secret
from ..store import SessionInfo, Store


class ExportRedaction:
    """One session's redaction for an export; with ``redact`` False, everything passes as recorded."""

    def __init__(self, store: Store, redact: bool = True) -> None:
        self._store = store
        self._redactor = None
        if redact:
            from ..redaction import Redactor
            from ..upload.prepare import snapshot_text

            self._redactor = Redactor()
            self._redactor.snapshot_text = functools.partial(snapshot_text, store.locations, {})

    def events(self, events: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        """``events`` in sequence order, redacted as one batch (a secret typed across any point of
        the session is seen whole)."""
        return events if self._redactor is None else self._redactor.events(list(events))

    def cast(self, info: SessionInfo, data: bytes) -> bytes:
        """A terminal's raw stream, after the session's events: the commands typed in it are read
        first, so that what they hold is known where the stream draws it in pieces."""
        if self._redactor is None:
            return data
        self._redactor.events(list(journal.decoded(self._store.lines(info))))
        return self._redactor.cast(data)

    def files(self, files: dict[str, str]) -> dict[str, str]:
        """A snapshot's files: secret files (.env, keys …) left out, paths and texts redacted."""
        if self._redactor is None:
            return files
        return {
            self._redactor.path(path): self._redactor.text(text) for path, text in files.items() if not is_secret(path)
        }
