"""X25519 public-key recipients with age's key encodings.

Recipients are ``age1...`` (bech32, HRP "age") and identities
``AGE-SECRET-KEY-1...`` (bech32, upper case), so keys made by ``age-keygen``
work here and keys made by ``dbseal keygen`` work with ``age``. The stanza is
dbseal's own (AES-256-GCM wrap, its own HKDF label), not age's.

Stanza ``x25519``: args = [ephemeral share (32), recipient public key (32)],
body = wrapped data key (48). The recipient key is recorded on purpose: an
auditor can see who can open a backup (dbseal gives up ciphertext anonymity).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import bech32
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbseal.crypto.wrap import WRAPPED_LEN, unwrap_key, wrap_key
from dbseal.errors import InvalidKeySpec
from dbseal.format.stanza import Stanza

STANZA_TYPE = "x25519"
_INFO = b"dbseal/v1 x25519"
_RAW = serialization.Encoding.Raw


def _encode(hrp: str, data: bytes) -> str:
    five = bech32.convertbits(data, 8, 5)
    assert five is not None
    return str(bech32.bech32_encode(hrp, five))


def _decode(text: str, hrp: str, what: str) -> bytes:
    if text != text.lower() and text != text.upper():
        raise InvalidKeySpec(f"{what} mixes upper and lower case (Bech32 forbids it)")
    got_hrp, data5 = bech32.bech32_decode(text)
    data = bech32.convertbits(data5, 5, 8, False) if data5 is not None else None
    if got_hrp != hrp or data is None or len(data) != 32:
        raise InvalidKeySpec(f"{what} is not a valid {hrp.upper()} key")
    return bytes(data)


def _pub_raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(_RAW, serialization.PublicFormat.Raw)


def _wrap_key(shared: bytes, eph: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=eph + recipient, info=_INFO).derive(shared)


class X25519Recipient:
    def __init__(self, public: bytes) -> None:
        self.public = public
        self._key = X25519PublicKey.from_public_bytes(public)

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        text = text.strip()
        if not text.lower().startswith("age1"):
            raise InvalidKeySpec(f"recipient {text[:80]!r} is not an age1... public key")
        return cls(_decode(text, "age", "recipient"))

    def encode(self) -> str:
        return _encode("age", self.public)

    def describe(self) -> str:
        return self.encode()

    def wrap(self, data_key: bytes, file_id: bytes) -> list[Stanza]:
        eph = X25519PrivateKey.generate()
        eph_pub = _pub_raw(eph.public_key())
        shared = eph.exchange(self._key)
        body = wrap_key(_wrap_key(shared, eph_pub, self.public), data_key, STANZA_TYPE, file_id)
        return [Stanza(STANZA_TYPE, (eph_pub, self.public), body)]


class X25519Identity:
    def __init__(self, private: bytes) -> None:
        self._key = X25519PrivateKey.from_private_bytes(private)
        self.public = _pub_raw(self._key.public_key())

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(
            X25519PrivateKey.generate().private_bytes(
                _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        )

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        text = text.strip()
        if not text.upper().startswith("AGE-SECRET-KEY-1"):
            raise InvalidKeySpec("identity is not an AGE-SECRET-KEY-1... key")
        return cls(_decode(text, "age-secret-key-", "identity"))

    def encode(self) -> str:
        raw = self._key.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return _encode("age-secret-key-", raw).upper()

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self.public)

    def describe(self) -> str:
        return f"identity for {self.recipient().encode()}"

    def identity_file_text(self) -> str:
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
        return f"# created: {now}\n# public key: {self.recipient().encode()}\n{self.encode()}\n"

    def unwrap(self, stanzas: Sequence[Stanza], file_id: bytes) -> bytes | None:
        for s in stanzas:
            if s.type != STANZA_TYPE or len(s.args) != 2 or len(s.body) != WRAPPED_LEN:
                continue
            eph, recipient = s.args
            if len(eph) != 32 or recipient != self.public:
                continue
            try:
                shared = self._key.exchange(X25519PublicKey.from_public_bytes(eph))
            except ValueError:  # all-zero shared secret (low-order point)
                continue
            key = unwrap_key(_wrap_key(shared, eph, self.public), s.body, STANZA_TYPE, file_id)
            if key is not None:
                return key
        return None


def parse_identity_file(text: str, origin: str) -> list[X25519Identity]:
    """Every AGE-SECRET-KEY-1 line of an identity file (comments and blanks skipped)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.upper().startswith("AGE-SECRET-KEY-1"):
            raise InvalidKeySpec(f"{origin} line {n} is not an AGE-SECRET-KEY-1... identity")
        out.append(X25519Identity.parse(line))
    if not out:
        raise InvalidKeySpec(f"{origin} holds no AGE-SECRET-KEY-1... identity")
    return out


def parse_recipients_file(text: str, origin: str) -> list[X25519Recipient]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(X25519Recipient.parse(line))
        except InvalidKeySpec:
            raise InvalidKeySpec(f"{origin} line {n} is not an age1... recipient") from None
    if not out:
        raise InvalidKeySpec(f"{origin} holds no recipient")
    return out


def describe_stanza(s: Stanza) -> dict[str, object]:
    ok = len(s.args) == 2 and len(s.args[1]) == 32
    return {"type": s.type, "recipient": _encode("age", s.args[1]) if ok else None}
