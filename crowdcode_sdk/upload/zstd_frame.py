"""Where a zstd frame ends, found from its block headers as the compressed bytes arrive.

A bundle is exactly one zstd frame. zstd decoders read straight on into a second frame (and
python-zstandard's ``read_across_frames=False`` does not stop them when the frames share a read),
so the only exact way to refuse appended frames or trailing bytes is to walk the frame's own
structure: a header, then blocks of ``3-byte header + size`` bytes up to the one flagged last, then
an optional 4-byte checksum (RFC 8878, section 3.1.1). The walk costs nothing per byte of content:
it skips whole blocks without looking at them.
"""

from __future__ import annotations

import zstandard


class FrameError(ValueError):
    """The compressed bytes are not exactly one well-formed zstd frame."""


MAGIC = b"\x28\xb5\x2f\xfd"
MAX_FRAME_HEADER = 18


class FrameEnd:
    """Feed compressed chunks in order; raises :class:`FrameError` on any byte past the frame."""

    def __init__(self, max_content_size: int) -> None:
        self.max_content_size = max_content_size
        self.ended = False
        self._pending = b""  # an incomplete header: at most 18 bytes
        self._header_done = False
        self._skip = 0  # bytes of the current block (or checksum) still to pass over
        self._checksum = 0

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self.ended:
                raise FrameError(f"{len(view)} bytes follow the bundle's zstd frame (a second frame or trailing data)")
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                if not self._skip and self._checksum < 0:
                    self.ended = True
                continue
            need = self._need()
            taken = min(need - len(self._pending), len(view))
            self._pending += bytes(view[:taken])
            view = view[taken:]
            if len(self._pending) == need:
                self._parse()

    def _need(self) -> int:
        if self._header_done:
            return 3
        if len(self._pending) < 5:
            return 5
        return zstandard.frame_header_size(self._pending)

    def _parse(self) -> None:
        data, self._pending = self._pending, b""
        if not self._header_done:
            if len(data) == 5:  # magic + descriptor: now the header's full size is known
                if not data.startswith(MAGIC):
                    raise FrameError("not a zstd frame (bad magic number)")
                self._pending = data
                return
            params = zstandard.get_frame_parameters(data)
            if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
                raise FrameError("the zstd frame does not declare its content size")
            if params.content_size > self.max_content_size:
                raise FrameError(
                    f"bundle expands beyond {self.max_content_size} bytes (its frame declares {params.content_size})"
                )
            self._checksum = 4 if params.has_checksum else 0
            self._header_done = True
            return
        header = int.from_bytes(data, "little")
        last, block_type, size = header & 1, (header >> 1) & 3, header >> 3
        if block_type == 3:
            raise FrameError("corrupt zstd block header")
        self._skip = 1 if block_type == 1 else size  # an RLE block stores its one byte
        if last:
            if self._checksum:
                self._skip += self._checksum
            self._checksum = -1
            if not self._skip:
                self.ended = True
