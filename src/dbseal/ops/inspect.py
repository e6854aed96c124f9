"""Describe a sealed file without any key (the seeds' ``ndbxfrm -i``, made useful)."""

from __future__ import annotations

from typing import Any, BinaryIO

from dbseal.codecs import codec_by_id
from dbseal.crypto.recipients import describe_stanza
from dbseal.errors import FormatError, UnsupportedVersion
from dbseal.format.header import FORMAT_VERSION, PREAMBLE_LEN, SUITES, read_header
from dbseal.format.payload import TRAILER_LEN, check_integrity


def inspect_stream(src: BinaryIO) -> dict[str, Any]:
    """Header facts plus the keyless trailer check. Header errors raise; trailer errors are reported."""
    header = read_header(src)
    try:
        codec: str = codec_by_id(header.codec).name
    except UnsupportedVersion:
        codec = f"unknown ({header.codec})"
    info: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "suite": SUITES[header.suite],
        "compression": codec,
        "compression_level": header.level,
        "file_id": header.file_id.hex(),
        "label": header.label,
        "stanzas": [describe_stanza(s) for s in header.stanzas],
        "header_bytes": len(header.raw),
    }
    try:
        payload_len, digest = check_integrity(src, header.raw)
    except FormatError as exc:
        info.update(integrity="FAILED", integrity_error=exc.message, error_class=type(exc).__name__)
    else:
        info.update(
            integrity="ok",
            payload_bytes=payload_len,
            file_bytes=len(header.raw) + payload_len + TRAILER_LEN,
            sha256=digest.hex(),
        )
    assert len(header.raw) >= PREAMBLE_LEN
    return info
