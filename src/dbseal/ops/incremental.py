"""The base of an incremental backup: which backup, and where its successor must start.

The LSN comes from the base's manifest in the repository, authenticated with the
backup's data key (``unlock_backup``), and the base's whole chain must be restorable
(:func:`dbseal.catalog.chains.chain_of`): an incremental on a broken chain could never
be restored either. Engine-agnostic: any engine whose manifests carry ``to_lsn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbseal.catalog import manifest as mf
from dbseal.catalog.chains import chain_of, method_of, newest_base
from dbseal.catalog.repository import Repository
from dbseal.catalog.source_names import source_name
from dbseal.crypto.recipients import Identity
from dbseal.errors import BackupNotFound, ChainBroken, UsageError
from dbseal.ops.restore import unlock_backup


@dataclass(frozen=True)
class Base:
    id: str
    to_lsn: int
    chain: tuple[str, ...]  # full first, ending with ``id``


def incremental_base(
    repo: Repository,
    source: str,
    identities: Sequence[Identity],
    ref: str | None = None,
    method: str = "physical",
) -> Base:
    """The base ``ref`` (default: the newest good ``method`` backup of ``source`` whose
    chain is whole), its chain checked and its manifest authenticated."""
    if not identities:
        raise UsageError(
            "an incremental backup reads its base's LSN from the base's authenticated "
            "manifest, which takes a key that opens the backups",
            hint="pass -i/--identity FILE, --keyring DIR or --passphrase-file F (the same as for restore)",
        )
    if ref is None:
        found = newest_base(repo, source, method)
        if found is None:
            raise BackupNotFound(
                f"no good {method} backup of source {source!r} to take an incremental on",
                hint=f"take a full backup first: --method {method} without --incremental",
            )
        bid = str(found["id"])
    else:
        bid = repo.resolve(ref, source)
    manifest = repo.manifest(bid)
    if method_of(manifest) != method:
        raise UsageError(
            f"backup {bid} is a {method_of(manifest)} backup; an incremental needs a {method} base",
            hint=f"pass --base ID of a {method} backup, or drop --base",
        )
    if source_name(manifest) != source:
        raise UsageError(f"backup {bid} is of source {source_name(manifest)!r}, not {source!r}")
    if manifest.get("status") not in mf.GOOD_STATUSES:
        raise ChainBroken(f"backup {bid} is {manifest.get('status')}: it cannot be a base")
    chain = chain_of(repo, bid)  # these very documents are authenticated next
    for member in chain:  # every member: a forged LSN anywhere would break the restore
        data_key = unlock_backup(repo, str(member["id"]), identities)
        try:
            file_id = bytes.fromhex(str(member.get("file_id")))
        except ValueError:
            file_id = b""
        mf.verify(member, mf.manifest_key(data_key, file_id))
    to_lsn = chain[-1].get("to_lsn")
    if not isinstance(to_lsn, int):
        raise ChainBroken(f"backup {bid}'s manifest records no to_lsn: it cannot be a base")
    return Base(bid, to_lsn, tuple(str(m["id"]) for m in chain))


__all__ = ["Base", "incremental_base"]
