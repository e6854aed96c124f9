"""Codecs behind one small interface, looked up by name or wire id."""

from __future__ import annotations

import os

from dbseal.codecs.base import Codec, Compressor
from dbseal.codecs.gzip import GzipCodec
from dbseal.codecs.lz4 import Lz4Codec
from dbseal.codecs.none import NoneCodec
from dbseal.codecs.zstd import ZstdCodec
from dbseal.errors import UnsupportedVersion, UsageError

_BY_NAME = {c.name: c for c in (ZstdCodec, Lz4Codec, GzipCodec, NoneCodec)}
_BY_ID = {c.codec_id: c for c in (ZstdCodec, Lz4Codec, GzipCodec, NoneCodec)}

__all__ = ["Codec", "Compressor", "backup_threads", "codec_by_id", "parse_codec"]


def parse_codec(spec: str, threads: int | None = None) -> Codec:
    """``zstd``, ``zstd:19``, ``lz4``, ``gzip:9``, ``none``.

    ``threads``: compression worker threads for codecs that have them (zstd; 0 compresses
    on the calling thread; default one per core).
    """
    name, _, level = spec.partition(":")
    cls = _BY_NAME.get(name.strip().lower())
    if cls is None:
        raise UsageError(f"unknown compression {name!r}", hint="use one of: " + ", ".join(_BY_NAME))
    try:
        lvl = int(level) if level else None
        if cls is ZstdCodec:
            return ZstdCodec(lvl, threads)
        return cls(lvl) if lvl is not None else cls()
    except ValueError as exc:
        raise UsageError(f"bad compression {spec!r}: {exc}") from None


def backup_threads() -> int:
    """zstd workers for a backup: the cores the dump leaves (it keeps about 2 busy itself).

    Measured on 2 cores (docs/benchmarks.md): two workers beside mariadb-dump and the
    server cost more time than compressing on dbseal's own thread.
    """
    return max(0, (os.cpu_count() or 1) - 2)


def codec_by_id(codec_id: int, level: int | None = None) -> Codec:
    cls = _BY_ID.get(codec_id)
    if cls is None:
        raise UnsupportedVersion(f"compression codec id {codec_id} is not supported")
    return cls()
