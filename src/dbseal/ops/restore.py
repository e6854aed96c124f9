"""Restore a backup: authenticate everything first, then stream into the target.

By default nothing reaches the target until the whole backup has been
decrypted and authenticated once (pass 1, no plaintext is stored anywhere),
its manifest's MAC checked and the dump's completion marker found. Pass 2
decrypts again and streams into the target's client. Pass 2 re-authenticates
every chunk; a backup swapped *between* the passes by someone without the key
can only fail authentication, which stops the client with an error.

Before any of that, the databases the restore would write (the manifest's, narrowed by
``--database``, under their ``--rename-db`` names) are looked up on the target: one that
exists and holds anything stops the restore (:class:`TargetNotEmpty`) unless ``replace``,
and so does one an earlier restore left incomplete (:class:`IncompleteRestoreFound`). The
check runs again after pass 1 (the target may have changed meanwhile).

Restores are all or nothing (:mod:`dbseal.ops.restore_target`): pass 2 writes into staging
databases, which replace the targets in one atomic ``RENAME TABLE`` only once complete; a
failure before that drops them and leaves every target as it was. From a remote
repository, pass 1 also spools the sealed data locally (:mod:`dbseal.ops.spool`), so a
storage outage after pass 1 cannot stop pass 2.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository, data_handle, envelope_handle
from dbseal.crypto.recipients import Identity
from dbseal.errors import (
    CorruptedData,
    DbsealError,
    PolicyViolation,
    TruncatedData,
)
from dbseal.format.header import MAX_HEADER_LEN, PREAMBLE_LEN, read_header
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.restore_target import (
    ByteFilter,
    PlaintextScan,
    Plan,
    RestoreSelection,
    Sink,
    TargetDatabases,
    apply_staged,
    check_target,
    outcome,
    rename_outcome,
)
from dbseal.ops.seal import open_sealed_with_key, unwrap_data_key, unwrap_envelope
from dbseal.ops.spool import Spool
from dbseal.pipeline import BackgroundHash

COMPLETION_MARKER = b"-- Dump completed"
HEADER_READ = PREAMBLE_LEN + MAX_HEADER_LEN  # a ranged read that always holds the whole header


def _plaintext(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    manifest: dict[str, Any],
    spool: Spool | None = None,
) -> Iterator[bytes]:
    """The backup's authenticated plaintext; with ``spool``, pass 1 fills it, pass 2 reads it."""
    data: contextlib.AbstractContextManager[BinaryIO]
    if spool is not None and spool.complete:
        assert spool.envelope is not None
        envelope, data = spool.envelope, spool.reader()
    else:
        envelope = repo.backend.get(envelope_handle(bid))
        data = repo.backend.open(data_handle(bid))
    with data as fh:
        filling = spool is not None and not spool.complete
        src = spool.tee(fh) if spool is not None and filling else fh
        opened = open_sealed_with_key(src, identities, envelope)
        mf.verify(manifest, mf.manifest_key(opened.data_key.reveal(), opened.header.file_id))
        if opened.header.file_id.hex() != manifest.get("file_id"):
            raise CorruptedData(f"backup {bid}'s data object does not belong to its manifest")
        yield from opened.plaintext
        if spool is not None and filling:
            spool.seal(src)
            spool.envelope = envelope


def open_spool(
    repo: Repository, bid: str, manifest: Mapping[str, Any], directory: str | None
) -> Spool:
    """A spool for backup ``bid``'s data object (its stored size checked against free space)."""
    info = repo.backend.stat(data_handle(bid))
    size = info.size if info is not None else int(manifest.get("sizes", {}).get("stored") or 0)
    return Spool(directory, size)


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
    spool: Spool | None = None,
    scan: ByteFilter | None = None,
) -> dict[str, Any]:
    """Pass 1: decrypt and authenticate everything, check size and completion marker; writes nothing.

    ``scan``, if given, is fed the plaintext too (what it returns is dropped)."""
    reporter = reporter or NullReporter()
    manifest = repo.manifest(bid)
    expected = manifest.get("sizes", {}).get("raw")
    reporter.event("restore.phase", label="authenticate", expected_bytes=expected)
    total, tail, hasher = 0, b"", BackgroundHash()
    for piece in _plaintext(repo, bid, identities, manifest, spool):
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
    spool: Spool | None = None,
) -> int:
    """Decrypt backup ``bid`` into ``sink`` (closing it); returns the plaintext bytes."""
    reporter = reporter or NullReporter()
    manifest = manifest or repo.manifest(bid)
    total = 0
    try:
        for piece in _plaintext(repo, bid, identities, manifest, spool):
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
class _Backup:
    """The backup being restored, and where pass 2 reads it from."""

    repo: Repository
    bid: str
    identities: Sequence[Identity]
    manifest: dict[str, Any]
    reporter: Reporter
    spool: Spool | None = None
    tap: Callable[[ByteFilter | None], ByteFilter] | None = None  # wraps pass 2's filter

    def authenticate(self, scan: PlaintextScan | None) -> None:
        """Pass 1; ``scan`` (objects naming a renamed database) may then refuse the restore."""
        authenticate_backup(self.repo, self.bid, self.identities, self.reporter, self.spool, scan)
        if scan is not None:
            scan.check()

    def apply(self, sink: Sink, byte_filter: ByteFilter | None) -> int:
        return apply_backup(
            self.repo,
            self.bid,
            self.identities,
            sink,
            self.tap(byte_filter) if self.tap is not None else byte_filter,
            self.reporter,
            self.manifest,
            self.spool,
        )


@dataclass(frozen=True)
class RestoreOptions:
    """How :func:`restore_backup` runs (the CLI's restore flags)."""

    replace: bool = False
    verify_first: bool = True
    allow_failed: bool = False
    spool: bool = False  # spool the sealed data during pass 1 (remote repositories)
    spool_dir: str | None = None


def _passes(
    backup: _Backup,
    make_sink: Callable[[], Sink],
    selection: RestoreSelection,
    target: TargetDatabases[Any, Any] | None,
    options: RestoreOptions,
) -> dict[str, Any]:
    names = selection.targets(backup.manifest)
    if target is not None:
        check_target(target, names, options.replace)  # fail fast, before the long pass 1
    t0 = time.monotonic()
    if options.verify_first:
        backup.authenticate(selection.scanner())
    t1 = time.monotonic()
    existing = check_target(target, names, options.replace) if target is not None else {}
    backup.reporter.event(
        "restore.phase", label="restore", expected_bytes=backup.manifest.get("sizes", {}).get("raw")
    )
    try:
        if target is None:
            byte_filter = selection.byte_filter()
            total = backup.apply(make_sink(), byte_filter)
        else:
            plan = Plan(names, [n for n in names if n in existing], options.replace)
            total, byte_filter = apply_staged(backup, make_sink, selection, target, plan)
    except DbsealError as exc:
        if options.verify_first:
            raise
        raise type(exc)(
            f"{exc.message} (backup {backup.bid} was not authenticated first)", hint=exc.hint
        ) from None
    t2 = time.monotonic()
    return {
        "id": backup.bid,
        "bytes": total,
        **outcome(names, existing, options.replace),
        **rename_outcome(byte_filter, backup.reporter),
        "spooled": backup.spool is not None,
        "authenticate_s": round(t1 - t0, 3),
        "apply_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
    }


def restore_backup(
    repo: Repository,
    ref: str,
    identities: Sequence[Identity],
    make_sink: Callable[[], Sink],
    selection: RestoreSelection,
    target: TargetDatabases[Any, Any] | None = None,
    options: RestoreOptions | None = None,
    reporter: Reporter | None = None,
    tap: Callable[[ByteFilter | None], ByteFilter] | None = None,
) -> dict[str, Any]:
    """Restore backup ``ref`` through ``make_sink()``; returns facts about the restore.

    With ``target``, the databases written are checked first and the restore is all or
    nothing (see the module text). ``options.spool`` (with ``verify_first``) keeps the
    sealed data pass 1 read in a local spool that pass 2 reads. Under ``--rename-db``,
    pass 1 also looks for objects that would still name a renamed database and refuses
    them (OldReferences) before anything is applied, unless allowed. ``tap`` wraps the
    filter of the apply pass (e.g. to collect the backup's accounts).
    """
    reporter = reporter or NullReporter()
    options = options or RestoreOptions()
    bid = repo.resolve(ref)
    manifest = repo.manifest(bid)
    if manifest.get("status") not in mf.GOOD_STATUSES and not options.allow_failed:
        raise PolicyViolation(
            f"backup {bid} is recorded as {manifest.get('status')}: {'; '.join(manifest.get('reasons', []))}",
            hint="restore `latest` (the newest good backup), or pass --allow-failed to restore it anyway",
        )
    if manifest.get("data_kept", True) is False:
        raise PolicyViolation(
            f"backup {bid} failed and its incomplete dump was removed: there is nothing to restore",
            hint="restore `latest` (the newest good backup)",
        )
    with contextlib.ExitStack() as stack:
        spool = None
        if options.spool and options.verify_first:
            spool = open_spool(repo, bid, manifest, options.spool_dir)
            stack.callback(spool.close)
        backup = _Backup(repo, bid, identities, manifest, reporter, spool, tap)
        result = _passes(backup, make_sink, selection, target, options)
    reporter.event("restore.end", id=bid)
    return result
