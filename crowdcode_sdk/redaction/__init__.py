"""Redaction: nothing secret or identifying leaves the machine.

- :mod:`.detector` finds secrets (detect-secrets plugins plus :mod:`.patterns`);
- :mod:`.identity` anonymises the home directory, user and host names;
- :mod:`.masking` rewrites with same-length masks (edit offsets and screen columns stay valid);
- :mod:`.streams` finds secrets typed a character at a time (edits, keystrokes, raw output);
- :mod:`.events` applies all of it to every string of every event, and counts what it masked.

See docs/privacy.md.
"""

from .detector import Finding, find_secrets
from .events import Redactor
from .identity import Identity, IdentityMasker
from .masking import MASK, mask_all, mask_spans

__all__ = ["MASK", "Finding", "Identity", "IdentityMasker", "Redactor", "find_secrets", "mask_all", "mask_spans"]
