"""No compression: for data that is already compressed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from dbseal.codecs.base import Compressor


class _Identity:
    def compress(self, data: bytes | memoryview) -> bytes:
        return bytes(data) if isinstance(data, memoryview) else data

    def flush(self) -> bytes:
        return b""


class NoneCodec:
    codec_id: ClassVar[int] = 0
    name: ClassVar[str] = "none"

    def __init__(self, level: int | None = None) -> None:
        self.level = 0

    def compressor(self) -> Compressor:
        return _Identity()

    def decompress(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        yield from chunks
