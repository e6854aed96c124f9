"""Deterministic sealed files for the corpus, written from docs/format.md (see make_corpus.py)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbseal.codecs import parse_codec
from dbseal.crypto.keyring import Keyring
from dbseal.crypto.passphrase import KdfParams, derive
from dbseal.crypto.secret import Secret
from dbseal.crypto.wrap import wrap_key
from dbseal.crypto.x25519 import X25519Identity
from dbseal.format.chunked import CHUNK_LEN, SALT_LEN, ChunkCipher, derive_chunk_keys
from dbseal.format.envelope import for_header
from dbseal.format.header import (
    FLAG_DETACHED,
    SUITE_COBBLESTONE256,
    Header,
    derive_subkeys,
    payload_context,
)
from dbseal.format.payload import encode_trailer
from dbseal.format.stanza import Stanza

SEED = b"dbseal conformance corpus v1"
PASSPHRASE = "dbseal corpus passphrase"
KEYRING_DIR = Path(__file__).resolve().parent / "keyring"
KEYRING_PASSPHRASE = "dbseal test vector keyring passphrase"  # published in vectors.json
FAST_KDF = KdfParams(19456, 2, 1)  # the cheapest cost a reader accepts
KMS_KEY = b"alias/dbseal-corpus"
KMS_ARN = b"arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000019"


def det(label: str, n: int) -> bytes:
    """``n`` deterministic bytes for ``label`` (SHA-256 in counter mode over SEED)."""
    out, i = b"", 0
    while len(out) < n:
        out += hashlib.sha256(SEED + label.encode() + i.to_bytes(4, "big")).digest()
        i += 1
    return out[:n]


IDENTITIES = {
    "x25519": X25519Identity(det("identity x25519", 32)),
    "escrow": X25519Identity(det("identity escrow", 32)),
}


def corpus_keys() -> dict[str, dict[str, Any]]:
    """The named keys vectors list under ``keys``: what a reader tries, in that order."""
    keys: dict[str, dict[str, Any]] = {n: {"identity": i.encode()} for n, i in IDENTITIES.items()}
    keys["passphrase"] = {"passphrase": PASSPHRASE}
    keys["wrong-passphrase"] = {"passphrase": PASSPHRASE + "!"}
    keys["keyring"] = {"keyring": {"dir": "../keyring", "passphrase": KEYRING_PASSPHRASE}}
    return keys


@cache
def _ring() -> Keyring:
    return Keyring.open(str(KEYRING_DIR), Secret(KEYRING_PASSPHRASE.encode()))


def _x25519(tag: str, dk: bytes, fid: bytes, who: str) -> Stanza:
    eph = X25519PrivateKey.from_private_bytes(det(tag + " ephemeral", 32))
    share = eph.public_key().public_bytes_raw()
    rpk = IDENTITIES[who].public
    shared = eph.exchange(X25519PublicKey.from_public_bytes(rpk))
    wk = HKDF(hashes.SHA256(), 32, salt=share + rpk, info=b"dbseal/v1 x25519").derive(shared)
    return Stanza("x25519", (share, rpk), wrap_key(wk, dk, "x25519", fid))


def _argon2id(tag: str, dk: bytes, fid: bytes, params: KdfParams, secret: str) -> Stanza:
    salt = det(tag + " salt", 16)
    try:
        params.check()
    except Exception:  # unsafe on purpose: a reader must refuse before running the KDF
        return Stanza("argon2id", (salt, params.encode()), det(tag + " body", 48))
    wk = derive(Secret(secret.encode()), salt, params)
    return Stanza("argon2id", (salt, params.encode()), wrap_key(wk, dk, "argon2id", fid))


def _keyring(tag: str, dk: bytes, fid: bytes) -> Stanza:
    ring, nonce = _ring(), det(tag + " nonce", 16)
    kv = ring.get("vectors", None)
    ver = struct.pack(">I", kv.version)
    info = b"dbseal/v1 keyring " + ring.keyring_id + b" vectors " + ver
    wk = HKDF(hashes.SHA256(), 32, salt=fid + nonce, info=info).derive(kv.kek)
    args = (ring.keyring_id, b"vectors", ver, nonce)
    return Stanza("keyring", args, wrap_key(wk, dk, "keyring", fid))


def make_stanza(kind: str, tag: str, dk: bytes, fid: bytes) -> Stanza:
    """One stanza of ``kind``; kinds with ``@m,t,p`` carry those Argon2id parameters."""
    name, _, arg = kind.partition("@")
    tag = f"{tag} {kind}"
    if name == "x25519":
        return _x25519(tag, dk, fid, "x25519")
    if name == "x25519-escrow":
        return _x25519(tag, dk, fid, "escrow")
    if name == "argon2id":
        params = KdfParams(*map(int, arg.split(","))) if arg else FAST_KDF
        return _argon2id(tag, dk, fid, params, PASSPHRASE)
    if name == "argon2id-other":  # a passphrase stanza for another passphrase
        return _argon2id(tag, dk, fid, FAST_KDF, "another passphrase")
    if name == "keyring":
        return _keyring(tag, dk, fid)
    if name == "awskms":  # as crypto/kms.py formats it; the body stands in for a KMS blob
        return Stanza("awskms", (KMS_KEY, KMS_ARN), det(tag + " kms blob", 184))
    if name == "future":
        return Stanza("future-kind.v2", (b"opaque",), det(tag + " body", 40))
    if name == "x25519-zero-share":  # a low-order point: the X25519 output is all zeros
        return Stanza("x25519", (bytes(32), IDENTITIES["x25519"].public), det(tag, 48))
    if name == "x25519-three-args":
        good = _x25519(tag, dk, fid, "x25519")
        return Stanza("x25519", (*good.args, b"extra"), good.body)
    raise ValueError(kind)


@dataclass
class SealSpec:
    tag: str  # makes the file's randomness unique
    plaintext: bytes
    stanzas: list[str] = field(default_factory=lambda: ["x25519"])
    codec: str = "zstd"
    level: int = 3
    detached: bool = False
    compressed: bytes | None = None  # the payload's compressed stream, verbatim
    suite: int = SUITE_COBBLESTONE256
    codec_id: int | None = None
    flags: int | None = None


def compress(codec: str, level: int, plaintext: bytes) -> bytes:
    spec = codec if codec == "none" else f"{codec}:{level}"
    comp = parse_codec(spec, threads=0).compressor()
    return comp.compress(plaintext) + comp.flush()


def encrypt_payload(payload_key: bytes, context: bytes, salt: bytes, data: bytes) -> bytes:
    """Cobblestone-256 with a given salt (docs/format.md 4.1): the writer's, made deterministic."""
    assert len(salt) == SALT_LEN
    cipher = ChunkCipher(derive_chunk_keys(payload_key, salt, context))
    out = [salt, cipher.keys.commitment]
    full = len(data) // CHUNK_LEN  # the final chunk is always shorter (possibly empty)
    for i in range(full):
        out.append(cipher.seal(i, data[i * CHUNK_LEN : (i + 1) * CHUNK_LEN]))
    out.append(cipher.seal(full, data[full * CHUNK_LEN :]))
    return b"".join(out)


def build(spec: SealSpec) -> tuple[bytes, bytes | None]:
    """(sealed file, key envelope or None)."""
    dk, fid = det(spec.tag + " data key", 32), det(spec.tag + " file id", 16)
    sub = derive_subkeys(dk, fid)
    stanzas = [make_stanza(k, spec.tag, dk, fid) for k in spec.stanzas]
    codec_id = parse_codec(spec.codec).codec_id if spec.codec_id is None else spec.codec_id
    flags = (FLAG_DETACHED if spec.detached else 0) if spec.flags is None else spec.flags
    label = {"created": "2026-12-07T00:00:00+00:00", "tool": "dbseal corpus", "vector": spec.tag}
    level = spec.level if spec.codec != "none" else 0
    header = Header(
        spec.suite, codec_id, level, fid, label, [] if spec.detached else stanzas, flags
    )
    raw = header.encode(sub.header_mac)
    stream = spec.compressed
    if stream is None:
        stream = compress(spec.codec, spec.level, spec.plaintext)
    ctx = payload_context(spec.suite, codec_id, fid)
    payload = encrypt_payload(sub.payload, ctx, det(spec.tag + " cobblestone salt", 24), stream)
    digest = hashlib.sha256(raw + payload).digest()
    data = raw + payload + encode_trailer(len(payload), digest)
    env = for_header(raw, fid, stanzas).encode(sub.header_mac) if spec.detached else None
    return data, env
