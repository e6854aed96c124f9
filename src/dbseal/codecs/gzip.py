"""gzip (DEFLATE) for interoperability with tools that only know it."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import ClassVar

from dbseal.codecs.base import OUTPUT_PIECE, Compressor


class GzipCodec:
    codec_id: ClassVar[int] = 3
    name: ClassVar[str] = "gzip"
    default_level: ClassVar[int] = 6

    def __init__(self, level: int | None = None) -> None:
        self.level = self.default_level if level is None else level
        if not 1 <= self.level <= 9:
            raise ValueError("gzip level must be between 1 and 9")

    def compressor(self) -> Compressor:
        return zlib.compressobj(self.level, zlib.DEFLATED, 31)

    def decompress(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        d = zlib.decompressobj(31)
        try:
            for chunk in chunks:
                data = chunk
                while data:
                    out = d.decompress(data, OUTPUT_PIECE)
                    if out:
                        yield out
                    data = d.unconsumed_tail
                if d.eof and d.unused_data:
                    raise ValueError("bytes after the end of the gzip stream")
        except zlib.error as exc:
            raise ValueError(f"gzip stream is malformed: {exc}") from None
        if not d.eof:
            raise ValueError("gzip stream is incomplete")
