"""Where one zstd frame ends (RFC 8878, 3.1.1), found from its block headers alone.

python-zstandard decompresses with bounded output but does not say whether a
stream held exactly one complete frame: it silently accepts a second frame,
stops at a cut-short frame with no error, and yields nothing for an empty
stream. :class:`FrameWalker` follows the frame header and the 3-byte block
headers as the bytes go by, so the codec can refuse all of these
(docs/format.md, 4.2).
"""

from __future__ import annotations

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_FCS_LEN = (0, 2, 4, 8)  # by Frame_Content_Size_flag; flag 0 means 1 byte if single-segment
_DID_LEN = (0, 1, 2, 4)


class FrameError(ValueError):
    pass


class FrameWalker:
    """Feed the compressed stream; :meth:`feed` returns how many bytes belong to the frame."""

    def __init__(self) -> None:
        self._need = 5  # magic + frame header descriptor
        self._buf = b""
        self._state = "start"
        self._skip = 0
        self.done = False

    def feed(self, data: bytes | memoryview) -> int:
        """Bytes of ``data`` inside the frame; fewer than len(data) once the frame has ended."""
        used = 0
        view = memoryview(data)
        while used < len(view) and not self.done:
            if self._skip:
                n = min(self._skip, len(view) - used)
                self._skip -= n
                used += n
                if not self._skip and self._state == "checksum":
                    self.done = True
                continue
            n = min(self._need - len(self._buf), len(view) - used)
            self._buf += bytes(view[used : used + n])
            used += n
            if len(self._buf) == self._need:
                self._advance(self._buf)
                self._buf = b""
        return used

    def _advance(self, field: bytes) -> None:
        if self._state == "start":
            if field[:4] != ZSTD_MAGIC:
                raise FrameError("the stream does not start with a zstd frame")
            fhd = field[4]
            if fhd & 0x08:
                raise FrameError("the zstd frame header sets a reserved bit")
            single = bool(fhd & 0x20)
            fcs = _FCS_LEN[fhd >> 6] or (1 if single else 0)
            self._checksum = bool(fhd & 0x04)
            rest = (0 if single else 1) + _DID_LEN[fhd & 0x03] + fcs
            self._to("frame-header", rest)
        elif self._state == "frame-header":
            self._to("block-header", 3)
        elif self._state == "block-header":
            value = int.from_bytes(field, "little")
            last, kind, size = value & 1, (value >> 1) & 3, value >> 3
            if kind == 3:
                raise FrameError("the zstd frame holds a block of the reserved type")
            content = 1 if kind == 1 else size
            if last:
                self._state = "checksum"
                self._skip = content + (4 if self._checksum else 0)
                self.done = self._skip == 0
                return
            self._state, self._skip = "block-header", content
            self._need = 3

    def _to(self, state: str, need: int) -> None:
        self._state, self._need = state, need
        if need == 0:
            self._advance(b"")
