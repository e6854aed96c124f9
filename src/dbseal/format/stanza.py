"""Key stanzas: one wrapped copy of a file's data key, for one recipient.

A stanza is typed (``x25519``, ``argon2id``, ``keyring``, ...), has a few
binary arguments (salts, public keys, key names) and a body (the wrapped data
key). The format only frames stanzas; what they mean is the business of the
recipient implementations in :mod:`dbseal.crypto`, which check exact lengths.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

MAX_STANZAS = 255
MAX_ARGS = 16
MAX_ARG_LEN = 4096
MAX_BODY_LEN = 65535
_TYPE_RE = re.compile(rb"[a-z0-9][a-z0-9.\-]{0,63}")


class StanzaFramingError(ValueError):
    """Raised by :func:`decode_stanzas` on malformed bytes (mapped to a header error)."""


@dataclass(frozen=True)
class Stanza:
    type: str
    args: tuple[bytes, ...]
    body: bytes

    def __post_init__(self) -> None:
        if not _TYPE_RE.fullmatch(self.type.encode("ascii", "replace")):
            raise ValueError(f"invalid stanza type {self.type!r}")
        if len(self.args) > MAX_ARGS or any(len(a) > MAX_ARG_LEN for a in self.args):
            raise ValueError("stanza arguments too many or too long")
        if len(self.body) > MAX_BODY_LEN:
            raise ValueError("stanza body too long")

    def encode(self) -> bytes:
        t = self.type.encode("ascii")
        parts = [struct.pack(">B", len(t)), t, struct.pack(">B", len(self.args))]
        for a in self.args:
            parts += [struct.pack(">H", len(a)), a]
        parts += [struct.pack(">H", len(self.body)), self.body]
        return b"".join(parts)


def encode_stanzas(stanzas: list[Stanza]) -> bytes:
    if not 0 <= len(stanzas) <= MAX_STANZAS:
        raise ValueError("too many stanzas")
    return struct.pack(">H", len(stanzas)) + b"".join(s.encode() for s in stanzas)


class _Cursor:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise StanzaFramingError("field runs past the end of the header")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])


def decode_stanzas(cur: _Cursor) -> list[Stanza]:
    count = cur.u16()
    if count > MAX_STANZAS:
        raise StanzaFramingError("too many stanzas")
    out = []
    for _ in range(count):
        raw_type = cur.take(cur.u8())
        if not _TYPE_RE.fullmatch(raw_type):
            raise StanzaFramingError("invalid stanza type")
        nargs = cur.u8()
        if nargs > MAX_ARGS:
            raise StanzaFramingError("too many stanza arguments")
        args = tuple(cur.take(cur.u16()) for _ in range(nargs))
        if any(len(a) > MAX_ARG_LEN for a in args):
            raise StanzaFramingError("stanza argument too long")
        body = cur.take(cur.u16())
        out.append(Stanza(raw_type.decode("ascii"), args, body))
    return out
