"""The text a program shows when it asks for a password, passphrase, PIN, token or code.

In a module of its own, outside :mod:`crowdcode_sdk.redaction`: the shell's recorder checks every
output line against it from its first frame, and importing the redaction package (detect-secrets
and its plugins) costs the recorder a tenth of a second of CPU at start, while the user's program
may already be flooding the terminal (docs/benchmarks.md, "What the throughput depends on").
"""

from __future__ import annotations

import re

PASSWORD_PROMPT = re.compile(
    r"(?i)(?:password|passphrase|passcode|pin|token|secret|verification code|otp)[^:\n]{0,60}:\s*$|"
    r"\[sudo\][^:\n]*:\s*$|enter pass[^:\n]*:\s*$"
)
