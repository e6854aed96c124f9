"""Restore a backup: authenticate everything first, then stream into the target.

By default nothing reaches the target until the whole backup has been
decrypted and authenticated once (pass 1, no plaintext is stored anywhere),
its manifest's MAC checked and the dump's completion marker found. Pass 2
decrypts again and streams into the target's client. Pass 2 re-authenticates
every chunk; a backup swapped *between* the passes by someone without the key
can only fail authentication, which stops the client with an error.

Before any of that, the databases the restore would write (the manifest's, narrowed by
``--database``, under their ``--rename-db`` names) are looked up on the target: one that
exists and holds anything stops the restore (:class:`TargetNotEmpty`) unless ``replace``.
The check runs again after pass 1 (the target may have changed meanwhile); with
``replace`` the existing databases are then dropped, and the dump's own ``CREATE
DATABASE`` (with the backup's character set and collation) creates them again. Every
database that did not exist (or was dropped) is created without ``IF NOT EXISTS``, so one
that appears meanwhile stops the restore at its ``CREATE DATABASE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository, data_handle, envelope_handle
from dbseal.crypto.recipients import Identity
from dbseal.errors import (
    CorruptedData,
    DbsealError,
    IncompleteRestoreFound,
    Interrupted,
    PolicyViolation,
    RestoreFailed,
    TargetNotEmpty,
    TruncatedData,
)
from dbseal.format.header import MAX_HEADER_LEN, PREAMBLE_LEN, read_header
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.seal import open_sealed_with_key, unwrap_data_key
from dbseal.pipeline import BackgroundHash
from dbseal.sources.rename import RenameFilter
from dbseal.sources.staging import Leftover, Staging
from dbseal.sources.swap import SwapIncomplete
from dbseal.sources.target_databases import DatabaseContents

COMPLETION_MARKER = b"-- Dump completed"
HEADER_READ = PREAMBLE_LEN + MAX_HEADER_LEN  # a ranged read that always holds the whole header


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> Any: ...
    def abort(self) -> None: ...


class ByteFilter(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class TargetDatabases(Protocol):
    """The target server's databases, as the restore sees them."""

    def address(self) -> str: ...
    def existing(self, names: Sequence[str]) -> Mapping[str, DatabaseContents]: ...
    def leftovers(self, names: Sequence[str]) -> Sequence[Leftover]: ...
    def discard(self, leftovers: Sequence[Leftover]) -> None: ...
    def begin(self, names: Sequence[str], backup: str) -> Staging: ...
    def rollback(self, staging: Staging) -> None: ...
    def commit(
        self, staging: Staging, existing: Sequence[str], recharset: Sequence[str]
    ) -> None: ...


@dataclass(frozen=True)
class Selection:
    """Which databases of a backup are restored (``only``; None: all), under which names."""

    rename: Mapping[str, str] = field(default_factory=dict)
    only: frozenset[str] | None = None

    def targets(self, manifest: Mapping[str, Any]) -> list[str]:
        """The names the restore writes to, in the backup's order."""
        names = [str(d) for d in manifest.get("databases") or []]
        return [self.rename.get(d, d) for d in names if self.only is None or d in self.only]

    def byte_filter(self, fresh: Sequence[str] = ()) -> ByteFilter | None:
        """Renames and selects; the databases of ``fresh`` must not exist when created."""
        if not self.rename and self.only is None and not fresh:
            return None
        return RenameFilter(dict(self.rename) or None, self.only, fresh=set(fresh))

    def staged(self, manifest: Mapping[str, Any], staging: Staging) -> ByteFilter | None:
        """The filter that restores each selected database into its staging database."""
        names = [str(d) for d in manifest.get("databases") or []]
        rename = {d: staging.rename_of(self.rename.get(d, d)) for d in names}
        return Selection(rename, self.only).byte_filter(list(staging.names.values()))


def check_target(
    target: TargetDatabases, names: Sequence[str], replace: bool
) -> Mapping[str, DatabaseContents]:
    """The databases of ``names`` that exist; raises TargetNotEmpty for one that holds
    anything, unless ``replace``."""
    existing = target.existing(names)
    if not replace:
        _refuse_leftovers(target, names, existing)
    busy = [existing[n] for n in names if n in existing and not existing[n].empty]
    if busy and not replace:
        what = "; ".join(f"{c.name} (holds {c.describe()})" for c in busy)
        one = len(busy) == 1
        raise TargetNotEmpty(
            f"database{'' if one else 's'} {what} on {target.address()} already "
            f"exist{'s' if one else ''} and {'is' if one else 'are'} not empty; nothing was restored"
        )
    return existing


def _refuse_leftovers(
    target: TargetDatabases, names: Sequence[str], existing: Mapping[str, DatabaseContents]
) -> None:
    marked = [
        f"database {n} was left by an incomplete restore of {existing[n].incomplete_of}"
        for n in names
        if n in existing and existing[n].incomplete_of
    ]
    marked += [
        f"an incomplete restore of {left.backup} into {left.target} left its staging "
        f"database {left.staging}"
        for left in target.leftovers(names)
    ]
    if marked:
        raise IncompleteRestoreFound(
            f"{'; '.join(marked)} on {target.address()}; rerun with --replace; nothing was restored"
        )


def _outcome(
    names: Sequence[str], existing: Mapping[str, DatabaseContents], replace: bool
) -> dict[str, list[str]]:
    """Which databases the restore created, replaced, or filled while they were empty."""
    return {
        "databases": list(names),
        "created": [n for n in names if n not in existing],
        "replaced": [n for n in names if n in existing and replace],
        "existing_empty": [n for n in names if n in existing and not replace],
    }


def _plaintext(
    repo: Repository, bid: str, identities: Sequence[Identity], manifest: dict[str, Any]
) -> Iterator[bytes]:
    envelope = repo.backend.get(envelope_handle(bid))
    with repo.backend.open(data_handle(bid)) as fh:
        opened = open_sealed_with_key(fh, identities, envelope)
        mf.verify(manifest, mf.manifest_key(opened.data_key.reveal(), opened.header.file_id))
        if opened.header.file_id.hex() != manifest.get("file_id"):
            raise CorruptedData(f"backup {bid}'s data object does not belong to its manifest")
        yield from opened.plaintext


def unlock_backup(repo: Repository, bid: str, identities: Sequence[Identity]) -> bytes:
    """Unwrap a backup's data key (header and envelope only), check its manifest's MAC; returns the key."""
    manifest = repo.manifest(bid)
    envelope = repo.backend.get(envelope_handle(bid))
    with repo.backend.open(data_handle(bid), 0, HEADER_READ) as fh:  # the header only
        header = read_header(fh)
    data_key = unwrap_data_key(header, identities, envelope)
    mf.verify(manifest, mf.manifest_key(data_key, header.file_id))
    return data_key


def authenticate_backup(
    repo: Repository, bid: str, identities: Sequence[Identity], reporter: Reporter | None = None
) -> dict[str, Any]:
    """Pass 1: decrypt and authenticate everything, check size and completion marker; writes nothing."""
    reporter = reporter or NullReporter()
    manifest = repo.manifest(bid)
    expected = manifest.get("sizes", {}).get("raw")
    reporter.event("restore.phase", label="authenticate", expected_bytes=expected)
    total, tail, hasher = 0, b"", BackgroundHash()
    for piece in _plaintext(repo, bid, identities, manifest):
        total += len(piece)
        hasher.update(piece)
        tail = (tail + piece[-4096:])[-4096:]
        reporter.event("progress", bytes=total)
    if expected is not None and total != expected:
        raise CorruptedData(
            f"backup {bid} decrypted to {total} bytes, its manifest says {expected}"
        )
    want = manifest.get("plaintext_sha256")
    if want and hasher.digest().hex() != want:
        raise CorruptedData(
            f"backup {bid}'s plaintext differs from the SHA-256 recorded at backup time"
        )
    last_line = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if manifest.get("source", {}).get(
        "kind", "mysqldump"
    ) == "mysqldump" and not last_line.startswith(COMPLETION_MARKER):
        raise TruncatedData(
            f"backup {bid} does not end with the dump's completion marker: the dump stopped early",
            hint="this backup is incomplete; restore an earlier good backup",
        )
    return manifest


def apply_backup(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    sink: Sink,
    byte_filter: ByteFilter | None = None,
    reporter: Reporter | None = None,
    manifest: dict[str, Any] | None = None,
) -> int:
    """Decrypt backup ``bid`` into ``sink`` (closing it); returns the plaintext bytes."""
    reporter = reporter or NullReporter()
    manifest = manifest or repo.manifest(bid)
    total = 0
    try:
        for piece in _plaintext(repo, bid, identities, manifest):
            total += len(piece)
            sink.write(byte_filter.feed(piece) if byte_filter else piece)
            reporter.event("progress", bytes=total)
        if byte_filter:
            sink.write(byte_filter.flush())
    except BaseException:
        sink.abort()
        raise
    sink.close()
    return total


@dataclass(frozen=True)
class _Plan:
    names: Sequence[str]
    existing: Sequence[str]
    replace: bool

    def untouched(self) -> str:
        """What a stopped restore left of the target (nothing)."""
        parts = []
        kept = [n for n in self.names if n in self.existing]
        new = [n for n in self.names if n not in self.existing]
        if new:
            parts.append(f"not created: {', '.join(new)}")
        if kept:
            parts.append(f"old contents kept: {', '.join(kept)}")
        return f"target untouched ({'; '.join(parts)}); the partial copy was dropped"


def _stopped(exc: BaseException, what: str) -> BaseException:
    """``exc`` with what happened to the target added to its message."""
    if isinstance(exc, DbsealError):
        return type(exc)(f"{exc.message}; {what}", hint=exc.hint)
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(f"interrupted; {what}")
    return exc


def _roll_back(
    target: TargetDatabases, staging: Staging, plan: _Plan, exc: BaseException
) -> NoReturn:
    try:
        target.rollback(staging)
        what = plan.untouched()
    except (DbsealError, KeyboardInterrupt):
        what = (
            "target untouched, but the partial copy in staging databases "
            f"{', '.join(staging.names.values())} could not be dropped (the next restore "
            "into these databases reports it; --replace removes it)"
        )
    raise _stopped(exc, what) from None


def _apply_staged(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    make_sink: Callable[[], Sink],
    selection: Selection,
    target: TargetDatabases,
    plan: _Plan,
    reporter: Reporter,
    manifest: dict[str, Any],
) -> int:
    """Apply into staging databases, then swap them into the targets (all or nothing)."""
    sink = make_sink()  # connected first: a login failure must not leave a ledger
    try:
        if plan.replace:
            target.discard(target.leftovers(plan.names))
        staging = target.begin(plan.names, bid)
    except BaseException:
        sink.abort()
        raise
    try:
        total = apply_backup(
            repo, bid, identities, sink, selection.staged(manifest, staging), reporter, manifest
        )
        reporter.event("restore.swap", databases=list(plan.names))
        target.commit(staging, plan.existing, plan.existing if plan.replace else [])
    except SwapIncomplete as exc:
        raise RestoreFailed(
            f"the restored tables of {', '.join(plan.names)} are in place, but recreating their "
            f"other objects failed: {exc}; the databases are marked as an incomplete restore "
            f"of {bid}",
            hint=IncompleteRestoreFound.hint,
        ) from None
    except BaseException as exc:
        _roll_back(target, staging, plan, exc)
    if plan.replace and plan.existing:
        reporter.event("restore.replaced", databases=list(plan.existing))
    return total


def restore_backup(
    repo: Repository,
    ref: str,
    identities: Sequence[Identity],
    make_sink: Callable[[], Sink],
    selection: Selection | None = None,
    target: TargetDatabases | None = None,
    replace: bool = False,
    verify_first: bool = True,
    allow_failed: bool = False,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Restore backup ``ref`` through ``make_sink()``; returns facts about the restore.

    With ``target``, the databases written are checked first (see the module text);
    ``replace`` drops the existing ones after pass 1, before anything is applied.
    """
    reporter = reporter or NullReporter()
    selection = selection or Selection()
    bid = repo.resolve(ref)
    manifest = repo.manifest(bid)
    if manifest.get("status") not in mf.GOOD_STATUSES and not allow_failed:
        raise PolicyViolation(
            f"backup {bid} is recorded as {manifest.get('status')}: {'; '.join(manifest.get('reasons', []))}",
            hint="restore `latest` (the newest good backup), or pass --allow-failed to restore it anyway",
        )
    names = selection.targets(manifest)
    if target is not None:
        check_target(target, names, replace)  # fail fast, before the long pass 1
    t0 = time.monotonic()
    if verify_first:
        authenticate_backup(repo, bid, identities, reporter)
    t1 = time.monotonic()
    existing = check_target(target, names, replace) if target is not None else {}
    reporter.event(
        "restore.phase", label="restore", expected_bytes=manifest.get("sizes", {}).get("raw")
    )
    try:
        if target is None:
            sink = make_sink()
            total = apply_backup(
                repo, bid, identities, sink, selection.byte_filter(), reporter, manifest
            )
        else:
            plan = _Plan(names, [n for n in names if n in existing], replace)
            total = _apply_staged(
                repo, bid, identities, make_sink, selection, target, plan, reporter, manifest
            )
    except DbsealError as exc:
        if verify_first:
            raise
        raise type(exc)(
            f"{exc.message} (backup {bid} was not authenticated first)", hint=exc.hint
        ) from None
    t2 = time.monotonic()
    reporter.event("restore.end", id=bid)
    return {
        "id": bid,
        "bytes": total,
        **_outcome(names, existing, replace),
        "authenticate_s": round(t1 - t0, 3),
        "apply_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
    }
