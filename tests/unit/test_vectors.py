"""Every committed vector in tests/vectors/ still gives its declared outcome (docs/format.md, 10)."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
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
from dbseal.ops.seal import open_sealed
from unit.sealkit import open_bytes, run_cli

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


# --- the conformance corpus (tests/vectors/corpus/, built by make_corpus.py) -----------------

CORPUS_DIR = VECTORS_DIR / "corpus"
CORPUS: dict[str, Any] = json.loads((CORPUS_DIR / "corpus.json").read_text())
CORPUS_VECTORS: list[dict[str, Any]] = CORPUS["vectors"]


def _corpus_identities(names: list[str]) -> list[Identity]:
    out: list[Identity] = []
    for name in names:
        key = CORPUS["keys"][name]
        if "keyring" in key:
            ring = Keyring.open(
                str(CORPUS_DIR / key["keyring"]["dir"]),
                Secret(key["keyring"]["passphrase"].encode()),
            )
            out.append(KeyringIdentity(ring))
        else:
            out += _identities(key)
    return out


def _corpus_open(vector: dict[str, Any]) -> bytes:
    data = (CORPUS_DIR / vector["file"]).read_bytes()
    envelope = (CORPUS_DIR / vector["envelope"]).read_bytes() if "envelope" in vector else None
    _header, pieces = open_sealed(io.BytesIO(data), _corpus_identities(vector["keys"]), envelope)
    return b"".join(pieces)


@pytest.mark.parametrize("vector", CORPUS_VECTORS, ids=[v["name"] for v in CORPUS_VECTORS])
def test_corpus_vector_gives_its_declared_outcome(vector: dict[str, Any]) -> None:
    if vector["expect"] == "success":
        assert hashlib.sha256(_corpus_open(vector)).hexdigest() == vector["plaintext_sha256"]
        return
    with pytest.raises(DbsealError) as exc:
        _corpus_open(vector)
    got = exc.value
    assert (type(got).__name__, got.exit_code) == (vector["error"], vector["exit_code"]), (
        f"{vector['name']}: {got.message}"
    )


def test_corpus_covers_every_damage_class_codec_and_stanza_type() -> None:
    """At least 200 vectors, every outcome, codec and stanza type, and the key envelope."""
    assert len(CORPUS_VECTORS) >= 200
    assert {v["expect"] for v in CORPUS_VECTORS} == {"success", *CORPUS["outcomes"]}
    codecs, types = set(), set()
    for v in CORPUS_VECTORS:
        if v["expect"] not in ("success", "no_match"):
            continue
        header = read_header(io.BytesIO((CORPUS_DIR / v["file"]).read_bytes()))
        if v["expect"] == "success":
            codecs.add(header.codec)
        types.update(s.type for s in header.stanzas)
    assert codecs == {0, 1, 2, 3}
    assert {"x25519", "argon2id", "keyring", "awskms"} <= types
    assert any("envelope" in v and v["expect"] == "success" for v in CORPUS_VECTORS)
    prefixes = {v["name"].split("-")[0] for v in CORPUS_VECTORS}
    for damage in (
        "flip",
        "forge",
        "structure",
        "payload",
        "chunks",
        "cut",
        "append",
        "trailer",
        "stream",
        "kdf",
        "version",
        "unsupported",
        "envelope",
    ):
        assert damage in prefixes, damage
    on_disk = {p.name for p in CORPUS_DIR.iterdir() if p.suffix in (".dbseal", ".env")}
    declared = {v["file"] for v in CORPUS_VECTORS} | {
        v["envelope"] for v in CORPUS_VECTORS if "envelope" in v
    }
    assert on_disk == declared, "every corpus file is used by a vector"


def test_the_generator_rebuilds_the_corpus_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    subprocess.run(
        [sys.executable, str(VECTORS_DIR / "make_corpus.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    committed = sorted(p.name for p in CORPUS_DIR.iterdir() if p.name != "README.md")
    assert sorted(p.name for p in out.iterdir()) == committed
    for name in committed:
        assert (out / name).read_bytes() == (CORPUS_DIR / name).read_bytes(), name


# A sample through the command line, as a user runs it: one vector per outcome and damage class.
CLI_SAMPLE = [
    v
    for v in CORPUS_VECTORS
    if v["keys"] == ["x25519"]
    and "envelope" not in v
    and v["name"].split("-")[0]
    in {
        "flip",
        "forge",
        "cut",
        "append",
        "stream",
        "chunks",
        "codec",
        "unsupported",
        "version",
        "trailer",
        "payload",
    }
][::4]


@pytest.fixture(scope="module")
def cli_worker() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


@pytest.mark.parametrize("vector", CLI_SAMPLE, ids=[v["name"] for v in CLI_SAMPLE])
def test_corpus_sample_through_the_cli(
    vector: dict[str, Any], cli_worker: ProcessPoolExecutor, tmp_path: Path
) -> None:
    idf = tmp_path / "id.txt"
    idf.write_text(CORPUS["keys"]["x25519"]["identity"] + "\n")
    idf.chmod(0o600)
    out = tmp_path / "out" / "plain"
    out.parent.mkdir()
    argv = ["unseal", "-i", str(idf), "-o", str(out), str(CORPUS_DIR / vector["file"])]
    rc, _stdout, stderr = cli_worker.submit(run_cli, argv).result(timeout=60)
    if vector["expect"] == "success":
        assert rc == 0, stderr
        assert hashlib.sha256(out.read_bytes()).hexdigest() == vector["plaintext_sha256"]
        return
    assert rc == vector["exit_code"], stderr
    assert len(stderr.splitlines()) == 1 and stderr.startswith("dbseal: error:"), stderr
    assert list(out.parent.iterdir()) == [], "a failed unseal leaves no output"
