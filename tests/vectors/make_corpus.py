"""Build the conformance corpus in tests/vectors/corpus/ (docs/format.md, "Test vectors").

    .venv/bin/python tests/vectors/make_corpus.py [--out DIR]

Deterministic: every data key, file id, ephemeral key, salt, nonce and
Cobblestone salt comes from ``det(label)``, a SHA-256 counter stream over a
fixed seed, so the same dbseal, zstandard, lz4 and zlib rebuild the corpus
byte for byte (tests/unit/test_vectors.py checks that). The files are written
from the spec with dbseal's building blocks (header encoding, stanza framing,
the AES-GCM wrap, the reader's chunk cipher); the real writer and its
OS-random sources are not touched. Every key here is a published TEST key.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from corpus_build import SealSpec, build, corpus_keys, det
from corpus_damage import damage_vectors

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus"
SMALL = b"".join(
    f"INSERT INTO `orders` VALUES ({i},'customer-{i % 7}',{i * 37 % 1000}.{i % 100:02d});\n".encode()
    for i in range(1, 41)
)
CHUNK = 16384


def _plain(n: int) -> bytes:
    return det(f"plaintext {n}", n)


class Corpus:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.vectors: list[dict[str, Any]] = []

    def add_file(self, name: str, data: bytes) -> str:
        assert name not in self.files, name
        self.files[name] = data
        return name

    def expect(
        self,
        name: str,
        file: str,
        keys: list[str],
        outcome: str,
        desc: str,
        plain: bytes | None = None,
        envelope: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {"name": name, "description": desc, "file": file, "keys": keys}
        if envelope:
            entry["envelope"] = envelope
        entry["expect"] = outcome
        if outcome == "success":
            assert plain is not None
            entry["plaintext_sha256"] = hashlib.sha256(plain).hexdigest()
        else:
            entry["error"], entry["exit_code"] = OUTCOMES[outcome]
        self.vectors.append(entry)

    def sealed(self, name: str, spec: SealSpec, keys: list[str], desc: str) -> bytes:
        data, env = build(spec)
        self.add_file(name + ".dbseal", data)
        env_name = self.add_file(name + ".env", env) if env is not None else None
        self.expect(name, name + ".dbseal", keys, "success", desc, spec.plaintext, env_name)
        return data


OUTCOMES = {
    "not_dbseal": ("NotDbsealFile", 3),
    "unsupported_version": ("UnsupportedVersion", 4),
    "no_match": ("NoMatchingKey", 5),
    "header_failure": ("HeaderCorrupted", 6),
    "payload_failure": ("PayloadCorrupted", 6),
    "trailer_mismatch": ("TrailerMismatch", 6),
    "truncated": ("TruncatedData", 7),
    "unsafe_parameters": ("UnsafeParameters", 12),
}


def _codecs(c: Corpus) -> None:
    for codec, level in [
        ("none", 0),
        ("zstd", 1),
        ("zstd", 3),
        ("zstd", 19),
        ("zstd", 22),
        ("lz4", 0),
        ("lz4", 9),
        ("lz4", 16),
        ("gzip", 1),
        ("gzip", 6),
        ("gzip", 9),
    ]:
        for n, plain in (("small", SMALL), ("empty", b"")):
            spec = SealSpec(f"codec {codec}:{level} {n}", plain, ["x25519"], codec, level)
            c.sealed(f"codec-{codec}-{level}-{n}", spec, ["x25519"], f"{codec} level {level}, {n}")


def _sizes(c: Corpus) -> None:
    for n in [1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 4 * CHUNK - 1, 4 * CHUNK, 4 * CHUNK + 1]:
        spec = SealSpec(f"size {n}", _plain(n), ["x25519"], "none", 0)
        c.sealed(f"size-{n}", spec, ["x25519"], f"{n} plaintext bytes, no compression")
    spec = SealSpec("size zstd 64k", _plain(4 * CHUNK), ["x25519"], "zstd", 3)
    c.sealed("size-65536-zstd", spec, ["x25519"], "64 KiB of random bytes, zstd")


def _recipients(c: Corpus) -> None:
    kinds = {
        "x25519": (["x25519"], ["x25519"]),
        "argon2id": (["argon2id"], ["passphrase"]),
        "keyring": (["keyring"], ["keyring"]),
        "awskms-escrow": (["awskms", "x25519-escrow"], ["escrow"]),
        "unknown-type-then-x25519": (["future", "x25519"], ["x25519"]),
    }
    for name, (stanzas, keys) in kinds.items():
        spec = SealSpec(f"recipient {name}", SMALL, stanzas, "zstd", 3)
        c.sealed(f"recipient-{name}", spec, keys, f"stanzas {stanzas}, opened with {keys}")
    spec = SealSpec("recipient all", SMALL, ["awskms", "keyring", "x25519-escrow", "argon2id"])
    c.sealed("recipient-all", spec, ["keyring"], "four stanzas, opened by the keyring")
    for keys in (["escrow"], ["passphrase"]):
        c.expect(
            f"recipient-all-by-{keys[0]}",
            "recipient-all.dbseal",
            keys,
            "success",
            f"four stanzas, opened by {keys[0]}",
            SMALL,
        )
    c.expect(
        "recipient-all-wrong-key",
        "recipient-all.dbseal",
        ["x25519"],
        "no_match",
        "four stanzas, none for this identity",
    )
    data, _ = build(SealSpec("awskms only", SMALL, ["awskms"]))
    c.add_file("recipient-awskms-only.dbseal", data)
    c.expect(
        "recipient-awskms-only",
        "recipient-awskms-only.dbseal",
        ["x25519"],
        "no_match",
        "only an awskms stanza: a reader without KMS access finds no matching key",
    )
    c.expect(
        "wrong-identity",
        "recipient-x25519.dbseal",
        ["escrow"],
        "no_match",
        "x25519 stanza for another identity",
    )
    c.expect(
        "wrong-passphrase",
        "recipient-argon2id.dbseal",
        ["wrong-passphrase"],
        "no_match",
        "wrong passphrase",
    )
    c.expect(
        "identity-of-another-kind",
        "recipient-keyring.dbseal",
        ["x25519", "passphrase"],
        "no_match",
        "keyring stanza, opened with an identity and a passphrase",
    )
    spec = SealSpec("detached", SMALL, ["x25519", "argon2id"], "gzip", 6, detached=True)
    c.sealed("detached-envelope", spec, ["x25519"], "stanzas in a key envelope (7a)")
    c.expect(
        "detached-envelope-by-passphrase",
        "detached-envelope.dbseal",
        ["passphrase"],
        "success",
        "key envelope opened by the passphrase",
        SMALL,
        "detached-envelope.env",
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    out: Path = ap.parse_args().out
    c = Corpus()
    _codecs(c)
    _sizes(c)
    _recipients(c)
    damage_vectors(c, SMALL)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():  # README.md stays
        if old.suffix in (".dbseal", ".env") or old.name == "corpus.json":
            old.unlink()
    for name, data in sorted(c.files.items()):
        (out / name).write_bytes(data)
    doc = {
        "comment": "dbseal conformance corpus, built by make_corpus.py (deterministic). "
        "Every key here is a published TEST key; see README.md for how to run it.",
        "keys": corpus_keys(),
        "outcomes": {k: {"error": e, "exit_code": x} for k, (e, x) in OUTCOMES.items()},
        "vectors": c.vectors,
    }
    (out / "corpus.json").write_text(json.dumps(doc, indent=1) + "\n")
    total = sum(len(d) for d in c.files.values())
    print(f"wrote {len(c.files)} files, {len(c.vectors)} vectors, {total} bytes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
