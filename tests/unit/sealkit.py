"""Helpers for the unit tests: seal and open bytes, split sealed files, forge headers.

Nothing here replaces the crypto or the files: sealing and opening go through
the real ``dbseal.ops.seal`` functions; forging only does what an attacker or a
bit flip could do to the bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from dbseal.codecs import parse_codec
from dbseal.crypto.passphrase import KdfParams
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.format.header import (
    DATA_KEY_LEN,
    FILE_ID_LEN,
    MAGIC,
    SUITE_COBBLESTONE256,
    Header,
    derive_subkeys,
    payload_context,
    read_header,
)
from dbseal.format.payload import TRAILER_LEN, PayloadWriter, encode_trailer
from dbseal.format.stanza import Stanza
from dbseal.ops.seal import open_sealed, seal_stream

# The cheapest Argon2id cost a reader accepts: keeps passphrase tests fast.
FAST_KDF = KdfParams(19456, 2, 1)
CHUNK = 16384  # Cobblestone plaintext chunk
READ_SIZE = 1 << 20  # dbseal's read block


def seal_bytes(
    plaintext: bytes,
    recipients: Sequence[Recipient],
    codec: str = "zstd",
    label: dict[str, Any] | None = None,
) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(plaintext), out, recipients, parse_codec(codec), label)
    return out.getvalue()


def open_bytes(sealed: bytes, identities: Sequence[Identity]) -> bytes:
    _header, pieces = open_sealed(io.BytesIO(sealed), identities)
    return b"".join(pieces)


@dataclasses.dataclass(frozen=True)
class Parts:
    header: Header
    payload: bytes
    trailer: bytes


def split(sealed: bytes) -> Parts:
    header = read_header(io.BytesIO(sealed))
    return Parts(header, sealed[len(header.raw) : -TRAILER_LEN], sealed[-TRAILER_LEN:])


def with_trailer(header_raw: bytes, payload: bytes) -> bytes:
    """header || payload || a correct keyless trailer (anyone can compute it)."""
    digest = hashlib.sha256(header_raw + payload).digest()
    return header_raw + payload + encode_trailer(len(payload), digest)


def reforge(sealed: bytes, **changes: Any) -> bytes:
    """Change header fields as someone WITHOUT the data key can.

    The keyless check and the trailer are recomputed, so only the header MAC
    (made here with a random key) can reveal the change.
    """
    parts = split(sealed)
    header = dataclasses.replace(parts.header, **changes)
    return with_trailer(header.encode(os.urandom(32)), parts.payload)


def seal_custom(
    plaintext: bytes,
    stanzas_for: Callable[[bytes, bytes], list[Stanza]],
    *,
    codec: str = "none",
    suite: int = SUITE_COBBLESTONE256,
    codec_id: int | None = None,
    flags: int = 0,
    label: dict[str, Any] | None = None,
    file_id: bytes | None = None,
) -> bytes:
    """A file with a CORRECT MAC for header contents the writer never produces."""
    c = parse_codec(codec)
    cid = c.codec_id if codec_id is None else codec_id
    data_key = os.urandom(DATA_KEY_LEN)
    fid = file_id or os.urandom(FILE_ID_LEN)
    keys = derive_subkeys(data_key, fid)
    header = Header(
        suite, cid, c.level, fid, label or {"tool": "test"}, stanzas_for(data_key, fid), flags
    )
    raw = header.encode(keys.header_mac)
    out = io.BytesIO()
    writer = PayloadWriter(out, raw, keys.payload, payload_context(suite, cid, fid))
    comp = c.compressor()
    writer.write(comp.compress(plaintext))
    writer.write(comp.flush())
    writer.finish()
    return out.getvalue()


def forge_raw_header(body: bytes, *, version: int = 1, header_len: int | None = None) -> bytes:
    """Preamble || body || random MAC || correct check: any block bytes, keyless check fixed."""
    if header_len is None:
        header_len = len(body) + 64
    head = MAGIC + struct.pack(">BI", version, header_len)
    signed = head + struct.pack(">I", zlib.crc32(head)) + body
    mac = os.urandom(32)
    return signed + mac + hashlib.sha256(signed + mac).digest()


def block_body(
    *,
    suite: int = 1,
    codec: int = 0,
    level: int = 0,
    flags: int = 0,
    label: bytes = b"{}",
    stanzas: bytes = b"\x00\x00",
) -> bytes:
    """The header block up to the MAC, from raw field values."""
    return (
        struct.pack(">BBbB", suite, codec, level, flags)
        + os.urandom(FILE_ID_LEN)
        + struct.pack(">I", len(label))
        + label
        + stanzas
    )


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def sql_text(approx_bytes: int, seed: int = 0) -> bytes:
    """Compressible text that looks like a mysqldump."""
    rng = random.Random(seed)
    names = ["alice", "bob", "carol", "dave", "eve", "mallory", "trent", "peggy"]
    lines = [b"-- MariaDB dump 10.19\n", b"CREATE TABLE `t` (`id` int, `name` text, `n` int);\n"]
    size = sum(map(len, lines))
    i = 0
    while size < approx_bytes:
        i += 1
        line = (
            f"INSERT INTO `t` VALUES ({i},'{rng.choice(names)}-{rng.randrange(10**6)}',"
            f"{rng.randrange(-(10**9), 10**9)});\n"
        ).encode()
        lines.append(line)
        size += len(line)
    return b"".join(lines)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``dbseal ARGV`` in this process: (exit code, stdout, stderr).

    main() hardens the process it runs in (core limit 0, irreversibly without
    CAP_SYS_RESOURCE), so call this in a worker process, not in pytest itself.
    """
    from dbseal.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()
