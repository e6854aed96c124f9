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
    """A minimal read(n) file object over an iterator of byte strings (copies only when splitting)."""

    def __init__(self, chunks: Iterable[bytes | memoryview]) -> None:
        self._it = iter(chunks)
        self._cur: bytes | memoryview = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes | memoryview:
        while self._pos >= len(self._cur):
            try:
                self._cur, self._pos = next(self._it), 0
            except StopIteration:
                return b""
        if self._pos == 0 and (n < 0 or n >= len(self._cur)):
            self._pos = len(self._cur)
            return self._cur
        end = len(self._cur) if n < 0 else min(len(self._cur), self._pos + n)
        out = memoryview(self._cur)[self._pos : end]
        self._pos = end
        return out
