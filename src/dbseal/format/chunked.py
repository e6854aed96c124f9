"""Cobblestone-256 (C2SP chunked encryption) chunk by chunk, as docs/format.md section 4 states it.

The writer uses pyca/cryptography's ``Cobblestone256Encryptor``. The reader
decrypts chunk by chunk with this module instead, because locating the end
of a damaged payload (docs/format.md, "Where the payload ends") needs to try
one chunk at a given index and length, which a streaming decryptor cannot::

    key || base_nonce || commitment = HKDF-Expand-SHA-512(
        prk=payload_key,
        info="c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" || 0x00 || salt || context,
        L=32 + 12 + 32)
    nonce(i) = base_nonce XOR (0^4 || i as 8 bytes big-endian)
    chunk i  = AES-256-GCM(key, nonce(i), plaintext_i, aad="")

Nothing here draws randomness: the salt is an input (the writer's comes from
the OS CSPRNG inside cryptography).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

CHUNK_LEN = 16384  # plaintext bytes of every chunk but the final one
TAG_LEN = 16
WIRE_CHUNK_LEN = CHUNK_LEN + TAG_LEN  # 16 400: a full chunk as stored
MAX_FINAL_LEN = WIRE_CHUNK_LEN - 1  # the final chunk is shorter than a full one
SALT_LEN = 24
COMMITMENT_LEN = 32
PREFIX_LEN = SALT_LEN + COMMITMENT_LEN  # salt || commitment, before chunk 0
MAX_CHUNKS = 1 << 38
_INFO_PREFIX = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00"
_KEY_LEN, _NONCE_LEN = 32, 12


@dataclass(frozen=True)
class ChunkKeys:
    key: bytes
    base_nonce: bytes
    commitment: bytes


def derive_chunk_keys(payload_key: bytes, salt: bytes, context: bytes) -> ChunkKeys:
    """HKDF-Expand only (the payload key is already uniform): key, base nonce, commitment."""
    okm = HKDFExpand(
        hashes.SHA512(), _KEY_LEN + _NONCE_LEN + COMMITMENT_LEN, _INFO_PREFIX + salt + context
    ).derive(payload_key)
    return ChunkKeys(
        okm[:_KEY_LEN], okm[_KEY_LEN : _KEY_LEN + _NONCE_LEN], okm[_KEY_LEN + _NONCE_LEN :]
    )


class ChunkCipher:
    """AES-256-GCM over single chunks, with the counter nonce of chunk ``index``."""

    def __init__(self, keys: ChunkKeys) -> None:
        self.keys = keys
        self._aead = AESGCM(keys.key)
        self._head = keys.base_nonce[:4]
        self._tail = int.from_bytes(keys.base_nonce[4:], "big")

    @classmethod
    def for_prefix(cls, payload_key: bytes, prefix: bytes, context: bytes) -> ChunkCipher | None:
        """The cipher for a payload starting with ``prefix`` (salt || commitment), or None
        when the commitment does not match (a damaged prefix, or another key or context)."""
        keys = derive_chunk_keys(payload_key, prefix[:SALT_LEN], context)
        if not hmac.compare_digest(keys.commitment, prefix[SALT_LEN:PREFIX_LEN]):
            return None
        return cls(keys)

    def nonce(self, index: int) -> bytes:
        if not 0 <= index < MAX_CHUNKS:
            raise ValueError("chunk index out of range")
        return self._head + (self._tail ^ index).to_bytes(8, "big")

    def open(self, index: int, sealed: bytes) -> bytes | None:
        """Chunk ``index``'s plaintext, or None when ``sealed`` does not authenticate as it."""
        if len(sealed) < TAG_LEN:
            return None
        try:
            return self._aead.decrypt(self.nonce(index), sealed, None)
        except InvalidTag:
            return None

    def seal(self, index: int, plaintext: bytes) -> bytes:
        return self._aead.encrypt(self.nonce(index), plaintext, None)
