"""Restore a physical backup chain into a datadir: authenticate, extract, prepare, install.

Order (issue 13, and docs/restore.md's rule: all or nothing, staged):

1. the chain (:func:`dbseal.catalog.chains.chain_of`): full first; a missing, failed or
   gapped member is an error naming it, before anything is written;
2. every member's manifest and key envelope is authenticated (its data key unwrapped,
   the manifest's MAC checked): a wrong key fails here, before anything is written;
3. the engine's target check (the datadir is empty and no server uses it, the tool fits,
   the key material is there);
4. each member's data object is decrypted into the engine's staging (every chunk is
   authenticated as it streams; then the plaintext's size and SHA-256 are checked against
   the manifest), then prepared and moved into place by the engine.

Any failure, and an interrupt, after step 3 discards the staging: the datadir is left as
it was. Engine-agnostic: the engine hands a :class:`PhysicalTarget`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from dbseal.catalog import manifest as mf
from dbseal.catalog.chains import chain_of, method_of
from dbseal.catalog.repository import Repository
from dbseal.crypto.recipients import Identity
from dbseal.engines.base import Sink
from dbseal.errors import CorruptedData, FormatError, PolicyViolation, UsageError
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.restore import apply_backup, unlock_backup
from dbseal.pipeline import BackgroundHash


class PhysicalStaging(Protocol):
    """One restore in progress, outside the target until ``install``."""

    def member_sink(self, index: int, manifest: Mapping[str, Any]) -> Sink: ...
    def prepare(self, chain: Sequence[Mapping[str, Any]], reporter: Reporter) -> None: ...
    def install(self, chain: Sequence[Mapping[str, Any]]) -> dict[str, Any]: ...
    def discard(self) -> None: ...


class PhysicalTarget(Protocol):
    """Where a physical chain is restored (e.g. a MariaDB datadir)."""

    def check(self, chain: Sequence[Mapping[str, Any]]) -> None: ...
    def begin(self, backup: str) -> PhysicalStaging: ...


class _Hashing:
    """A sink wrapper that counts and hashes what passes (checked after the stream)."""

    def __init__(self, inner: Sink) -> None:
        self.inner, self.bytes, self.sha = inner, 0, BackgroundHash()

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self.sha.update(data)
        self.inner.write(data)

    def close(self) -> Any:
        return self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


def physical_chain(
    repo: Repository, bid: str, identities: Sequence[Identity]
) -> list[dict[str, Any]]:
    """The chain ending at ``bid``, every member's manifest and envelope authenticated."""
    chain = chain_of(repo, bid)
    for m in chain:
        mid = str(m["id"])
        if method_of(m) != "physical":
            raise UsageError(
                f"backup {mid} is a {method_of(m)} backup; --datadir restores physical backups",
                hint="restore it with --target mysql://USER@HOST instead",
            )
        if m.get("status") not in mf.GOOD_STATUSES or m.get("data_kept", True) is False:
            raise PolicyViolation(
                f"backup {mid} is recorded as {m.get('status')}: it cannot be restored",
                hint="restore `latest` (the newest good backup)",
            )
        unlock_backup(repo, mid, identities)  # NoMatchingKey, or a forged manifest
    return chain


def _extract(
    repo: Repository,
    member: dict[str, Any],
    identities: Sequence[Identity],
    sink: Sink,
    reporter: Reporter,
) -> int:
    mid = str(member["id"])
    reporter.event(
        "restore.phase",
        label=f"extract {mid}",
        expected_bytes=member.get("sizes", {}).get("raw"),
    )
    counted = _Hashing(sink)
    try:
        total = apply_backup(repo, mid, identities, counted, None, reporter, member)
    except FormatError as exc:  # name the member: in a chain it may not be the one asked for
        raise type(exc)(f"backup {mid}: {exc.message}", hint=exc.hint) from None
    expected = member.get("sizes", {}).get("raw")
    if expected is not None and total != expected:
        raise CorruptedData(
            f"backup {mid} decrypted to {total} bytes, its manifest says {expected}"
        )
    want = member.get("plaintext_sha256")
    if want and counted.sha.digest().hex() != want:
        raise CorruptedData(
            f"backup {mid}'s plaintext differs from the SHA-256 recorded at backup time"
        )
    return total


def restore_physical(
    repo: Repository,
    ref: str,
    identities: Sequence[Identity],
    target: PhysicalTarget,
    reporter: Reporter | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Restore the chain ending at ``ref`` into ``target``; returns facts about it."""
    reporter = reporter or NullReporter()
    t0 = time.monotonic()
    bid = repo.resolve(ref, source)
    chain = physical_chain(repo, bid, identities)
    target.check(chain)
    t1 = time.monotonic()
    staging = target.begin(bid)
    total = 0
    try:
        for i, member in enumerate(chain):
            total += _extract(repo, member, identities, staging.member_sink(i, member), reporter)
        t2 = time.monotonic()
        staging.prepare(chain, reporter)
        t3 = time.monotonic()
        result = staging.install(chain)
    except BaseException:
        staging.discard()
        raise
    t4 = time.monotonic()
    reporter.event("restore.end", id=bid)
    return {
        "id": bid,
        "chain": [str(m["id"]) for m in chain],
        "bytes": total,
        **result,
        "authenticate_s": round(t1 - t0, 3),
        "extract_s": round(t2 - t1, 3),
        "prepare_s": round(t3 - t2, 3),
        "install_s": round(t4 - t3, 3),
        "total_s": round(t4 - t0, 3),
    }


__all__ = ["PhysicalStaging", "PhysicalTarget", "physical_chain", "restore_physical"]
