"""The header: round trip, and every way a header can be wrong mapped to the right error.

The error classes are what the user sees as exit codes (docs/format.md, section 6):
not a dbseal file 3, unsupported version 4, header corrupted 6, truncated 7.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib

import pytest

from dbseal.crypto.x25519 import X25519Identity
from dbseal.errors import (
    HeaderCorrupted,
    NoMatchingKey,
    NotDbsealFile,
    TruncatedData,
    UnsupportedVersion,
)
from dbseal.format.header import MAGIC, Header, read_header
from dbseal.format.stanza import Stanza
from dbseal.ops.inspect import inspect_stream
from unit.sealkit import (
    block_body,
    forge_raw_header,
    open_bytes,
    reforge,
    seal_bytes,
    split,
    with_trailer,
)


def _read(data: bytes) -> Header:
    return read_header(io.BytesIO(data))


@pytest.fixture(scope="module")
def ident() -> X25519Identity:
    return X25519Identity.generate()


@pytest.fixture(scope="module")
def sealed(ident: X25519Identity) -> bytes:
    return seal_bytes(b"SELECT 1;\n" * 50, [ident.recipient()], "zstd")


# --- round trip -------------------------------------------------------------------------


def test_encode_then_read_returns_every_field_and_stops_at_the_payload() -> None:
    key = os.urandom(32)
    stanzas = [
        Stanza("x25519", (os.urandom(32), os.urandom(32)), os.urandom(48)),
        Stanza("future-kms.v2", (b"", b"arn:aws:kms:eu-west-1:1:key/x"), b"\x00" * 300),
    ]
    header = Header(1, 3, -7, os.urandom(16), {"tool": "t", "host": "db-ü1", "n": 3}, stanzas)
    raw = header.encode(key)
    stream = io.BytesIO(raw + b"PAYLOAD")

    got = read_header(stream)

    assert (got.suite, got.codec, got.level, got.flags) == (1, 3, -7, 0)
    assert got.file_id == header.file_id
    assert got.label == {"tool": "t", "host": "db-ü1", "n": 3}
    assert got.stanzas == stanzas
    assert got.raw == raw
    assert stream.read() == b"PAYLOAD", "read_header must consume exactly the header"
    got.verify_mac(key)
    with pytest.raises(HeaderCorrupted):
        got.verify_mac(os.urandom(32))


def test_preamble_fields_follow_the_spec() -> None:
    raw = Header(1, 0, 0, bytes(16), {"a": 1, "b": [2]}, []).encode(os.urandom(32))
    version, header_len, crc = struct.unpack(">BII", raw[7:16])
    assert raw[:7] == b"DBSEAL\x00"
    assert version == 1
    assert header_len == len(raw) - 16
    assert crc == zlib.crc32(raw[:12])
    assert b'{"a":1,"b":[2]}' in raw, "writers sort keys and use no whitespace"


def test_header_of_a_real_file_reads_back(sealed: bytes, ident: X25519Identity) -> None:
    header = _read(sealed)
    assert header.label["tool"].startswith("dbseal ")
    assert [s.type for s in header.stanzas] == ["x25519"]
    assert header.stanzas[0].args[1] == ident.public


# --- not a dbseal file (3) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is not a backup\n",
        b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n" * 3,
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(40),  # gzip
        b"age-encryption.org/v1\n-> X25519 abc\n",  # an age file
        b"dbseal\x00\x01" + bytes(40),  # magic is case-sensitive
        b"DBSEAX\x00\x01" + bytes(40),
        b"X",
        b"DBX",
    ],
    ids=["empty", "text", "sql", "gzip", "age", "lowercase", "almost", "one-byte", "bad-prefix"],
)
def test_input_that_is_not_a_dbseal_file(data: bytes) -> None:
    with pytest.raises(NotDbsealFile) as exc:
        _read(data)
    assert exc.value.exit_code == 3


# --- unsupported version (4) ----------------------------------------------------------------


def _set_version(sealed: bytes, version: int) -> bytes:
    head = MAGIC + bytes([version]) + sealed[8:12]
    return head + struct.pack(">I", zlib.crc32(head)) + sealed[16:]


@pytest.mark.parametrize("version", [0, 2, 255])
def test_other_format_version_is_unsupported(sealed: bytes, version: int) -> None:
    with pytest.raises(UnsupportedVersion) as exc:
        _read(_set_version(sealed, version))
    assert exc.value.exit_code == 4
    assert str(version) in exc.value.message


def test_version_2_is_recognised_from_the_first_8_bytes_alone() -> None:
    with pytest.raises(UnsupportedVersion):
        _read(MAGIC + b"\x02")


@pytest.mark.parametrize("suite", [0, 2, 255])
def test_unknown_cipher_suite_is_unsupported(sealed: bytes, suite: int) -> None:
    with pytest.raises(UnsupportedVersion) as exc:
        _read(reforge(sealed, suite=suite))
    assert exc.value.exit_code == 4


@pytest.mark.parametrize("flags", [0x02, 0x80, 0xFE])
def test_unknown_header_flags_are_unsupported(sealed: bytes, flags: int) -> None:
    with pytest.raises(UnsupportedVersion):
        _read(reforge(sealed, flags=flags))


def test_unknown_codec_is_unsupported_when_opening(sealed: bytes, ident: X25519Identity) -> None:
    forged = reforge(sealed, codec=9)
    with pytest.raises(UnsupportedVersion) as exc:
        open_bytes(forged, [ident])
    assert exc.value.exit_code == 4


@pytest.mark.parametrize("field", ["suite", "codec", "flags"])
def test_unknown_suite_codec_or_flags_win_over_a_broken_structure(field: str) -> None:
    """Spec 3.2: suite, codec and flags are checked before the structural parse, so a later
    version that changes the block's layout reads as unsupported (4), not corrupted (6)."""
    values = {"suite": 1, "codec": 0, "flags": 0}
    values[field] = 0x40
    body = block_body(**values, stanzas=b"\x00\x01\x06X25519")  # and a broken stanza
    with pytest.raises(UnsupportedVersion) as exc:
        _read(forge_raw_header(body) + bytes(100))
    assert exc.value.exit_code == 4


def test_codec_ids_in_the_header_are_the_codecs_dbseal_implements() -> None:
    from dbseal.codecs import _BY_ID
    from dbseal.format.header import CODEC_IDS

    assert set(_BY_ID) == CODEC_IDS


# --- truncated (7) ---------------------------------------------------------------------------


def test_truncated_inside_the_header(sealed: bytes) -> None:
    hlen = len(_read(sealed).raw)
    for n in [1, 2, 6, 7, 8, 9, 11, 12, 15, 16, 17, 20, 40, hlen - 64, hlen - 33, hlen - 1]:
        with pytest.raises(TruncatedData) as exc:
            _read(sealed[:n])
        assert exc.value.exit_code == 7, n


# --- header corrupted (6) --------------------------------------------------------------------


def test_every_damaged_preamble_length_or_crc_byte_is_header_corrupted(sealed: bytes) -> None:
    for pos in range(8, 16):
        for mask in (0x01, 0x80, 0xFF):
            damaged = bytearray(sealed)
            damaged[pos] ^= mask
            with pytest.raises(HeaderCorrupted):
                _read(bytes(damaged))


@pytest.mark.parametrize("header_len", [0, 83, 84, 89, (1 << 20) + 1, 0xFFFFFFFF])
def test_header_length_out_of_range_is_corrupted_even_with_a_good_crc(header_len: int) -> None:
    head = MAGIC + struct.pack(">BI", 1, header_len)
    data = head + struct.pack(">I", zlib.crc32(head)) + bytes(200)
    with pytest.raises(HeaderCorrupted):
        _read(data)


def test_header_length_at_the_1mib_limit_is_accepted_then_runs_out_of_data() -> None:
    head = MAGIC + struct.pack(">BI", 1, 1 << 20)
    data = head + struct.pack(">I", zlib.crc32(head)) + bytes(200)
    with pytest.raises(TruncatedData):
        _read(data)


def test_every_damaged_byte_in_the_header_block_is_header_corrupted(sealed: bytes) -> None:
    """Fixed fields, label, stanzas, MAC and check: the keyless check catches them all."""
    hlen = len(_read(sealed).raw)
    for pos in range(16, hlen):
        damaged = bytearray(sealed)
        damaged[pos] ^= 0x04
        with pytest.raises(HeaderCorrupted):
            _read(bytes(damaged))


@pytest.mark.parametrize(
    "body",
    [
        block_body(stanzas=b"\x00\x00" + b"junk"),
        block_body(label=b"[1, 2]"),
        block_body(label=b'"a string"'),
        block_body(label=b"{not json"),
        block_body(label=b'{"a": "\xff\xfe"}'),
        block_body()[:20] + struct.pack(">I", 10**6) + b"{}\x00\x00",
        block_body(stanzas=b"\x00\x02" + Stanza("x", (), b"").encode()),
        block_body(stanzas=b"\x01\x00"),  # 256 stanzas
        block_body(stanzas=b"\x00\x01\x06X25519\x00\x00\x00"),  # upper-case type
        block_body(stanzas=b"\x00\x01\x00\x00\x00\x00"),  # empty type
        block_body(stanzas=b"\x00\x01\x01x\x00\xff\xff"),  # body runs past the end
        block_body()[:20],  # nothing after the file id
    ],
    ids=[
        "bytes-after-stanzas",
        "label-array",
        "label-string",
        "label-not-json",
        "label-not-utf8",
        "label-len-too-big",
        "stanza-count-too-big",
        "256-stanzas",
        "bad-stanza-type",
        "empty-stanza-type",
        "stanza-body-overruns",
        "no-label",
    ],
)
def test_malformed_block_with_a_valid_check_is_header_corrupted(body: bytes) -> None:
    with pytest.raises(HeaderCorrupted) as exc:
        _read(forge_raw_header(body) + bytes(100))
    assert exc.value.exit_code == 6


def test_well_formed_forged_block_parses() -> None:
    """Control for the test above: the forging helper itself makes readable headers."""
    header = _read(forge_raw_header(block_body(label=b'{"k":"v"}')))
    assert header.label == {"k": "v"}


# --- tampering by someone without the key: only the MAC can tell -------------------------------


def _two_recipient_file(a: X25519Identity, b: X25519Identity) -> bytes:
    return seal_bytes(b"payload for two\n", [a.recipient(), b.recipient()], "gzip")


@pytest.mark.parametrize(
    "edit",
    ["label", "level", "extra-stanza", "drop-stanza", "reorder-stanzas", "mac"],
)
def test_header_edit_with_recomputed_check_is_caught_by_the_mac(
    ident: X25519Identity, edit: str
) -> None:
    other = X25519Identity.generate()
    sealed = _two_recipient_file(ident, other)
    assert open_bytes(sealed, [ident]) == b"payload for two\n"  # control
    header = split(sealed).header
    if edit == "label":
        forged = reforge(sealed, label={**header.label, "note": "restored from a trusted copy"})
    elif edit == "level":
        forged = reforge(sealed, level=header.level + 1)
    elif edit == "extra-stanza":
        forged = reforge(
            sealed, stanzas=[*header.stanzas, Stanza("x25519", (bytes(32),) * 2, bytes(48))]
        )
    elif edit == "drop-stanza":
        forged = reforge(sealed, stanzas=header.stanzas[:1])
    elif edit == "reorder-stanzas":
        forged = reforge(sealed, stanzas=header.stanzas[::-1])
    else:
        raw = bytearray(header.raw)
        raw[-33] ^= 1  # last MAC byte
        fixed = bytes(raw[:-32]) + hashlib.sha256(bytes(raw[:-32])).digest()
        forged = with_trailer(fixed, split(sealed).payload)

    # A keyless reader cannot tell: the header parses and the trailer matches.
    assert inspect_stream(io.BytesIO(forged))["integrity"] == "ok"
    with pytest.raises(HeaderCorrupted) as exc:
        open_bytes(forged, [ident])
    assert exc.value.exit_code == 6


def test_damaged_stanza_body_reads_as_no_matching_key(sealed: bytes, ident: X25519Identity) -> None:
    """Spec: a damaged wrapped key cannot be told from a wrong key."""
    s = split(sealed).header.stanzas[0]
    body = bytes([s.body[0] ^ 1]) + s.body[1:]
    forged = reforge(sealed, stanzas=[Stanza(s.type, s.args, body)])
    with pytest.raises(NoMatchingKey):
        open_bytes(forged, [ident])
