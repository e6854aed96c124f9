"""Passphrase recipients: Argon2id (RFC 9106) with the cost in the stanza.

Stanza ``argon2id``: args = [salt (16), params (12: memory KiB u32, iterations
u32, lanes u32)], body = wrapped data key (48). A reader refuses parameters
below the floor (too weak to be ours) or above the ceiling (a denial of
service), before it spends any work.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from dbseal.crypto.secret import Secret
from dbseal.crypto.wrap import WRAPPED_LEN, unwrap_key, wrap_key
from dbseal.errors import UnsafeParameters
from dbseal.format.stanza import Stanza

STANZA_TYPE = "argon2id"
_AD = b"dbseal/v1 argon2id"


@dataclass(frozen=True)
class KdfParams:
    memory_kib: int = 65536  # RFC 9106 second recommended option: 64 MiB, t=3, p=4
    iterations: int = 3
    lanes: int = 4

    MIN_MEMORY_KIB = 19456  # OWASP's floor for Argon2id
    MAX_MEMORY_KIB = 1024 * 1024  # 1 GiB
    MIN_ITERATIONS = 2
    MAX_ITERATIONS = 16
    MAX_WORK = 4 * 1024 * 1024  # memory KiB x iterations: at most ~4 GiB of passes (a few seconds)
    MAX_LANES = 16

    def check(self) -> None:
        if not (
            self.MIN_MEMORY_KIB <= self.memory_kib <= self.MAX_MEMORY_KIB
            and self.MIN_ITERATIONS <= self.iterations <= self.MAX_ITERATIONS
            and 1 <= self.lanes <= self.MAX_LANES
            and self.memory_kib * self.iterations <= self.MAX_WORK
        ):
            raise UnsafeParameters(
                f"Argon2id parameters m={self.memory_kib}KiB t={self.iterations} p={self.lanes} are outside "
                f"the accepted range (m {self.MIN_MEMORY_KIB}..{self.MAX_MEMORY_KIB} KiB, "
                f"t {self.MIN_ITERATIONS}..{self.MAX_ITERATIONS}, p 1..{self.MAX_LANES}, "
                f"m x t at most {self.MAX_WORK} KiB)"
            )

    def encode(self) -> bytes:
        return struct.pack(">III", self.memory_kib, self.iterations, self.lanes)

    @classmethod
    def decode(cls, raw: bytes) -> KdfParams:
        m, t, p = struct.unpack(">III", raw)
        return cls(m, t, p)


def derive(secret: Secret, salt: bytes, params: KdfParams) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
        ad=_AD,
    )
    return kdf.derive(secret.reveal())


class PassphraseRecipient:
    def __init__(self, secret: Secret, params: KdfParams | None = None) -> None:
        self._secret = secret
        self.params = params or KdfParams()
        self.params.check()

    def describe(self) -> str:
        p = self.params
        return f"passphrase (argon2id m={p.memory_kib}KiB t={p.iterations} p={p.lanes})"

    def wrap(self, data_key: bytes, file_id: bytes) -> list[Stanza]:
        salt = os.urandom(16)
        wk = derive(self._secret, salt, self.params)
        return [
            Stanza(
                STANZA_TYPE,
                (salt, self.params.encode()),
                wrap_key(wk, data_key, STANZA_TYPE, file_id),
            )
        ]


class PassphraseIdentity:
    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def describe(self) -> str:
        return "passphrase"

    MAX_TRIES = 4  # a file cannot make us run the KDF more often than this

    def unwrap(self, stanzas: Sequence[Stanza], file_id: bytes) -> bytes | None:
        tries = 0
        for s in stanzas:
            if tries >= self.MAX_TRIES:
                break
            if s.type != STANZA_TYPE or len(s.args) != 2 or len(s.args[0]) != 16:
                continue
            if len(s.args[1]) != 12 or len(s.body) != WRAPPED_LEN:
                continue
            params = KdfParams.decode(s.args[1])
            params.check()
            tries += 1
            key = unwrap_key(derive(self._secret, s.args[0], params), s.body, STANZA_TYPE, file_id)
            if key is not None:
                return key
        return None


def describe_stanza(s: Stanza) -> dict[str, object]:
    if len(s.args) == 2 and len(s.args[1]) == 12:
        p = KdfParams.decode(s.args[1])
        return {
            "type": s.type,
            "memory_kib": p.memory_kib,
            "iterations": p.iterations,
            "lanes": p.lanes,
        }
    return {"type": s.type, "malformed": True}
