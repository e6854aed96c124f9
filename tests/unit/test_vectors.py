"""Every committed vector in tests/vectors/ still gives its declared outcome (docs/format.md, 10)."""

from __future__ import annotations

import hashlib
import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dbseal.crypto.keyring import Keyring, KeyringIdentity
from dbseal.crypto.passphrase import PassphraseIdentity
from dbseal.crypto.recipients import Identity
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Identity
from dbseal.errors import (
    DbsealError,
    HeaderCorrupted,
    NoMatchingKey,
    NotDbsealFile,
    PayloadCorrupted,
    TruncatedData,
    UnsupportedVersion,
)
from dbseal.format.header import read_header
from unit.sealkit import open_bytes

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS: list[dict[str, Any]] = json.loads((VECTORS_DIR / "vectors.json").read_text())["vectors"]

FAILURES: dict[str, tuple[type[DbsealError], int]] = {
    "header_failure": (HeaderCorrupted, 6),
    "payload_failure": (PayloadCorrupted, 6),
    "no_match": (NoMatchingKey, 5),
    "truncated": (TruncatedData, 7),
    "not_dbseal": (NotDbsealFile, 3),
    "unsupported_version": (UnsupportedVersion, 4),
}


@cache
def _keyring(directory: str, passphrase: str) -> Keyring:
    return Keyring.open(str(VECTORS_DIR / directory), Secret(passphrase.encode()))


def _identities(keys: dict[str, Any]) -> list[Identity]:
    out: list[Identity] = []
    if "identity" in keys:
        out.append(X25519Identity.parse(keys["identity"]))
    if "passphrase" in keys:
        out.append(PassphraseIdentity(Secret(keys["passphrase"].encode())))
    if "keyring" in keys:
        out.append(KeyringIdentity(_keyring(keys["keyring"]["dir"], keys["keyring"]["passphrase"])))
    assert out, f"vector declares no key: {keys}"
    return out


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_gives_its_declared_outcome(vector: dict[str, Any]) -> None:
    data = (VECTORS_DIR / vector["file"]).read_bytes()
    identities = _identities(vector["keys"])
    if vector["expect"] == "success":
        plain = open_bytes(data, identities)
        assert hashlib.sha256(plain).hexdigest() == vector["plaintext_sha256"]
        return
    cls, code = FAILURES[vector["expect"]]
    with pytest.raises(DbsealError) as exc:
        open_bytes(data, identities)
    assert type(exc.value) is cls, f"{vector['name']}: {exc.value.message}"
    assert exc.value.exit_code == code


def test_corpus_covers_every_outcome_codec_and_recipient_type() -> None:
    """Deleting vectors must not quietly shrink what the format promise covers."""
    assert {v["expect"] for v in VECTORS} == {"success", *FAILURES}
    codecs, stanza_types = set(), set()
    for v in VECTORS:
        if v["expect"] == "success":
            header = read_header(io.BytesIO((VECTORS_DIR / v["file"]).read_bytes()))
            codecs.add(header.codec)
            stanza_types.update(s.type for s in header.stanzas)
    assert codecs == {0, 1, 2, 3}
    assert stanza_types == {"x25519", "argon2id", "keyring"}
    assert any(
        v["plaintext_sha256"] == hashlib.sha256(b"").hexdigest()
        for v in VECTORS
        if "plaintext_sha256" in v
    )
    every_file = {v["file"] for v in VECTORS}
    on_disk = {p.name for p in VECTORS_DIR.glob("*.dbseal")}
    assert on_disk == every_file, "every committed .dbseal file is a declared vector"
