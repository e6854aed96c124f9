"""The versioned header of a sealed file (docs/format.md, "Header").

Layout (all integers big-endian)::

    preamble (16 bytes)
      magic         7   b"DBSEAL\\x00"
      version       1   1
      header_len    4   length of the block that follows
      preamble_crc  4   CRC-32 of the 12 bytes before it
    block (header_len bytes)
      suite         1   1 = Cobblestone-256
      codec         1   see dbseal.codecs
      level         1   signed compression level (informational)
      flags         1   bit 0: stanzas detached into a key envelope; others 0
      file_id       16  random
      label_len     4,  label (UTF-8 JSON object)
      stanza_count  2,  stanzas
      mac           32  HMAC-SHA-256(header_mac_key, preamble || block up to here)
      check         32  SHA-256(preamble || block up to here), no key

The ``check`` lets a reader tell accidental damage from a wrong key before it
tries any key; the ``mac`` authenticates the header to holders of the data key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbseal.errors import (
    HeaderCorrupted,
    NotDbsealFile,
    TruncatedData,
    UnsupportedVersion,
)
from dbseal.format.stanza import Stanza, StanzaFramingError, _Cursor, decode_stanzas, encode_stanzas

MAGIC = b"DBSEAL\x00"
FORMAT_VERSION = 1
SUITE_COBBLESTONE256 = 1
SUITES = {SUITE_COBBLESTONE256: "cobblestone-256 (C2SP chunked AES-256-GCM, HKDF-SHA-512)"}
PREAMBLE_LEN = 16
MAX_HEADER_LEN = 1 << 20
MAX_LABEL_LEN = 1 << 16
FILE_ID_LEN = 16
DATA_KEY_LEN = 32
_FIXED_LEN = 4 + FILE_ID_LEN
_TAIL_LEN = 64
# suite..file_id, label_len, stanza_count, mac, check: the smallest block the grammar allows
MIN_HEADER_LEN = _FIXED_LEN + 4 + 2 + _TAIL_LEN  # 90
# The codec ids of docs/format.md 4.2 (dbseal.codecs implements them; a test keeps both equal).
CODEC_IDS = frozenset({0, 1, 2, 3})
FLAG_DETACHED = 0x01  # the stanzas live in a separate key envelope (format.envelope)
KNOWN_FLAGS = FLAG_DETACHED


@dataclass(frozen=True)
class SubKeys:
    header_mac: bytes
    payload: bytes


def derive_subkeys(data_key: bytes, file_id: bytes) -> SubKeys:
    """The header-MAC key and the payload key, both HKDF-SHA-256 of the data key."""

    def hkdf(info: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=file_id, info=info).derive(data_key)

    return SubKeys(hkdf(b"dbseal/v1 header-mac"), hkdf(b"dbseal/v1 payload"))


def payload_context(suite: int, codec: int, file_id: bytes) -> bytes:
    """The Cobblestone context string: binds the payload to this file and its codec."""
    return b"dbseal/v1 payload" + bytes([suite, codec]) + file_id


@dataclass(frozen=True)
class Header:
    suite: int
    codec: int
    level: int
    file_id: bytes
    label: dict[str, Any]
    stanzas: list[Stanza] = field(default_factory=list)
    flags: int = 0
    raw: bytes = b""  # the exact bytes read or written, MAC and check included

    @property
    def detached(self) -> bool:
        return bool(self.flags & FLAG_DETACHED)

    def _block_without_tail(self) -> bytes:
        label = json.dumps(self.label, sort_keys=True, separators=(",", ":")).encode()
        if len(label) > MAX_LABEL_LEN:
            raise ValueError("label too long")
        return (
            struct.pack(">BBbB", self.suite, self.codec, self.level, self.flags)
            + self.file_id
            + struct.pack(">I", len(label))
            + label
            + encode_stanzas(self.stanzas)
        )

    def encode(self, header_mac_key: bytes) -> bytes:
        """The header's bytes, with MAC and keyless check."""
        body = self._block_without_tail()
        header_len = len(body) + _TAIL_LEN
        if header_len > MAX_HEADER_LEN:
            raise ValueError("header too long")
        head = MAGIC + struct.pack(">BI", FORMAT_VERSION, header_len)
        preamble = head + struct.pack(">I", zlib.crc32(head))
        signed = preamble + body
        mac = hmac.new(header_mac_key, signed, hashlib.sha256).digest()
        check = hashlib.sha256(signed + mac).digest()
        return signed + mac + check

    def verify_mac(self, header_mac_key: bytes) -> None:
        signed, mac = self.raw[:-_TAIL_LEN], self.raw[-_TAIL_LEN:-32]
        expected = hmac.new(header_mac_key, signed, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise HeaderCorrupted("the header failed authentication: it was modified after sealing")


def _read_exact(src: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        b = src.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def read_header(src: BinaryIO) -> Header:
    """Read and structurally check a header; keys are not needed (the MAC is checked later)."""
    first = _read_exact(src, 8)
    if len(first) < 8:
        if first and MAGIC.startswith(first[:7]) and len(first) <= len(MAGIC) + 1:
            raise TruncatedData(f"the input ends after {len(first)} bytes, inside the header")
        raise NotDbsealFile("the input is empty" if not first else "the input is not a dbseal file")
    if first[:7] != MAGIC:
        raise NotDbsealFile("the input is not a dbseal file (no DBSEAL magic)")
    if first[7] != FORMAT_VERSION:
        raise UnsupportedVersion(
            f"format version {first[7]} is not supported (this dbseal reads version {FORMAT_VERSION})"
        )
    rest = _read_exact(src, PREAMBLE_LEN - 8)
    if len(rest) < PREAMBLE_LEN - 8:
        raise TruncatedData("the input ends inside the header")
    (header_len,) = struct.unpack(">I", rest[:4])
    (crc,) = struct.unpack(">I", rest[4:])
    if crc != zlib.crc32(first + rest[:4]):
        raise HeaderCorrupted("the header's preamble is damaged (its CRC-32 does not match)")
    if not MIN_HEADER_LEN <= header_len <= MAX_HEADER_LEN:
        raise HeaderCorrupted(
            f"the header length {header_len} is outside {MIN_HEADER_LEN}..{MAX_HEADER_LEN}"
        )
    block = _read_exact(src, header_len)
    if len(block) < header_len:
        raise TruncatedData(
            f"the input ends inside the header ({len(block)} of its {header_len} bytes)"
        )
    raw = first + rest + block
    if hashlib.sha256(raw[:-32]).digest() != raw[-32:]:
        raise HeaderCorrupted("the header is damaged (its checksum does not match)")
    return _parse_block(raw)


def _check_supported(raw: bytes) -> None:
    """Suite, codec and flags sit at fixed offsets: checked before the rest is parsed, so a
    later version that changes the block under a new suite or flag reads as unsupported."""
    suite, codec, _level, flags = raw[PREAMBLE_LEN : PREAMBLE_LEN + 4]
    if suite not in SUITES:
        raise UnsupportedVersion(f"cipher suite {suite} is not supported")
    if codec not in CODEC_IDS:
        raise UnsupportedVersion(f"compression codec id {codec} is not supported")
    if flags & ~KNOWN_FLAGS:
        raise UnsupportedVersion(f"header flags {flags:#x} are not supported")


def _parse_block(raw: bytes) -> Header:
    _check_supported(raw)
    cur = _Cursor(raw[: len(raw) - _TAIL_LEN], PREAMBLE_LEN)
    try:
        suite, codec, level, flags = struct.unpack(">BBbB", cur.take(4))
        file_id = cur.take(FILE_ID_LEN)
        label_len = cur.u32()
        if label_len > MAX_LABEL_LEN:
            raise StanzaFramingError("label too long")
        label_raw = cur.take(label_len)
        stanzas = decode_stanzas(cur)
        if cur.pos != len(cur.data):
            raise StanzaFramingError("unexpected bytes after the stanzas")
        label = json.loads(label_raw.decode("utf-8"))
        if not isinstance(label, dict):
            raise StanzaFramingError("label is not a JSON object")
    except (StanzaFramingError, ValueError, struct.error) as exc:
        raise HeaderCorrupted(f"the header is malformed ({exc})") from None
    if flags & FLAG_DETACHED and stanzas:
        raise HeaderCorrupted("the header is malformed (detached header with stanzas)")
    return Header(suite, codec, level, file_id, label, stanzas, flags, raw)
