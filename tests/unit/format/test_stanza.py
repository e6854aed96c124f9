"""Stanza framing: the limits of docs/format.md 3.3, and how readers treat stanzas they do not know."""

from __future__ import annotations

import os
import struct

import pytest

from dbseal.crypto.x25519 import X25519Identity
from dbseal.format.stanza import (
    MAX_ARG_LEN,
    MAX_ARGS,
    MAX_BODY_LEN,
    MAX_STANZAS,
    Stanza,
    StanzaFramingError,
    _Cursor,
    decode_stanzas,
    encode_stanzas,
)
from unit.sealkit import open_bytes, seal_custom


def _decode(data: bytes) -> list[Stanza]:
    cur = _Cursor(data)
    out = decode_stanzas(cur)
    assert cur.pos == len(data), "decode must consume exactly the stanzas"
    return out


def test_round_trip_at_every_limit() -> None:
    stanzas = [
        Stanza(
            "a" * 64,
            tuple(os.urandom(MAX_ARG_LEN) for _ in range(MAX_ARGS)),
            os.urandom(MAX_BODY_LEN),
        ),
        Stanza("0", (), b""),
        Stanza("x25519", (b"", b"\x00"), b"body"),
        Stanza("kms.aws-v1", (b"arn",), b"\xff" * 48),
    ]
    assert _decode(encode_stanzas(stanzas)) == stanzas


def test_255_stanzas_round_trip_and_256_are_refused() -> None:
    many = [Stanza("x", (bytes([i]),), b"") for i in range(MAX_STANZAS)]
    assert _decode(encode_stanzas(many)) == many
    with pytest.raises(ValueError):
        encode_stanzas([*many, Stanza("x", (), b"")])
    with pytest.raises(StanzaFramingError):
        _decode(struct.pack(">H", 256) + Stanza("x", (), b"").encode() * 256)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": ""},
        {"type": "X25519"},
        {"type": "-x"},
        {"type": ".x"},
        {"type": "a" * 65},
        {"type": "has space"},
        {"type": "snow☃"},
        {"args": (b"",) * (MAX_ARGS + 1)},
        {"args": (bytes(MAX_ARG_LEN + 1),)},
        {"body": bytes(MAX_BODY_LEN + 1)},
    ],
    ids=lambda k: next(iter(k)) + ":" + repr(next(iter(k.values())))[:12],
)
def test_writer_refuses_stanzas_outside_the_limits(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"type": "x25519", "args": (), "body": b""}
    fields.update(kwargs)
    with pytest.raises(ValueError):
        Stanza(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01\x00\x00\x00\x00",  # empty type
        b"\x00\x01\x06X25519\x00\x00\x00",  # upper case
        b"\x00\x01\x02-x\x00\x00\x00",  # leading '-'
        b"\x00\x01\x41" + b"a" * 65 + b"\x00\x00\x00",  # 65-byte type
        b"\x00\x01\x01x\x11" + b"\x00\x00" * 17 + b"\x00\x00",  # 17 args
        b"\x00\x01\x01x\x01\x10\x01" + bytes(4097) + b"\x00\x00",  # 4097-byte arg
        b"\x00\x01\x01x\x01\x00\x05ab",  # arg runs past the end
        b"\x00\x01\x01x\x00\x00\x30" + bytes(47),  # body runs past the end
        b"\x00\x02\x01x\x00\x00\x00",  # count says 2, one present
        b"\x00",  # count cut short
    ],
    ids=[
        "empty-type",
        "upper-case",
        "leading-dash",
        "type-65",
        "17-args",
        "arg-4097",
        "arg-overrun",
        "body-overrun",
        "missing-stanza",
        "short-count",
    ],
)
def test_reader_refuses_malformed_framing(raw: bytes) -> None:
    with pytest.raises(StanzaFramingError):
        _decode(raw)


def test_stanza_type_with_a_trailing_newline_is_refused() -> None:
    """Regression: the type pattern once ended in '$', which also matches before a newline."""
    with pytest.raises(StanzaFramingError):
        _decode(b"\x00\x01\x07x25519\n\x00\x00\x00")
    with pytest.raises(ValueError):
        Stanza("x25519\n", (), b"")


def test_reader_skips_unknown_and_malformed_stanzas_before_the_one_that_opens() -> None:
    """docs/format.md 3.3: unknown types and known types with wrong shapes are skipped."""
    ident = X25519Identity.generate()

    def stanzas(data_key: bytes, file_id: bytes) -> list[Stanza]:
        real = ident.recipient().wrap(data_key, file_id)[0]
        return [
            Stanza("future-kms", (b"arn:aws:kms:key/1",), os.urandom(300)),
            Stanza("x25519", (real.args[0],), real.body),  # one arg missing
            Stanza("x25519", (real.args[0][:31], real.args[1]), real.body),  # short share
            Stanza("x25519", real.args, real.body[:47]),  # short body
            Stanza("argon2id", (b"salt",), b""),
            Stanza("keyring", (), b""),
            real,
        ]

    assert open_bytes(seal_custom(b"still opens", stanzas), [ident]) == b"still opens"


def test_low_order_ephemeral_share_is_skipped_not_fatal() -> None:
    """docs/format.md: a reader MUST skip an x25519 stanza whose shared secret is all zeros."""
    ident = X25519Identity.generate()

    def stanzas(data_key: bytes, file_id: bytes) -> list[Stanza]:
        real = ident.recipient().wrap(data_key, file_id)[0]
        return [Stanza("x25519", (bytes(32), ident.public), os.urandom(48)), real]

    assert open_bytes(seal_custom(b"ok", stanzas), [ident]) == b"ok"
