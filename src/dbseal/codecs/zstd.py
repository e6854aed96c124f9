"""zstd through python-zstandard: multi-threaded compression, bounded decompression."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import zstandard

from dbseal.codecs.base import OUTPUT_PIECE, Compressor, IterReader
from dbseal.codecs.zstd_frame import FrameError, FrameWalker


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
        """Exactly one complete frame and nothing after it, as strict as lz4 and gzip."""
        dctx = zstandard.ZstdDecompressor()
        frame = _OneFrame(chunks)
        reader: Any = IterReader(frame)
        try:
            yield from dctx.read_to_iter(reader, read_size=OUTPUT_PIECE, write_size=OUTPUT_PIECE)
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd stream is malformed: {exc}") from None
        frame.check()


class _OneFrame:
    """The compressed pieces up to the end of the first frame; :meth:`check` says what was wrong."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._walker = FrameWalker()
        self._seen = 0
        self._extra = 0
        self._error: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._chunks:
                self._seen += len(chunk)
                if self._walker.done:
                    self._extra += len(chunk)
                    continue
                used = self._walker.feed(chunk)
                self._extra += len(chunk) - used
                # Whole bytes objects of at most one read each: python-zstandard 0.25
                # crashes on the memoryview slices IterReader makes of larger pieces.
                if used == len(chunk) <= OUTPUT_PIECE:
                    yield chunk
                    continue
                for at in range(0, used, OUTPUT_PIECE):
                    yield bytes(chunk[at : min(used, at + OUTPUT_PIECE)])
        except FrameError as exc:
            self._error = str(exc)

    def check(self) -> None:
        for chunk in self._chunks:  # the decompressor stops reading at the frame's end
            self._seen += len(chunk)
            self._extra += len(chunk)
        if self._error is not None:
            raise ValueError(f"zstd stream is malformed: {self._error}")
        if self._seen == 0:
            raise ValueError("zstd stream is empty (no frame)")
        if not self._walker.done:
            raise ValueError("zstd stream is incomplete (the frame is cut short)")
        if self._extra:
            raise ValueError(f"{self._extra} bytes follow the end of the zstd frame")
