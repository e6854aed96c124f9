"""Where the payload ends (docs/format.md 4.3) and strict decompression (4.2), with the key.

Issue 19: a removed trailer, bytes appended after it, or a cut inside it must read as a
damaged trailer (exit 6) with a message that says what was found, never as "truncated"
(7) or "payload corrupted"; a payload that authenticates but holds a malformed compressed
stream must fail, never restore silently.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from cryptography.cobblestone import Cobblestone256Decryptor

from dbseal.codecs import parse_codec
from dbseal.crypto.x25519 import X25519Identity
from dbseal.errors import DbsealError, PayloadCorrupted, TrailerMismatch, TruncatedData
from dbseal.format.chunked import ChunkCipher, derive_chunk_keys
from dbseal.format.header import (
    DATA_KEY_LEN,
    FILE_ID_LEN,
    SUITE_COBBLESTONE256,
    Header,
    derive_subkeys,
    payload_context,
    read_header,
)
from dbseal.format.payload import PayloadWriter, check_integrity
from dbseal.format.stanza import Stanza
from unit.sealkit import CHUNK, open_bytes, random_bytes, seal_bytes, split

IDENT = X25519Identity(bytes(range(32)))
SIZES = [0, 100, CHUNK - 1, CHUNK, 2 * CHUNK + 5, 3 * CHUNK - 40]


def _open(data: bytes) -> bytes:
    return open_bytes(data, [IDENT])


def _fails(data: bytes) -> DbsealError:
    with pytest.raises(DbsealError) as exc:
        _open(data)
    return exc.value


@pytest.fixture(scope="module", params=SIZES, ids=[f"{n}B" for n in SIZES])
def sealed(request: pytest.FixtureRequest) -> bytes:
    return seal_bytes(random_bytes(request.param, seed=7), [IDENT.recipient()], "none")


def test_control_the_undamaged_file_opens(sealed: bytes) -> None:
    assert len(_open(sealed)) in SIZES


def test_removed_trailer_is_a_missing_trailer_not_a_truncation(sealed: bytes) -> None:
    err = _fails(sealed[:-48])
    assert type(err) is TrailerMismatch and err.exit_code == 6
    assert "trailer is missing" in err.message


@pytest.mark.parametrize("kept", [1, 7, 8, 16, 47])
def test_cut_inside_the_trailer_says_how_much_of_it_is_left(sealed: bytes, kept: int) -> None:
    err = _fails(sealed[: len(sealed) - 48 + kept])
    assert type(err) is TrailerMismatch and err.exit_code == 6
    assert f"cut short ({kept} of 48 bytes)" in err.message


@pytest.mark.parametrize("extra", [1, 47, 100, 16400, 16447, 40000])
def test_appended_bytes_are_counted_whatever_their_number(sealed: bytes, extra: int) -> None:
    err = _fails(sealed + os.urandom(extra))
    assert type(err) is TrailerMismatch and err.exit_code == 6
    assert f"{extra} bytes were appended after its trailer" in err.message


def test_trailer_written_twice(sealed: bytes) -> None:
    err = _fails(sealed + sealed[-48:])
    assert type(err) is TrailerMismatch and "written twice" in err.message


def test_cut_inside_the_payload_is_still_truncated(sealed: bytes) -> None:
    parts = split(sealed)
    for cut in (1, 17, 48 + 16, len(parts.payload) // 2):
        if cut >= len(parts.payload):
            continue
        err = _fails(sealed[: len(sealed) - 48 - cut])
        assert type(err) is TruncatedData and err.exit_code == 7, cut
        assert "ends" in err.message


def test_cut_after_the_last_full_chunk_names_the_missing_final_chunk() -> None:
    sealed = seal_bytes(random_bytes(2 * CHUNK + 10, seed=3), [IDENT.recipient()], "none")
    hlen = len(split(sealed).header.raw)
    err = _fails(sealed[: hlen + 56 + 2 * (CHUNK + 16)])
    assert type(err) is TruncatedData
    assert "after 2 full payload chunks" in err.message


def test_damaged_chunk_before_an_intact_trailer_is_payload_corrupted() -> None:
    sealed = bytearray(seal_bytes(random_bytes(3 * CHUNK, seed=4), [IDENT.recipient()], "none"))
    hlen = len(split(bytes(sealed)).header.raw)
    sealed[hlen + 56 + CHUNK + 100] ^= 1
    err = _fails(bytes(sealed))
    assert type(err) is PayloadCorrupted and "chunk 1" in err.message


def test_chunk_cipher_is_the_c2sp_construction() -> None:
    """The reader's own chunk decryption and the writer's Cobblestone agree, byte for byte."""
    key, salt, ctx = os.urandom(32), os.urandom(24), b"dbseal/v1 payload test"
    cipher = ChunkCipher(derive_chunk_keys(key, salt, ctx))
    plain = random_bytes(CHUNK + 9, seed=1)
    ct = salt + cipher.keys.commitment
    ct += cipher.seal(0, plain[:CHUNK]) + cipher.seal(1, plain[CHUNK:])
    dec = Cobblestone256Decryptor(key, ctx)
    assert dec.update(ct) + dec.finalize() == plain


# --- 4.2: a payload that authenticates but does not decompress --------------------------------


def _seal_stream(codec: str, compressed: bytes) -> bytes:
    """A correctly sealed file whose authenticated payload is ``compressed`` verbatim."""
    c = parse_codec(codec)
    data_key, fid = os.urandom(DATA_KEY_LEN), os.urandom(FILE_ID_LEN)
    sub = derive_subkeys(data_key, fid)
    stanzas: list[Stanza] = IDENT.recipient().wrap(data_key, fid)
    header = Header(SUITE_COBBLESTONE256, c.codec_id, c.level, fid, {"t": 1}, stanzas)
    raw = header.encode(sub.header_mac)
    out = io.BytesIO()
    writer = PayloadWriter(
        out, raw, sub.payload, payload_context(SUITE_COBBLESTONE256, c.codec_id, fid)
    )
    writer.write(compressed)
    writer.finish()
    return out.getvalue()


def _compress(codec: str, data: bytes) -> bytes:
    comp = parse_codec(codec).compressor()
    return comp.compress(data) + comp.flush()


def _frames(codec: str) -> dict[str, bytes]:
    one = _compress(codec, b"INSERT INTO t VALUES (1);\n" * 500)
    return {
        "two-frames": one + _compress(codec, b"more\n"),
        "trailing-bytes": one + b"\x00junk",
        "cut-short": one[: len(one) - 5],
        "cut-to-half": one[: len(one) // 2],
        "empty": b"",
        "not-a-stream": b"INSERT INTO t VALUES (1);\n",
    }


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
@pytest.mark.parametrize(
    "case", ["two-frames", "trailing-bytes", "cut-short", "cut-to-half", "empty", "not-a-stream"]
)
def test_authenticated_but_malformed_stream_is_payload_corrupted(codec: str, case: str) -> None:
    err = _fails(_seal_stream(codec, _frames(codec)[case]))
    assert type(err) is PayloadCorrupted and err.exit_code == 6
    assert "authenticates but does not decompress" in err.message


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
def test_control_a_single_complete_stream_opens(codec: str) -> None:
    assert _open(_seal_stream(codec, _compress(codec, b"abc" * 1000))) == b"abc" * 1000


# --- 4.3, last paragraph: the keyless checker's rule ------------------------------------------


@pytest.mark.parametrize(
    ("edit", "cls"),
    [
        (lambda s: s + s[-48:], TrailerMismatch),  # written twice: the last 48 bytes are a trailer
        (lambda s: s[:-1] + bytes([s[-1] ^ 1]), TrailerMismatch),  # a damaged SHA-256
        (lambda s: s + b"\x00" * 5, TruncatedData),  # appended: no trailer at the end
        (lambda s: s[:-48] + bytes([s[-48] ^ 1]) + s[-47:], TruncatedData),  # damaged magic
        (lambda s: s[:-48], TruncatedData),  # removed
    ],
    ids=["twice", "sha", "appended", "magic", "removed"],
)
def test_keyless_checker_takes_the_last_48_bytes_as_the_trailer(edit: Any, cls: type) -> None:
    sealed = seal_bytes(b"keyless\n" * 50, [IDENT.recipient()], "gzip")
    damaged = edit(sealed)
    src = io.BytesIO(damaged)
    header = read_header(src)
    with pytest.raises(cls):
        check_integrity(src, header.raw)
