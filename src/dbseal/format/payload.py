"""The encrypted payload and the keyless trailer (docs/format.md, "Payload", "Trailer").

The payload is the Cobblestone-256 (C2SP chunked encryption) ciphertext of the
compressed plaintext. The trailer is 48 bytes with no key::

    b"DBSLEND\\x00" | payload_len u64 BE | SHA-256(header || payload)

Decryption, and finding where a damaged payload ends, is in
:mod:`dbseal.format.reader`; this module writes payloads and checks trailers
without a key.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from cryptography.cobblestone import Cobblestone256Encryptor

from dbseal.errors import TrailerMismatch, TruncatedData

TRAILER_MAGIC = b"DBSLEND\x00"
TRAILER_LEN = 48
READ_SIZE = 1 << 20


def encode_trailer(payload_len: int, file_sha256: bytes) -> bytes:
    return TRAILER_MAGIC + struct.pack(">Q", payload_len) + file_sha256


def parse_trailer(raw: bytes) -> tuple[int, bytes] | None:
    """(payload_len, sha256), or None when ``raw`` is not a trailer."""
    if len(raw) != TRAILER_LEN or raw[:8] != TRAILER_MAGIC:
        return None
    return struct.unpack(">Q", raw[8:16])[0], raw[16:]


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class PayloadWriter:
    """Encrypts plaintext pieces and writes header, payload and trailer to ``out``.

    ``hasher`` (SHA-256 by default) may be one that hashes on another thread.
    """

    def __init__(
        self,
        out: Writable,
        header: bytes,
        payload_key: bytes,
        context: bytes,
        hasher: Hasher | None = None,
    ) -> None:
        self._out = out
        self._enc = Cobblestone256Encryptor(payload_key, context)
        self._hash: Hasher = hasher if hasher is not None else hashlib.sha256()
        self._hash.update(header)
        self._payload_len = 0
        self.stored_bytes = 0
        self._write(header)
        self.stored_bytes = len(header)

    def _write(self, data: bytes) -> None:
        if data:
            self._out.write(data)

    def write(self, plaintext: bytes | memoryview) -> None:
        ct = self._enc.update(plaintext)
        if ct:
            self._hash.update(ct)
            self._payload_len += len(ct)
            self._write(ct)

    def finish(self) -> bytes:
        """Write the final chunk and the trailer; returns the file's SHA-256."""
        ct = self._enc.finalize()
        self._hash.update(ct)
        self._payload_len += len(ct)
        self._write(ct)
        digest = self._hash.digest()
        self._write(encode_trailer(self._payload_len, digest))
        self.stored_bytes += self._payload_len + TRAILER_LEN
        return digest


class _TailSplitter:
    """Reads ``src`` to EOF, yielding all but the final TRAILER_LEN bytes.

    Each yielded piece has been added to ``hasher``; after iteration ``tail``
    holds the last TRAILER_LEN bytes (or fewer, for a short input). Pieces are
    read-only views of freshly read blocks (no copies).
    """

    def __init__(self, src: BinaryIO, hasher: Hasher) -> None:
        self._src, self._hasher = src, hasher
        self.tail = b""

    def __iter__(self) -> Iterator[bytes | memoryview]:
        tail = b""
        while block := self._src.read(READ_SIZE):
            if len(block) >= TRAILER_LEN:
                if tail:
                    self._hasher.update(tail)
                    yield tail
                view = memoryview(block)
                piece: bytes | memoryview = view[:-TRAILER_LEN]
                tail = bytes(view[-TRAILER_LEN:])
            else:
                joined = tail + block
                piece, tail = joined[:-TRAILER_LEN], joined[-TRAILER_LEN:]
            if piece:
                self._hasher.update(piece)
                yield piece
        self.tail = tail


def check_integrity(
    src: BinaryIO, header_raw: bytes, hasher: Hasher | None = None
) -> tuple[int, bytes]:
    """Keyless check: recompute the trailer. Returns (payload_len, sha256)."""
    hasher = hasher if hasher is not None else hashlib.sha256()
    hasher.update(header_raw)
    payload_len = 0
    splitter = _TailSplitter(src, hasher)
    for piece in splitter:
        payload_len += len(piece)
    trailer = parse_trailer(splitter.tail)
    if trailer is None:
        raise TruncatedData(
            "the file does not end with a dbseal trailer: it is truncated or has extra bytes"
        )
    if trailer != (payload_len, hasher.digest()):
        raise TrailerMismatch("the trailer's length or SHA-256 does not match the file")
    return trailer
