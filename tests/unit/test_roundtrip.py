"""Library-level round trips: every codec x every recipient type x the sizes that hit framing edges."""

from __future__ import annotations

import hashlib
import io
from functools import cache
from pathlib import Path

import pytest

from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring, KeyringIdentity, KeyringRecipient
from dbseal.crypto.passphrase import PassphraseIdentity, PassphraseRecipient
from dbseal.crypto.recipients import Identity, Recipient
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Identity
from dbseal.errors import HeaderCorrupted, NoMatchingKey
from dbseal.ops.seal import open_sealed, seal_stream
from unit.sealkit import (
    CHUNK,
    FAST_KDF,
    READ_SIZE,
    open_bytes,
    random_bytes,
    reforge,
    seal_bytes,
    split,
    sql_text,
)

CODECS = ["zstd", "lz4", "gzip", "none"]
KINDS = ["x25519", "passphrase", "keyring"]
STANZA_TYPE = {"x25519": "x25519", "passphrase": "argon2id", "keyring": "keyring"}
SIZES = {
    "empty": 0,
    "1-byte": 1,
    "1-chunk": CHUNK,
    "3-chunks": 3 * CHUNK,
    "1MiB-1": READ_SIZE - 1,
    "1MiB": READ_SIZE,
    "1MiB+1": READ_SIZE + 1,
    "2MiB": 2 * READ_SIZE,
    "sql-5MB": -1,
}

KeySet = tuple[list[Recipient], list[Identity]]


@cache
def plaintext(name: str) -> bytes:
    n = SIZES[name]
    return sql_text(5_000_000) if n < 0 else random_bytes(n, seed=n)


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    path = tmp_path_factory.mktemp("ring") / "keyring"
    return Keyring.init(str(path), Secret(b"keyring passphrase"), "backup", FAST_KDF)


@pytest.fixture(scope="module")
def keysets(ring: Keyring) -> dict[str, KeySet]:
    x = X25519Identity.generate()
    pw = Secret(b"correct horse battery staple")
    return {
        "x25519": ([x.recipient()], [x]),
        "passphrase": ([PassphraseRecipient(pw, FAST_KDF)], [PassphraseIdentity(pw)]),
        "keyring": ([KeyringRecipient(ring, "backup")], [KeyringIdentity(ring)]),
    }


def _digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("codec", CODECS)
def test_round_trip(codec: str, kind: str, size: str, keysets: dict[str, KeySet]) -> None:
    recipients, identities = keysets[kind]
    data = plaintext(size)

    sealed = seal_bytes(data, recipients, codec)

    assert _digest(open_bytes(sealed, identities)) == _digest(data)
    header = split(sealed).header
    assert header.codec == parse_codec(codec).codec_id
    assert [s.type for s in header.stanzas] == [STANZA_TYPE[kind]]
    if codec != "none" and size == "sql-5MB":
        stored, raw = len(sealed), len(data)
        assert stored < raw // 2, "SQL text should be stored compressed"


@pytest.mark.parametrize("size", list(SIZES)[:-1])
def test_uncompressed_payload_has_the_documented_cobblestone_framing(
    size: str, keysets: dict[str, KeySet]
) -> None:
    """24-byte salt + 32-byte commitment, then 16 KiB chunks + 16-byte tags; the final
    chunk is always shorter than 16 KiB, so an exact multiple gets an extra empty chunk."""
    n = SIZES[size]
    parts = split(seal_bytes(plaintext(size), keysets["x25519"][0], "none"))
    assert len(parts.payload) == 56 + n + 16 * (n // CHUNK + 1)


def test_seal_result_describes_the_file_written(keysets: dict[str, KeySet]) -> None:
    data = plaintext("3-chunks")
    out = io.BytesIO()
    result = seal_stream(io.BytesIO(data), out, keysets["x25519"][0], parse_codec("none"))
    sealed = out.getvalue()
    assert result.plaintext_bytes == len(data)
    assert result.stored_bytes == len(sealed)
    assert result.sha256 == hashlib.sha256(sealed[:-48]).digest() == sealed[-32:]
    assert result.file_id == split(sealed).header.file_id


@pytest.mark.parametrize("spec", ["zstd:19", "lz4:12", "gzip:1", "gzip:9", "zstd:1"])
def test_compression_levels_round_trip_and_are_recorded(
    spec: str, keysets: dict[str, KeySet]
) -> None:
    recipients, identities = keysets["x25519"]
    data = sql_text(200_000, seed=3)
    sealed = seal_bytes(data, recipients, spec)
    assert open_bytes(sealed, identities) == data
    assert split(sealed).header.level == int(spec.split(":")[1])


@pytest.mark.parametrize("codec", CODECS)
def test_decompression_output_is_bounded_per_piece(codec: str, keysets: dict[str, KeySet]) -> None:
    """A compression bomb cannot make one piece of output bigger than 1 MiB."""
    recipients, identities = keysets["x25519"]
    data = bytes(16 * READ_SIZE)
    _header, pieces = open_sealed(io.BytesIO(seal_bytes(data, recipients, codec)), identities)
    sizes = [len(p) for p in pieces]
    assert sum(sizes) == len(data)
    assert max(sizes) <= READ_SIZE


# --- several recipients ------------------------------------------------------------------------


def test_keyring_key_plus_escrow_key_each_open_the_file_alone(
    keysets: dict[str, KeySet],
) -> None:
    escrow = X25519Identity.generate()
    ring_recipients, ring_identities = keysets["keyring"]
    data = sql_text(100_000, seed=7)

    sealed = seal_bytes(data, [*ring_recipients, escrow.recipient()], "zstd")

    assert [s.type for s in split(sealed).header.stanzas] == ["keyring", "x25519"]
    assert open_bytes(sealed, ring_identities) == data
    assert open_bytes(sealed, [escrow]) == data
    assert open_bytes(sealed, [X25519Identity.generate(), escrow]) == data
    with pytest.raises(NoMatchingKey):
        open_bytes(sealed, [X25519Identity.generate()])


def test_all_three_kinds_on_one_file(keysets: dict[str, KeySet]) -> None:
    recipients = [r for kind in KINDS for r in keysets[kind][0]]
    sealed = seal_bytes(b"three ways in", recipients, "lz4")
    for kind in KINDS:
        assert open_bytes(sealed, keysets[kind][1]) == b"three ways in", kind


# --- wrong keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_identity_of_the_same_kind_is_no_matching_key(
    kind: str, keysets: dict[str, KeySet], tmp_path: Path
) -> None:
    recipients, _ = keysets[kind]
    sealed = seal_bytes(b"secret rows", recipients, "zstd")
    wrong: Identity
    if kind == "x25519":
        wrong = X25519Identity.generate()
    elif kind == "passphrase":
        wrong = PassphraseIdentity(Secret(b"correct horse battery stapler"))
    else:  # another keyring with a key of the same name
        other = Keyring.init(str(tmp_path / "other"), Secret(b"x"), "backup", FAST_KDF)
        wrong = KeyringIdentity(other)
    with pytest.raises(NoMatchingKey) as exc:
        open_bytes(sealed, [wrong])
    assert exc.value.exit_code == 5


@pytest.mark.parametrize("kind", KINDS)
def test_identity_of_another_kind_is_no_matching_key(kind: str, keysets: dict[str, KeySet]) -> None:
    sealed = seal_bytes(b"secret rows", keysets[kind][0], "none")
    others = [i for k in KINDS if k != kind for i in keysets[k][1]]
    with pytest.raises(NoMatchingKey):
        open_bytes(sealed, others)


def test_no_identity_at_all_is_no_matching_key(keysets: dict[str, KeySet]) -> None:
    with pytest.raises(NoMatchingKey):
        open_bytes(seal_bytes(b"x", keysets["x25519"][0]), [])


def test_stanza_moved_from_another_file_does_not_open_it() -> None:
    """The wrapped key is bound to its file id: a copied stanza is useless elsewhere."""
    alice, bob = X25519Identity.generate(), X25519Identity.generate()
    file_a = seal_bytes(b"A's data", [alice.recipient()])
    file_b = seal_bytes(b"B's data", [bob.recipient()])
    stanza_a = split(file_a).header.stanzas[0]
    header_b = split(file_b).header

    moved = reforge(file_b, stanzas=[stanza_a])
    with pytest.raises(NoMatchingKey):
        open_bytes(moved, [alice])

    # Even added next to B's own stanza, it does not let Alice in, and B's
    # holder sees the header was changed.
    added = reforge(file_b, stanzas=[*header_b.stanzas, stanza_a])
    with pytest.raises(NoMatchingKey):
        open_bytes(added, [alice])
    with pytest.raises(HeaderCorrupted):
        open_bytes(added, [bob])
