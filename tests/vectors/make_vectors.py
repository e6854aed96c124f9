"""Generate the committed test-vector corpus (tests/vectors/). Kept for reference: run it ONCE.

    .venv/bin/python tests/vectors/make_vectors.py [--force]

The format draws data keys, file ids, salts and nonces from os.urandom, so the
outputs are not reproducible: they are generated once and committed, and
tests/unit/test_vectors.py checks that every later dbseal still gives the
declared outcome. Never regenerate to make a failing vector pass: a vector that
stops opening is a format break (docs/format.md, "Test vectors").

What is deterministic: the plaintexts, the X25519 test keys (derived from fixed
strings) and the passphrases. Every key here is a TEST key, published on purpose.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import random
import shutil
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring, KeyringRecipient
from dbseal.crypto.passphrase import KdfParams, PassphraseRecipient
from dbseal.crypto.recipients import Recipient
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Identity
from dbseal.format.header import MAGIC, read_header
from dbseal.format.payload import TRAILER_LEN, encode_trailer
from dbseal.ops.seal import seal_stream

HERE = Path(__file__).resolve().parent
KEYRING_DIR = "keyring"
PASSPHRASE = "dbseal test vector passphrase"
KEYRING_PASSPHRASE = "dbseal test vector keyring passphrase"
FAST_KDF = KdfParams(19456, 2, 1)  # the cheapest cost a reader accepts, so tests stay fast


def vector_identity(n: int) -> X25519Identity:
    return X25519Identity(hashlib.sha256(f"dbseal test vector identity {n}".encode()).digest())


def sql_plaintext(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = [
        "-- dbseal test vector\n",
        "CREATE TABLE `orders` (`id` int PRIMARY KEY, `customer` varchar(40), `total` decimal(10,2));\n",
    ]
    for i in range(1, rows + 1):
        name = rng.choice(["alice", "bob", "carol", "dave", "erin", "frank"])
        out.append(
            f"INSERT INTO `orders` VALUES ({i},'{name}',{rng.randrange(1, 10**6) / 100:.2f});\n"
        )
    return "".join(out).encode()


def binary_plaintext(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def seal(plaintext: bytes, recipients: list[Recipient], codec: str) -> bytes:
    out = io.BytesIO()
    seal_stream(io.BytesIO(plaintext), out, recipients, parse_codec(codec), {"vector": True})
    return out.getvalue()


def retrailer(header_raw: bytes, payload: bytes) -> bytes:
    digest = hashlib.sha256(header_raw + payload).digest()
    return header_raw + payload + encode_trailer(len(payload), digest)


def tamper_header_mac(sealed: bytes) -> bytes:
    """Change the label and recompute the keyless check and trailer: only the MAC can tell."""
    header = read_header(io.BytesIO(sealed))
    payload = sealed[len(header.raw) : -TRAILER_LEN]
    forged = dataclasses.replace(header, label={**header.label, "note": "tampered"})
    return retrailer(forged.encode(os.urandom(32)), payload)


def flip_payload(sealed: bytes) -> bytes:
    """Flip one payload byte and recompute the trailer: only the AEAD can tell."""
    header = read_header(io.BytesIO(sealed))
    payload = bytearray(sealed[len(header.raw) : -TRAILER_LEN])
    payload[len(payload) // 2] ^= 0x01
    return retrailer(header.raw, bytes(payload))


def set_version(sealed: bytes, version: int) -> bytes:
    head = MAGIC + bytes([version]) + sealed[8:12]
    return head + struct.pack(">I", zlib.crc32(head)) + sealed[16:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="replace an existing corpus")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    out: Path = args.out
    if (out / "vectors.json").exists() and not args.force:
        print(f"{out / 'vectors.json'} exists; vectors are never regenerated", file=sys.stderr)
        return 1
    if (out / KEYRING_DIR).exists():
        shutil.rmtree(out / KEYRING_DIR)
    for old in out.glob("*.dbseal"):
        old.unlink()

    id1, id2 = vector_identity(1), vector_identity(2)
    ring = Keyring.init(
        str(out / KEYRING_DIR), Secret(KEYRING_PASSPHRASE.encode()), "vectors", FAST_KDF
    )
    (out / KEYRING_DIR / "README.md").write_text(
        "# Test keyring (NOT SECRET)\n\n"
        "This keyring opens the keyring test vectors in `tests/vectors/`. Its passphrase is\n"
        f'published in `vectors.json` ("{KEYRING_PASSPHRASE}"), its Argon2id cost is the\n'
        "minimum a reader accepts, and its keys protect nothing but test data. Never use\n"
        "it, or anything copied from it, for real backups.\n"
    )
    pw = PassphraseRecipient(Secret(PASSPHRASE.encode()), FAST_KDF)
    keyring_r = KeyringRecipient(ring, "vectors")

    k_id1 = {"identity": id1.encode()}
    k_id2 = {"identity": id2.encode()}
    k_pw = {"passphrase": PASSPHRASE}
    k_wrong_pw = {"passphrase": PASSPHRASE + "!"}
    k_ring = {"keyring": {"dir": KEYRING_DIR, "passphrase": KEYRING_PASSPHRASE}}

    small = sql_plaintext(60, seed=1)
    medium = sql_plaintext(400, seed=2)
    chunks = binary_plaintext(2 * 16384 + 123, seed=3)  # spans three Cobblestone chunks

    files: dict[str, bytes] = {}
    vectors: list[dict[str, Any]] = []

    def add(
        name: str,
        file: str,
        keys: dict[str, Any],
        expect: str,
        desc: str,
        plain: bytes | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "name": name,
            "description": desc,
            "file": file,
            "keys": keys,
            "expect": expect,
        }
        if expect == "success":
            assert plain is not None
            entry["plaintext_sha256"] = hashlib.sha256(plain).hexdigest()
        vectors.append(entry)

    files["x25519-zstd.dbseal"] = seal(medium, [id1.recipient()], "zstd")
    add("x25519-zstd", "x25519-zstd.dbseal", k_id1, "success", "X25519 recipient, zstd", medium)
    files["passphrase-lz4.dbseal"] = seal(medium, [pw], "lz4")
    add(
        "passphrase-lz4",
        "passphrase-lz4.dbseal",
        k_pw,
        "success",
        "passphrase (Argon2id minimum cost), lz4",
        medium,
    )
    files["keyring-gzip.dbseal"] = seal(medium, [keyring_r], "gzip")
    add(
        "keyring-gzip",
        "keyring-gzip.dbseal",
        k_ring,
        "success",
        "keyring key vectors:1, gzip",
        medium,
    )
    files["x25519-none-chunks.dbseal"] = seal(chunks, [id1.recipient()], "none")
    add(
        "x25519-none-chunks",
        "x25519-none-chunks.dbseal",
        k_id1,
        "success",
        "no compression, 3 payload chunks",
        chunks,
    )
    files["x25519-empty.dbseal"] = seal(b"", [id1.recipient()], "zstd")
    add("x25519-empty", "x25519-empty.dbseal", k_id1, "success", "empty plaintext", b"")
    files["passphrase-none-empty.dbseal"] = seal(b"", [pw], "none")
    add(
        "passphrase-none-empty",
        "passphrase-none-empty.dbseal",
        k_pw,
        "success",
        "empty plaintext, no compression",
        b"",
    )

    files["multi.dbseal"] = seal(small, [keyring_r, id2.recipient(), pw], "zstd")
    for keys, how in ((k_ring, "keyring"), (k_id2, "escrow X25519 key"), (k_pw, "passphrase")):
        add(
            f"multi-by-{next(iter(keys))}",
            "multi.dbseal",
            keys,
            "success",
            f"three recipients, opened by the {how}",
            small,
        )
    add(
        "multi-wrong-key",
        "multi.dbseal",
        k_id1,
        "no_match",
        "three recipients, none of them this identity",
    )

    add(
        "wrong-identity",
        "x25519-zstd.dbseal",
        k_id2,
        "no_match",
        "sealed for identity 1, opened with identity 2",
    )
    add("wrong-passphrase", "passphrase-lz4.dbseal", k_wrong_pw, "no_match", "wrong passphrase")

    base = seal(small, [id1.recipient()], "gzip")
    files["header-mac-tamper.dbseal"] = tamper_header_mac(base)
    add(
        "header-mac-tamper",
        "header-mac-tamper.dbseal",
        k_id1,
        "header_failure",
        "label edited, check and trailer recomputed: the MAC fails",
    )
    damaged = bytearray(base)
    damaged[30] ^= 0x01
    files["header-damaged.dbseal"] = bytes(damaged)
    add(
        "header-damaged",
        "header-damaged.dbseal",
        k_id1,
        "header_failure",
        "one header byte flipped: the keyless check fails",
    )
    files["payload-flip.dbseal"] = flip_payload(base)
    add(
        "payload-flip",
        "payload-flip.dbseal",
        k_id1,
        "payload_failure",
        "one payload byte flipped, trailer recomputed: the AEAD fails",
    )
    files["truncated-payload.dbseal"] = base[:-100]
    add(
        "truncated-payload",
        "truncated-payload.dbseal",
        k_id1,
        "truncated",
        "cut inside the final chunk",
    )
    files["truncated-chunk-boundary.dbseal"] = files["x25519-none-chunks.dbseal"][
        : len(read_header(io.BytesIO(files["x25519-none-chunks.dbseal"])).raw) + 56 + 16384 + 16
    ]
    add(
        "truncated-chunk-boundary",
        "truncated-chunk-boundary.dbseal",
        k_id1,
        "truncated",
        "cut exactly after the first full chunk",
    )
    files["truncated-header.dbseal"] = base[:40]
    add("truncated-header", "truncated-header.dbseal", k_id1, "truncated", "cut inside the header")
    files["not-dbseal.dbseal"] = small
    add("not-dbseal", "not-dbseal.dbseal", k_id1, "not_dbseal", "a plaintext SQL dump")
    files["empty.dbseal"] = b""
    add("empty", "empty.dbseal", k_id1, "not_dbseal", "an empty file")
    files["version-2.dbseal"] = set_version(base, 2)
    add(
        "version-2",
        "version-2.dbseal",
        k_id1,
        "unsupported_version",
        "format version byte 2, preamble CRC recomputed",
    )

    for name, data in files.items():
        (out / name).write_bytes(data)
    doc = {
        "comment": "dbseal format test vectors; generated once by make_vectors.py and committed. "
        "Every key and passphrase here is a published TEST key.",
        "vectors": vectors,
    }
    (out / "vectors.json").write_text(json.dumps(doc, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(files)} files, {len(vectors)} vectors, {total} bytes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
