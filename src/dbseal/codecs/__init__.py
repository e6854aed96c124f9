"""Codecs behind one small interface, looked up by name or wire id."""

from __future__ import annotations

from dbseal.codecs.base import Codec, Compressor
from dbseal.codecs.gzip import GzipCodec
from dbseal.codecs.lz4 import Lz4Codec
from dbseal.codecs.none import NoneCodec
from dbseal.codecs.zstd import ZstdCodec
from dbseal.errors import UnsupportedVersion, UsageError

_BY_NAME = {c.name: c for c in (ZstdCodec, Lz4Codec, GzipCodec, NoneCodec)}
_BY_ID = {c.codec_id: c for c in (ZstdCodec, Lz4Codec, GzipCodec, NoneCodec)}

__all__ = ["Codec", "Compressor", "codec_by_id", "parse_codec"]


def parse_codec(spec: str) -> Codec:
    """``zstd``, ``zstd:19``, ``lz4``, ``gzip:9``, ``none``."""
    name, _, level = spec.partition(":")
    cls = _BY_NAME.get(name.strip().lower())
    if cls is None:
        raise UsageError(f"unknown compression {name!r}", hint="use one of: " + ", ".join(_BY_NAME))
    try:
        return cls(int(level)) if level else cls()
    except ValueError as exc:
        raise UsageError(f"bad compression {spec!r}: {exc}") from None


def codec_by_id(codec_id: int, level: int | None = None) -> Codec:
    cls = _BY_ID.get(codec_id)
    if cls is None:
        raise UnsupportedVersion(f"compression codec id {codec_id} is not supported")
    return cls()
