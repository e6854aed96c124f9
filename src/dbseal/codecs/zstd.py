"""zstd through python-zstandard: multi-threaded compression, bounded decompression."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import zstandard

from dbseal.codecs.base import OUTPUT_PIECE, Compressor, IterReader


class ZstdCodec:
    codec_id: ClassVar[int] = 1
    name: ClassVar[str] = "zstd"
    default_level: ClassVar[int] = 3

    def __init__(self, level: int | None = None, threads: int | None = None) -> None:
        self.level = self.default_level if level is None else level
        if not 1 <= self.level <= 22:
            raise ValueError("zstd level must be between 1 and 22")
        self.threads = threads if threads is not None else (os.cpu_count() or 1)

    def compressor(self) -> Compressor:
        cctx = zstandard.ZstdCompressor(level=self.level, threads=self.threads)
        return cctx.compressobj()

    def decompress(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        dctx = zstandard.ZstdDecompressor()
        reader: Any = IterReader(chunks)
        try:
            yield from dctx.read_to_iter(reader, read_size=OUTPUT_PIECE, write_size=OUTPUT_PIECE)
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd stream is malformed: {exc}") from None
