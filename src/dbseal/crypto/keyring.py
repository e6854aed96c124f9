"""A local keyring of versioned key-encryption keys (KEKs), sealed under a passphrase.

This is the NDB "secrets file" model: the keyring directory (0700) holds one
file, ``keyring.json`` (0600), whose key material is AES-256-GCM encrypted
under an Argon2id key derived from the keyring passphrase. Each named key has
numbered versions; new files are wrapped with the newest active version, and
older versions stay so old files still open.

Stanza ``keyring``: args = [keyring id (16), key name (UTF-8, 1..64), version
(u32), nonce (16)], body = wrapped data key (48). The wrap key is
HKDF-SHA-256(KEK, salt = file id || nonce, info = label || keyring id || name || version).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbseal.crypto.keyring_lock import keyring_lock
from dbseal.crypto.passphrase import KdfParams, derive
from dbseal.crypto.secret import Secret
from dbseal.crypto.wrap import WRAPPED_LEN, unwrap_key, wrap_key
from dbseal.errors import KeyDestroyed, KeyringError, KeyWithdrawn, NoMatchingKey, UsageError
from dbseal.format.stanza import Stanza
from dbseal.fsutil import atomic_write

STANZA_TYPE = "keyring"
FILE_NAME = "keyring.json"
FILE_FORMAT = 1
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


STATES = ("active", "retired", "destroyed")


@dataclass
class KeyVersion:
    """One version of a key. ``retired`` and ``destroyed`` versions have no key material left."""

    version: int
    created: str
    kek: bytes = field(repr=False)
    state: str = "active"
    changed: str | None = None  # when it was retired or destroyed
    escrowed: str | None = None  # when a paper/offline copy was last exported

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "created": self.created,
            "kek": self.kek.hex(),
            "state": self.state,
            "changed": self.changed,
            "escrowed": self.escrowed,
        }

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> KeyVersion:
        return cls(
            int(v["version"]),
            str(v["created"]),
            bytes.fromhex(v["kek"]),
            str(v["state"]),
            v.get("changed"),
            v.get("escrowed"),
        )

    def erase(self, state: str) -> None:
        """Forget the key material for good (retire or destroy)."""
        self.kek, self.state, self.changed = b"", state, _now()


@dataclass
class Keyring:
    directory: str
    keyring_id: bytes
    created: str
    keys: dict[str, list[KeyVersion]] = field(default_factory=dict)
    # the passphrase it was opened with, so a long-running backup can re-read it
    passphrase: Secret | None = field(default=None, repr=False, compare=False)

    @property
    def file(self) -> str:
        return os.path.join(self.directory, FILE_NAME)

    # --- lifecycle -----------------------------------------------------------------
    @classmethod
    def init(
        cls, directory: str, passphrase: Secret, first_key: str, params: KdfParams | None = None
    ) -> Keyring:
        check_key_name(first_key)
        ring = cls(directory, os.urandom(16), _now(), passphrase=passphrase)
        ring.create_directory()
        with keyring_lock(directory):
            ring.create_directory()  # again under the lock: a concurrent init may have won
            ring.add_version(first_key)
            ring.save(passphrase, params)
        return ring

    @classmethod
    def open(cls, directory: str, passphrase: Secret) -> Keyring:
        path = os.path.join(directory, FILE_NAME)
        try:
            with open(path, "rb") as fh:
                outer = json.loads(fh.read())
        except FileNotFoundError:
            raise KeyringError(f"no keyring in {directory!r}") from None
        except (OSError, ValueError) as exc:
            raise KeyringError(f"cannot read keyring {path!r}: {exc}") from None
        if not isinstance(outer, dict) or outer.get("dbseal_keyring") != FILE_FORMAT:
            raise KeyringError(f"{path!r} is not a dbseal keyring of a supported version")
        try:
            ring_id = bytes.fromhex(outer["keyring_id"])
            kdf = outer["kdf"]
            params = KdfParams(int(kdf["memory_kib"]), int(kdf["iterations"]), int(kdf["lanes"]))
            salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(outer["nonce"])
            ct = base64.b64decode(outer["ciphertext"])
        except (KeyError, ValueError, TypeError):
            raise KeyringError(f"keyring {path!r} is damaged") from None
        params.check()
        try:
            plain = AESGCM(derive(passphrase, salt, params)).decrypt(nonce, ct, _file_aad(ring_id))
        except InvalidTag:
            raise NoMatchingKey(
                "the keyring passphrase is wrong (or the keyring file was modified)",
                hint="give the keyring's passphrase with --keyring-passphrase-file/-fd/-command",
            ) from None
        inner = json.loads(plain)
        ring = cls(directory, ring_id, inner["created"], passphrase=passphrase)
        for name, versions in inner["keys"].items():
            ring.keys[name] = [KeyVersion.from_json(v) for v in versions]
        return ring

    def save(self, passphrase: Secret, params: KdfParams | None = None) -> None:
        """Re-seal and atomically replace the keyring file (0600)."""
        params = params or KdfParams()
        salt, nonce = os.urandom(16), os.urandom(12)
        inner = {
            "keyring_id": self.keyring_id.hex(),
            "created": self.created,
            "keys": {n: [v.to_json() for v in vs] for n, vs in self.keys.items()},
        }
        ct = AESGCM(derive(passphrase, salt, params)).encrypt(
            nonce, json.dumps(inner).encode(), _file_aad(self.keyring_id)
        )
        outer = {
            "dbseal_keyring": FILE_FORMAT,
            "keyring_id": self.keyring_id.hex(),
            "kdf": {
                "alg": "argon2id",
                "salt": salt.hex(),
                "memory_kib": params.memory_kib,
                "iterations": params.iterations,
                "lanes": params.lanes,
            },
            "nonce": nonce.hex(),
            "ciphertext": base64.b64encode(ct).decode(),
        }
        atomic_write(self.file, (json.dumps(outer, indent=1) + "\n").encode(), mode=0o600)

    def create_directory(self) -> None:
        """Make the (0700) keyring directory; refuses to overwrite an existing keyring."""
        if os.path.exists(self.file):
            raise KeyringError(
                f"a keyring already exists in {self.directory!r}",
                hint="use it, or choose another directory",
            )
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)
        except OSError as exc:
            raise KeyringError(
                f"cannot create keyring directory {self.directory!r}: {exc.strerror}"
            ) from None

    def get_all(self, name: str) -> list[KeyVersion]:
        versions = self.keys.get(name)
        if not versions:
            raise KeyringError(f"keyring {self.keyring_id.hex()} has no key named {name!r}")
        return versions

    # --- keys ------------------------------------------------------------------------
    def add_version(self, name: str) -> KeyVersion:
        check_key_name(name)
        versions = self.keys.setdefault(name, [])
        kv = KeyVersion(max((v.version for v in versions), default=0) + 1, _now(), os.urandom(32))
        versions.append(kv)
        return kv

    def get(self, name: str, version: int | None = None) -> KeyVersion:
        versions = self.keys.get(name)
        if not versions:
            raise KeyringError(f"keyring {self.keyring_id.hex()} has no key named {name!r}")
        if version is None:
            active = [v for v in versions if v.state == "active"]
            if not active:
                raise KeyringError(f"key {name!r} has no active version")
            return max(active, key=lambda v: v.version)
        for v in versions:
            if v.version == version:
                return v
        raise KeyringError(f"key {name!r} has no version {version}")


def _file_aad(ring_id: bytes) -> bytes:
    return b"dbseal/v1 keyring-file " + ring_id


def check_key_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid key name {name!r}",
            hint="use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )


def parse_key_ref(text: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION``."""
    name, sep, ver = text.partition(":")
    check_key_name(name)
    if not sep:
        return name, None
    if not ver.isdigit() or int(ver) < 1:
        raise UsageError(
            f"invalid key version in {text!r}", hint="write NAME or NAME:VERSION, e.g. backup:2"
        )
    return name, int(ver)


def _stanza_wrap_key(
    kek: bytes, file_id: bytes, nonce: bytes, ring_id: bytes, name: bytes, version: int
) -> bytes:
    info = b"dbseal/v1 keyring " + ring_id + b" " + name + b" " + struct.pack(">I", version)
    return HKDF(hashes.SHA256(), 32, salt=file_id + nonce, info=info).derive(kek)


class KeyringRecipient:
    def __init__(self, ring: Keyring, name: str, version: int | None = None) -> None:
        self.ring, self.key = ring, ring.get(name, version)
        self.name = name

    def describe(self) -> str:
        return f"keyring {self.ring.keyring_id.hex()} key {self.name}:{self.key.version}"

    def ref(self) -> dict[str, object]:
        """The key version, as in-flight announcements and manifests name it."""
        return {
            "keyring_id": self.ring.keyring_id.hex(),
            "key": self.name,
            "version": self.key.version,
        }

    def check_current(self) -> None:
        """Re-read the keyring; KeyWithdrawn if this version is gone, retired or destroyed now."""
        what = f"keyring key {self.name}:{self.key.version}"
        try:
            if self.ring.passphrase is None:
                raise KeyringError("the keyring was not opened from its file")
            now = Keyring.open(self.ring.directory, self.ring.passphrase)
            if now.keyring_id != self.ring.keyring_id:
                raise KeyringError(f"{self.ring.directory!r} now holds another keyring")
            kv = now.get(self.name, self.key.version)
        except (KeyringError, NoMatchingKey) as exc:
            raise KeyWithdrawn(f"{what} cannot be confirmed: {exc.message}") from None
        if kv.state != "active":
            raise KeyWithdrawn(f"{what} was {kv.state} on {kv.changed}, while the backup ran")

    def wrap(self, data_key: bytes, file_id: bytes) -> list[Stanza]:
        nonce, name = os.urandom(16), self.name.encode()
        wk = _stanza_wrap_key(
            self.key.kek, file_id, nonce, self.ring.keyring_id, name, self.key.version
        )
        body = wrap_key(wk, data_key, STANZA_TYPE, file_id)
        return [
            Stanza(
                STANZA_TYPE,
                (self.ring.keyring_id, name, struct.pack(">I", self.key.version), nonce),
                body,
            )
        ]


class KeyringIdentity:
    def __init__(self, ring: Keyring) -> None:
        self.ring = ring
        # Set when a stanza needed a version whose material was erased; the
        # caller reports it if nothing else opens the file.
        self.failure: KeyDestroyed | None = None

    def describe(self) -> str:
        return f"keyring {self.ring.keyring_id.hex()}"

    def unwrap(self, stanzas: Sequence[Stanza], file_id: bytes) -> bytes | None:
        for s in stanzas:
            if s.type != STANZA_TYPE or len(s.args) != 4 or len(s.body) != WRAPPED_LEN:
                continue
            ring_id, name, ver, nonce = s.args
            if ring_id != self.ring.keyring_id or len(ver) != 4 or len(nonce) != 16:
                continue
            (version,) = struct.unpack(">I", ver)
            try:
                kv = self.ring.get(name.decode("utf-8"), version)
            except (KeyringError, UsageError, UnicodeDecodeError):
                continue
            if not kv.kek:
                self.failure = KeyDestroyed(
                    f"the file is sealed for keyring key {name.decode('utf-8', 'replace')}:{version}, "
                    f"which was {kv.state} on {kv.changed}: its key material no longer exists"
                )
                continue
            wk = _stanza_wrap_key(kv.kek, file_id, nonce, ring_id, name, version)
            key = unwrap_key(wk, s.body, STANZA_TYPE, file_id)
            if key is not None:
                return key
        return None


def describe_stanza(s: Stanza) -> dict[str, object]:
    if len(s.args) == 4 and len(s.args[0]) == 16 and len(s.args[2]) == 4:
        return {
            "type": s.type,
            "keyring_id": s.args[0].hex(),
            "key": s.args[1].decode("utf-8", "replace"),
            "version": struct.unpack(">I", s.args[2])[0],
        }
    return {"type": s.type, "malformed": True}
