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
from typing import Any, Protocol

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository, data_handle, envelope_handle
from dbseal.crypto.recipients import Identity
from dbseal.errors import (
    CorruptedData,
    DbsealError,
    PolicyViolation,
    TargetNotEmpty,
    TruncatedData,
)
from dbseal.format.header import MAX_HEADER_LEN, PREAMBLE_LEN, read_header
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.seal import open_sealed_with_key, unwrap_data_key, unwrap_envelope
from dbseal.pipeline import BackgroundHash
from dbseal.sources.rename import RenameFilter
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


class PlaintextScan(ByteFilter, Protocol):
    """Reads the plaintext in pass 1 (its output is dropped); ``check`` may then refuse it."""

    def check(self) -> None: ...


class TargetDatabases(Protocol):
    """The target server's databases, as the restore sees them."""

    def address(self) -> str: ...
    def existing(self, names: Sequence[str]) -> Mapping[str, DatabaseContents]: ...
    def drop(self, names: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class Selection:
    """Which databases of a backup are restored (``only``; None: all), under which names."""

    rename: Mapping[str, str] = field(default_factory=dict)
    only: frozenset[str] | None = None
    keep_events_enabled: bool = False  # renamed copies' events are created disabled otherwise
    allow_old_references: bool = False  # restore objects that still name a renamed database

    def targets(self, manifest: Mapping[str, Any]) -> list[str]:
        """The names the restore writes to, in the backup's order."""
        names = [str(d) for d in manifest.get("databases") or []]
        return [self.rename.get(d, d) for d in names if self.only is None or d in self.only]

    def byte_filter(self, fresh: Sequence[str] = ()) -> RenameFilter | None:
        """Renames and selects; the databases of ``fresh`` must not exist when created."""
        if not self.rename and self.only is None and not fresh:
            return None
        return RenameFilter(
            dict(self.rename) or None,
            self.only,
            fresh=set(fresh),
            keep_events_enabled=self.keep_events_enabled,
            allow_old_references=self.allow_old_references,
        )

    def scanner(self) -> PlaintextScan | None:
        """For pass 1: finds objects that would still name a renamed database."""
        found = self.byte_filter()
        return found.scanner() if found is not None and self.rename else None


def check_target(
    target: TargetDatabases, names: Sequence[str], replace: bool
) -> Mapping[str, DatabaseContents]:
    """The databases of ``names`` that exist; raises TargetNotEmpty for one that holds
    anything, unless ``replace``."""
    existing = target.existing(names)
    busy = [existing[n] for n in names if n in existing and not existing[n].empty]
    if busy and not replace:
        what = "; ".join(f"{c.name} (holds {c.describe()})" for c in busy)
        one = len(busy) == 1
        raise TargetNotEmpty(
            f"database{'' if one else 's'} {what} on {target.address()} already "
            f"exist{'s' if one else ''} and {'is' if one else 'are'} not empty; nothing was restored"
        )
    return existing


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


def _rename_outcome(byte_filter: RenameFilter | None, reporter: Reporter) -> dict[str, list[str]]:
    """The events a renamed restore created disabled, and the old names it was allowed to keep."""
    disabled = byte_filter.disabled_events if byte_filter else []
    kept = byte_filter.old_references if byte_filter else []
    if disabled:
        reporter.event("restore.events_disabled", events=disabled)
    if kept:
        reporter.event("restore.old_references", objects=kept)
    return {"disabled_events": list(disabled), "old_references": list(kept)}


def _drop_for_replace(
    target: TargetDatabases, names: Sequence[str], sink: Sink, reporter: Reporter
) -> None:
    """``--replace``: drop the existing databases (the dump creates them again)."""
    try:
        target.drop(names)
    except BaseException:
        sink.abort()
        raise
    reporter.event("restore.replaced", databases=list(names))


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
    if manifest.get("data_kept", True) is False:  # a failed backup: its data object is gone
        data_key, file_id = unwrap_envelope(envelope, identities)
    else:
        with repo.backend.open(data_handle(bid), 0, HEADER_READ) as fh:  # the header only
            header = read_header(fh)
        data_key, file_id = unwrap_data_key(header, identities, envelope), header.file_id
    mf.verify(manifest, mf.manifest_key(data_key, file_id))
    return data_key


def authenticate_backup(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    reporter: Reporter | None = None,
    scan: ByteFilter | None = None,
) -> dict[str, Any]:
    """Pass 1: decrypt and authenticate everything, check size and completion marker; writes nothing.

    ``scan``, if given, is fed the plaintext too (what it returns is dropped)."""
    reporter = reporter or NullReporter()
    manifest = repo.manifest(bid)
    expected = manifest.get("sizes", {}).get("raw")
    reporter.event("restore.phase", label="authenticate", expected_bytes=expected)
    total, tail, hasher = 0, b"", BackgroundHash()
    for piece in _plaintext(repo, bid, identities, manifest):
        total += len(piece)
        hasher.update(piece)
        if scan is not None:
            scan.feed(piece)
        tail = (tail + piece[-4096:])[-4096:]
        reporter.event("progress", bytes=total)
    if scan is not None:
        scan.flush()
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
    tap: Callable[[ByteFilter | None], ByteFilter] | None = None,
) -> dict[str, Any]:
    """Restore backup ``ref`` through ``make_sink()``; returns facts about the restore.

    ``tap`` wraps the filter of the apply pass (e.g. to collect the backup's accounts).

    With ``target``, the databases written are checked first (see the module text);
    ``replace`` drops the existing ones after pass 1, before anything is applied. Under
    ``--rename-db``, pass 1 also looks for objects that would still name a renamed
    database and refuses them (OldReferences) before anything is applied, unless allowed.
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
    if manifest.get("data_kept", True) is False:
        raise PolicyViolation(
            f"backup {bid} failed and its incomplete dump was removed: there is nothing to restore",
            hint="restore `latest` (the newest good backup)",
        )
    names = selection.targets(manifest)
    if target is not None:
        check_target(target, names, replace)  # fail fast, before the long pass 1
    t0 = time.monotonic()
    if verify_first:
        scan = selection.scanner()
        authenticate_backup(repo, bid, identities, reporter, scan)
        if scan is not None:
            scan.check()
    t1 = time.monotonic()
    existing = check_target(target, names, replace) if target is not None else {}
    reporter.event(
        "restore.phase", label="restore", expected_bytes=manifest.get("sizes", {}).get("raw")
    )
    sink = make_sink()  # connected first: a login failure must not follow a drop
    if target is not None and replace and existing:
        _drop_for_replace(target, [n for n in names if n in existing], sink, reporter)
    fresh = [n for n in names if replace or n not in existing] if target is not None else []
    byte_filter = selection.byte_filter(fresh)
    try:
        applied = tap(byte_filter) if tap is not None else byte_filter
        total = apply_backup(repo, bid, identities, sink, applied, reporter, manifest)
    except DbsealError as exc:
        if verify_first:
            raise
        raise type(exc)(
            f"{exc.message} (backup {bid}; it was not authenticated first, so part of it "
            "may already have been applied to the target)",
            hint=exc.hint,
        ) from None
    t2 = time.monotonic()
    renamed = _rename_outcome(byte_filter, reporter)
    reporter.event("restore.end", id=bid)
    return {
        "id": bid,
        "bytes": total,
        **_outcome(names, existing, replace),
        **renamed,
        "authenticate_s": round(t1 - t0, 3),
        "apply_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
    }
