"""Key envelopes: a file's stanzas stored apart from its data (docs/format.md, "Key envelope").

In a repository the data object's header carries no stanzas (flag
FLAG_DETACHED); they live in a small envelope object instead, so adding,
removing or rotating recipients rewrites a few hundred bytes and never the
data. Layout::

    magic        7   b"DBSEALK"
    version      1   1
    file_id      16  the data object's file id
    header_hash  32  SHA-256 of the data object's header bytes
    stanza_count 2,  stanzas (as in the header)
    mac          32  HMAC-SHA-256(header_mac_key, "dbseal/v1 envelope" || all bytes before mac)
    check        32  SHA-256(all bytes before check), no key
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from dbseal.errors import HeaderCorrupted, NotDbsealFile, TruncatedData, UnsupportedVersion
from dbseal.format.header import FILE_ID_LEN, Header
from dbseal.format.stanza import Stanza, StanzaFramingError, _Cursor, decode_stanzas, encode_stanzas

ENVELOPE_MAGIC = b"DBSEALK"
ENVELOPE_VERSION = 1
MAX_ENVELOPE_LEN = 1 << 20
_PREFIX = 7 + 1 + FILE_ID_LEN + 32


@dataclass(frozen=True)
class Envelope:
    file_id: bytes
    header_hash: bytes
    stanzas: list[Stanza]
    raw: bytes = b""

    def encode(self, header_mac_key: bytes) -> bytes:
        signed = (
            ENVELOPE_MAGIC
            + struct.pack(">B", ENVELOPE_VERSION)
            + self.file_id
            + self.header_hash
            + encode_stanzas(self.stanzas)
        )
        mac = hmac.new(header_mac_key, b"dbseal/v1 envelope" + signed, hashlib.sha256).digest()
        return signed + mac + hashlib.sha256(signed + mac).digest()

    def verify_mac(self, header_mac_key: bytes) -> None:
        signed, mac = self.raw[:-64], self.raw[-64:-32]
        want = hmac.new(header_mac_key, b"dbseal/v1 envelope" + signed, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, want):
            raise HeaderCorrupted("the key envelope failed authentication: it was modified")

    def check_matches(self, header: Header) -> None:
        """The envelope belongs to this data object (keyless check)."""
        if (
            self.file_id != header.file_id
            or self.header_hash != hashlib.sha256(header.raw).digest()
        ):
            raise HeaderCorrupted(
                "the key envelope belongs to another backup (file id or header differs)"
            )


def for_header(header_raw: bytes, file_id: bytes, stanzas: list[Stanza]) -> Envelope:
    return Envelope(file_id, hashlib.sha256(header_raw).digest(), stanzas)


def parse_envelope(raw: bytes) -> Envelope:
    if len(raw) < 8:
        if raw and ENVELOPE_MAGIC.startswith(raw[:7]):
            raise TruncatedData("the key envelope is truncated")
        raise NotDbsealFile("this is not a dbseal key envelope")
    if raw[:7] != ENVELOPE_MAGIC:
        raise NotDbsealFile("this is not a dbseal key envelope")
    if raw[7] != ENVELOPE_VERSION:
        raise UnsupportedVersion(f"key envelope version {raw[7]} is not supported")
    if len(raw) > MAX_ENVELOPE_LEN:
        raise HeaderCorrupted("the key envelope is too large")
    if len(raw) < _PREFIX + 2 + 64:
        raise TruncatedData("the key envelope is truncated")
    if hashlib.sha256(raw[:-32]).digest() != raw[-32:]:
        raise HeaderCorrupted("the key envelope is damaged (its checksum does not match)")
    cur = _Cursor(raw[:-64], 8)
    try:
        file_id, header_hash = cur.take(FILE_ID_LEN), cur.take(32)
        stanzas = decode_stanzas(cur)
        if cur.pos != len(cur.data):
            raise StanzaFramingError("unexpected bytes after the stanzas")
    except (StanzaFramingError, ValueError) as exc:
        raise HeaderCorrupted(f"the key envelope is malformed ({exc})") from None
    return Envelope(file_id, header_hash, stanzas, raw)
