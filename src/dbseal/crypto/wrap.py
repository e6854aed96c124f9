"""Wrapping a data key: AES-256-GCM under a single-use key, zero nonce.

Every wrap key is derived freshly for one stanza (from a random salt, an
ephemeral X25519 share or a per-stanza nonce), so a fixed nonce is never
reused under one key. The associated data binds the stanza to its type and
to the file, so a stanza cannot be moved to another file or another type.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dbseal.format.header import DATA_KEY_LEN

WRAPPED_LEN = DATA_KEY_LEN + 16
_NONCE = bytes(12)


def _aad(stanza_type: str, file_id: bytes) -> bytes:
    return b"dbseal/v1 stanza " + stanza_type.encode() + b" " + file_id


def wrap_key(wrap_key: bytes, data_key: bytes, stanza_type: str, file_id: bytes) -> bytes:
    return AESGCM(wrap_key).encrypt(_NONCE, data_key, _aad(stanza_type, file_id))


def unwrap_key(wrap_key: bytes, body: bytes, stanza_type: str, file_id: bytes) -> bytes | None:
    """The data key, or None (opaque) when the body does not open."""
    if len(body) != WRAPPED_LEN:
        return None
    try:
        return AESGCM(wrap_key).decrypt(_NONCE, body, _aad(stanza_type, file_id))
    except InvalidTag:
        return None
