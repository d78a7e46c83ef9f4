"""Token counting for the serializer's limits, behind one small interface.

The default needs no model: a byte-based estimate (UTF-8 bytes / 4, rounded up), which is close
to what BPE tokenizers give for code and English. A local Hugging Face ``tokenizer.json`` gives
exact counts through the ``tokenizers`` package (optional: ``pip install 'crowdcode[dataset]'``).
Nothing is downloaded: the file must be on disk.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

from ..errors import CrowdcodeError
from ..extras import require

TRUNCATED = "\n... [truncated]"


class Tokenizer(Protocol):
    name: str

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, limit: int) -> str:
        """The longest prefix of ``text`` with at most ``limit`` tokens."""
        ...


class ByteEstimate:
    """About four UTF-8 bytes per token."""

    name = "bytes/4"

    def __init__(self, bytes_per_token: int = 4) -> None:
        self.bytes_per_token = bytes_per_token

    def count(self, text: str) -> int:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        return -(-size // self.bytes_per_token)

    def truncate(self, text: str, limit: int) -> str:
        data = text.encode("utf-8")[: limit * self.bytes_per_token]
        return data.decode("utf-8", errors="ignore")


class HuggingFaceTokenizer:
    """Exact counts from a local ``tokenizer.json``."""

    def __init__(self, path: str | Path) -> None:
        HFTokenizer = require("tokenizers", "dataset", "--tokenizer").Tokenizer
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        try:
            self._tokenizer = HFTokenizer.from_file(str(path))
        except Exception as exc:
            raise CrowdcodeError(f"cannot load tokenizer {path}: {exc}") from None
        self.name = str(path)

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def truncate(self, text: str, limit: int) -> str:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= limit:
            return text
        return text[: encoding.offsets[limit - 1][1]] if limit > 0 else ""


@functools.lru_cache(maxsize=4)
def load_tokenizer(spec: str | None) -> Tokenizer:
    """``None`` or ``"bytes"``: the estimate; otherwise a path to a tokenizer.json (or its dir).

    Cached so that each worker process loads a tokenizer once.
    """
    if spec in (None, "", "bytes"):
        return ByteEstimate()
    return HuggingFaceTokenizer(spec)


def truncate(tokenizer: Tokenizer, text: str, limit: int) -> str:
    """``text`` cut to ``limit`` tokens with a visible marker, or unchanged when it fits."""
    if tokenizer.count(text) <= limit:
        return text
    return tokenizer.truncate(text, max(limit - tokenizer.count(TRUNCATED), 0)) + TRUNCATED
