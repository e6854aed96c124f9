"""Decrypting a payload and finding where it ends (docs/format.md, 4.3 and 6).

A reader with the key does not trust the file's length to say where the
payload ends: the payload says it itself. Full chunks (16 400 bytes) are
consumed while they authenticate at the next index; the chunk that follows
is the final chunk, whose length is the one candidate that authenticates
(the candidates are listed in :func:`final_candidates`). Whatever follows the
final chunk must be exactly the 48-byte trailer, with the right values.

Pieces are yielded only after they authenticated; the last piece is withheld
until the final chunk and the trailer have checked out, so a caller writing
to a temporary file renames it only after the generator is exhausted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from dbseal.errors import PayloadCorrupted, TrailerMismatch, TruncatedData
from dbseal.format.chunked import (
    MAX_FINAL_LEN,
    PREFIX_LEN,
    TAG_LEN,
    WIRE_CHUNK_LEN,
    ChunkCipher,
)
from dbseal.format.payload import READ_SIZE, TRAILER_LEN, TRAILER_MAGIC, Hasher, parse_trailer

# How much of what follows the last full chunk a reader keeps: the longest final
# chunk plus two trailers. Anything beyond is only counted (appended bytes).
TAIL_KEEP = MAX_FINAL_LEN + 2 * TRAILER_LEN  # (a second trailer is recognised)


def final_candidates(rest_len: int, head: bytes) -> list[int]:
    """Possible lengths of the final chunk, most likely first (docs/format.md, 4.3).

    ``rest_len`` counts every byte after the last full chunk; ``head`` is the first
    TAIL_KEEP of them. Candidates: the rest minus a whole trailer (a normal file),
    the whole rest (trailer removed), the rest minus 1..47 bytes (trailer cut short),
    and every offset where the trailer magic starts (bytes appended after the trailer).
    """
    ends = [rest_len - TRAILER_LEN, rest_len, *(rest_len - k for k in range(1, TRAILER_LEN))]
    at = head.find(TRAILER_MAGIC)
    while at != -1:
        ends.append(at)
        at = head.find(TRAILER_MAGIC, at + 1)
    seen: set[int] = set()
    out = []
    for n in ends:
        if TAG_LEN <= n <= min(MAX_FINAL_LEN, rest_len) and n not in seen:
            seen.add(n)
            out.append(n)
    return out


@dataclass
class _Tail:
    """What follows the last full chunk: its first TAIL_KEEP bytes, its length, its last 48."""

    head: bytes
    length: int
    last: bytes


class _Input:
    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.buf = b""
        self.eof = False

    def fill(self, n: int) -> None:
        """Read until at least ``n`` bytes are buffered or the input ends."""
        parts = [self.buf]
        have = len(self.buf)
        while have < n and not self.eof:
            block = self._src.read(max(READ_SIZE, n - have))
            if not block:
                self.eof = True
                break
            parts.append(bytes(block))
            have += len(block)
        self.buf = b"".join(parts)

    def drain_tail(self) -> _Tail:
        """Everything left: keep the first TAIL_KEEP bytes and the last TRAILER_LEN."""
        self.fill(TAIL_KEEP)
        head, length, last = self.buf[:TAIL_KEEP], len(self.buf), self.buf[-TRAILER_LEN:]
        self.buf = b""
        while not self.eof:
            block = self._src.read(READ_SIZE)
            if not block:
                self.eof = True
                break
            length += len(block)
            last = (last + bytes(block))[-TRAILER_LEN:]
        return _Tail(head, length, last)


def decrypt_payload(
    src: BinaryIO,
    header_raw: bytes,
    payload_key: bytes,
    context: bytes,
    hasher: Hasher | None = None,
) -> Iterator[bytes]:
    """Yield authenticated plaintext pieces (still compressed) read from ``src``.

    Raises PayloadCorrupted, TruncatedData or TrailerMismatch (docs/format.md, 6).
    """
    hasher = hasher if hasher is not None else hashlib.sha256()
    hasher.update(header_raw)
    inp = _Input(src)
    inp.fill(PREFIX_LEN)
    if len(inp.buf) < PREFIX_LEN:
        raise TruncatedData(
            f"the file ends {len(inp.buf)} bytes into the payload, before its first chunk"
        )
    cipher = ChunkCipher.for_prefix(payload_key, inp.buf[:PREFIX_LEN], context)
    if cipher is None:
        raise PayloadCorrupted(
            "the payload failed authentication: its salt or key commitment (first 56 bytes) "
            "is damaged"
        )
    hasher.update(inp.buf[:PREFIX_LEN])
    inp.buf = inp.buf[PREFIX_LEN:]
    payload_len, index = PREFIX_LEN, 0
    pending: bytes | None = None
    while True:
        inp.fill(WIRE_CHUNK_LEN)
        pieces, pos, failed = [], 0, False
        while len(inp.buf) - pos >= WIRE_CHUNK_LEN:
            plain = cipher.open(index, inp.buf[pos : pos + WIRE_CHUNK_LEN])
            if plain is None:
                failed = True  # not full chunk `index`: the final chunk starts here
                break
            pieces.append(plain)
            pos += WIRE_CHUNK_LEN
            index += 1
        if pos:
            hasher.update(inp.buf[:pos])
            payload_len += pos
            inp.buf = inp.buf[pos:]
            if pending:
                yield pending
            pending = b"".join(pieces)
        if failed or inp.eof:
            break
    last = _finish(cipher, index, inp.drain_tail(), payload_len, hasher)
    if pending:
        yield pending
    if last:
        yield last


def _finish(
    cipher: ChunkCipher, index: int, tail: _Tail, payload_len: int, hasher: Hasher
) -> bytes:
    """Find and authenticate the final chunk, then check what follows it is the trailer."""
    for n in final_candidates(tail.length, tail.head):
        plain = cipher.open(index, tail.head[:n])
        if plain is not None:
            break
    else:
        raise _no_final_chunk(index, tail)
    hasher.update(tail.head[:n])
    payload_len += n
    after = tail.length - n
    found = parse_trailer(tail.head[n : n + TRAILER_LEN])
    expected = (payload_len, hasher.digest())
    if after == TRAILER_LEN and found == expected:
        return plain
    raise TrailerMismatch(_trailer_problem(after, found, expected, tail.head[n:]))


def _trailer_problem(
    after: int, found: tuple[int, bytes] | None, expected: tuple[int, bytes], rest: bytes
) -> str:
    """What was found after an authenticated payload instead of its trailer."""
    complete = "the payload is complete and authentic, but "
    if after == 0:
        return complete + "its 48-byte trailer is missing"
    if after < TRAILER_LEN:
        return complete + f"its trailer is cut short ({after} of {TRAILER_LEN} bytes)"
    if after == TRAILER_LEN:
        if found is None:
            return complete + "its trailer is damaged (no DBSLEND magic)"
        return "the trailer's length or SHA-256 does not match the file"
    extra = after - TRAILER_LEN
    if found == expected:
        if rest[TRAILER_LEN : 2 * TRAILER_LEN] == rest[:TRAILER_LEN] and extra == TRAILER_LEN:
            return complete + "its trailer was written twice"
        return complete + f"{extra} bytes were appended after its trailer"
    return complete + f"{after} bytes follow it where a 48-byte trailer should be"


def _no_final_chunk(index: int, tail: _Tail) -> PayloadCorrupted | TruncatedData:
    """No final chunk authenticates: damage if the file ends with a trailer, else a cut."""
    if tail.length >= TRAILER_LEN and tail.last.startswith(TRAILER_MAGIC):
        return PayloadCorrupted(
            f"the payload failed authentication at chunk {index}: "
            "it is corrupted or was tampered with"
        )
    if tail.length == 0:
        return TruncatedData(
            f"the file ends after {index} full payload chunks: "
            "the final chunk and the trailer are missing"
        )
    return TruncatedData(
        f"the file ends early: payload chunk {index} is incomplete "
        f"({tail.length} bytes) and no trailer follows"
    )
