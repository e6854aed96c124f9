"""The codec interface: streaming compression before encryption."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar, Protocol

# Upper bound of one decompressed piece: keeps memory bounded whatever the ratio.
OUTPUT_PIECE = 1 << 20


class Compressor(Protocol):
    def compress(self, data: bytes | memoryview) -> bytes: ...

    def flush(self) -> bytes: ...


class Codec(Protocol):
    """A compression method. ``codec_id`` is the wire value in the header."""

    codec_id: ClassVar[int]
    name: ClassVar[str]
    level: int

    def compressor(self) -> Compressor: ...

    def decompress(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Decompress a stream; yields pieces of at most OUTPUT_PIECE bytes.

        Raises ValueError when the compressed stream is malformed or incomplete.
        """
        ...


class IterReader:
    """A minimal read(n) file object over an iterator of byte strings."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        while not self._buf:
            try:
                self._buf = memoryview(next(self._it))
            except StopIteration:
                return b""
        if n < 0 or n >= len(self._buf):
            out, self._buf = bytes(self._buf), memoryview(b"")
            return out
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out
