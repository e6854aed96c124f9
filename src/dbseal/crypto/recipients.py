"""The two interfaces of dbseal's key layer (after age's Recipient/Identity).

A :class:`Recipient` wraps a file's data key into one or more stanzas; an
:class:`Identity` tries to unwrap a data key from a file's stanzas. Identities
return ``None`` for "not mine / does not open" and never say why, so no error
becomes an oracle; the one exception is :class:`~dbseal.errors.UnsafeParameters`,
raised before any expensive work when a stanza asks for an absurd KDF cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dbseal.format.stanza import Stanza


class Recipient(Protocol):
    def wrap(self, data_key: bytes, file_id: bytes) -> list[Stanza]: ...

    def describe(self) -> str:
        """A short public description for logs and manifests (never secret)."""
        ...


class Identity(Protocol):
    def unwrap(self, stanzas: Sequence[Stanza], file_id: bytes) -> bytes | None: ...

    def describe(self) -> str: ...


def describe_stanza(stanza: Stanza) -> dict[str, object]:
    """What a keyless reader may learn from a stanza (used by ``inspect``)."""
    from dbseal.crypto import keyring, kms, passphrase, x25519

    for mod in (x25519, passphrase, keyring, kms):
        if stanza.type == mod.STANZA_TYPE:
            described: dict[str, object] = mod.describe_stanza(stanza)
            return described
    return {"type": stanza.type, "known": False}
