"""Change who can open backups: rewrap (envelope only), reencrypt (new data key), forget/shred.

* :func:`rewrap_backup` unwraps a backup's data key with a current identity and
  writes a new key envelope with stanzas added and/or removed. The data object
  is never read past its header, never written: on S3 its ETag is unchanged.
  Idempotent: a backup that already has the wanted stanzas is left alone, so
  an interrupted ``rewrap --all`` is finished by running it again.
* :func:`reencrypt_backup` is for what rewrap cannot fix (an exposed data key,
  a removed recipient who kept an old envelope): a new data key, a full
  streaming re-seal into a *new* backup, then the old one is shredded.
* deleting a backup (``forget``, and ``--shred``) is :mod:`dbseal.ops.forget`.
"""

from __future__ import annotations

import datetime
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import (
    Repository,
    data_handle,
    envelope_handle,
    log_handle,
    manifest_handle,
    new_backup_id,
)
from dbseal.codecs import Codec, parse_codec
from dbseal.codecs.base import IterReader
from dbseal.crypto.recipients import Identity, Recipient, describe_stanza
from dbseal.errors import CorruptedData, DbsealError, PolicyViolation, UsageError
from dbseal.format.envelope import Envelope, parse_envelope
from dbseal.format.header import derive_subkeys
from dbseal.format.stanza import Stanza
from dbseal.ops.forget import forget_backup
from dbseal.ops.restore import unlock_backup
from dbseal.ops.seal import (
    new_file_keys,
    open_sealed,
    open_sealed_with_key,
    seal_stream,
    unwrap_envelope,
)


@dataclass(frozen=True)
class Spec:
    """Which stanzas a ``--to``/``--remove`` argument names."""

    kind: str  # x25519 | keyring | passphrase | awskms
    value: str = ""  # age1 key, key name, or KMS key id
    version: int | None = None  # keyring version

    def matches(self, s: Stanza, keyring_id: bytes | None = None) -> bool:
        if self.kind == "x25519":
            d = describe_stanza(s)
            return s.type == "x25519" and d.get("recipient") == self.value
        if self.kind == "passphrase":
            return s.type == "argon2id"
        if self.kind == "keyring":
            if s.type != "keyring" or len(s.args) != 4 or len(s.args[2]) != 4:
                return False
            if keyring_id is not None and s.args[0] != keyring_id:
                return False
            if s.args[1].decode("utf-8", "replace") != self.value:
                return False
            return self.version is None or struct.unpack(">I", s.args[2])[0] == self.version
        if self.kind == "awskms":
            return (
                s.type == "awskms"
                and bool(s.args)
                and self.value in {a.decode("utf-8", "replace") for a in s.args}
            )
        return False


def parse_spec(text: str) -> Spec:
    """``age1...``, ``keyring:NAME[:VERSION]``, ``passphrase``, ``awskms:KEY[?...]``."""
    text = text.strip()
    if text.lower().startswith("age1"):
        return Spec("x25519", text.lower())
    if text == "passphrase":
        return Spec("passphrase")
    if text.startswith("keyring:"):
        name, _, ver = text[len("keyring:") :].partition(":")
        if not name or (ver and not ver.isdigit()):
            raise UsageError(
                f"invalid key spec {text!r}", hint="write keyring:NAME or keyring:NAME:VERSION"
            )
        return Spec("keyring", name, int(ver) if ver else None)
    if text.startswith("awskms:"):
        return Spec("awskms", text[len("awskms:") :].split("?", 1)[0])
    raise UsageError(
        f"invalid recipient spec {text!r}",
        hint="use age1..., keyring:NAME[:VERSION], passphrase, or awskms:KEY",
    )


def rewrap_backup(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    add: Sequence[tuple[Spec, Recipient]],
    remove: Sequence[Spec],
    keyring_id: bytes | None = None,
) -> str:
    """Rewrite ``bid``'s key envelope; returns "rewrapped" or "unchanged"."""
    # Only the key envelope and the manifest are read: the data object is never
    # touched, so the cost does not depend on the backup's size.
    raw = repo.backend.get(envelope_handle(bid))
    old = parse_envelope(raw)
    data_key, _file_id = unwrap_envelope(raw, identities)
    mac_key = derive_subkeys(data_key, old.file_id).header_mac
    manifest = repo.manifest(bid)
    if manifest.get("file_id") != old.file_id.hex():
        raise CorruptedData(f"backup {bid}'s key envelope does not belong to its manifest")
    mf.verify(manifest, mf.manifest_key(data_key, old.file_id))
    kept = [s for s in old.stanzas if not any(r.matches(s, keyring_id) for r in remove)]
    added: list[Stanza] = []
    for spec, recipient in add:
        if any(spec.matches(s, keyring_id) for s in kept):
            continue
        added += recipient.wrap(data_key, old.file_id)
    stanzas = kept + added
    if stanzas == old.stanzas:
        return "unchanged"
    if not stanzas:
        raise PolicyViolation(
            f"rewrapping backup {bid} would leave no recipient at all",
            hint="to make a backup unrecoverable on purpose, use `dbseal forget --shred ID`",
        )
    new = Envelope(old.file_id, old.header_hash, stanzas).encode(mac_key)
    repo.backend.put(envelope_handle(bid), new, overwrite=True)
    return "rewrapped"


def reencrypt_backup(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    recipients: Sequence[Recipient],
    codec: Codec | None = None,
) -> str:
    """Re-seal ``bid`` under a new data key as a new backup, then shred the old one; returns the new id."""
    old_manifest = repo.manifest(bid)
    unlock_backup(repo, bid, identities)  # checks the old manifest before copying it
    codec = codec or parse_codec(str(old_manifest.get("codec") or repo.config.codec))
    new_bid = new_backup_id()
    data_key, file_id = new_file_keys()
    envelope = repo.backend.get(envelope_handle(bid))
    label = {
        "backup_id": new_bid,
        "repository_id": repo.config.repository_id,
        "reencrypted_from": bid,
    }
    with (
        repo.backend.open(data_handle(bid)) as src,
        repo.backend.writer(data_handle(new_bid)) as out,
    ):
        opened = open_sealed_with_key(src, identities, envelope)
        sealed = seal_stream(
            IterReader(opened.plaintext),
            out,
            recipients,
            codec,
            label,
            detached=True,
            keys=(data_key, file_id),
            hash_plaintext=True,
        )
        want = old_manifest.get("plaintext_sha256")
        if want and sealed.plaintext_sha256 is not None and sealed.plaintext_sha256.hex() != want:
            raise CorruptedData(
                f"backup {bid} re-sealed to other plaintext than recorded; nothing was replaced"
            )
    assert sealed.envelope is not None
    repo.backend.put(log_handle(new_bid), _reseal_log(repo, bid, identities, recipients, new_bid))
    repo.backend.put(envelope_handle(new_bid), sealed.envelope)
    doc: dict[str, Any] = {k: v for k, v in old_manifest.items() if k != "mac"}
    doc.update(
        id=new_bid,
        file_id=file_id.hex(),
        data_sha256=sealed.sha256.hex(),
        sizes={
            **old_manifest.get("sizes", {}),
            "stored": sealed.stored_bytes,
            "compressed": sealed.compressed_bytes,
        },
        codec=f"{codec.name}:{codec.level}" if codec.name != "none" else "none",
        keys=[describe_stanza(s) for s in parse_envelope(sealed.envelope).stanzas],
        reencrypted_from=bid,
        reencrypted_at=datetime.datetime.now(datetime.UTC).isoformat(),
    )
    repo.backend.put(
        manifest_handle(new_bid), mf.encode(mf.sign(doc, mf.manifest_key(data_key, file_id)))
    )
    forget_backup(repo, bid, shred=True)
    return new_bid


def _reseal_log(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    recipients: Sequence[Recipient],
    new_bid: str,
) -> bytes:
    try:
        _h, plain = open_sealed(io.BytesIO(repo.backend.get(log_handle(bid))), identities)
        text = b"".join(plain)
    except DbsealError:
        text = (
            b'{"stderr": "", "reasons": ["the original log could not be opened during reencrypt"]}'
        )
    out = io.BytesIO()
    seal_stream(
        io.BytesIO(text),
        out,
        recipients,
        parse_codec("zstd"),
        {"backup_id": new_bid, "kind": "log"},
    )
    return out.getvalue()
