"""Restore a backup: authenticate everything first, then stream into the target.

By default nothing reaches the target until the whole backup has been
decrypted and authenticated once (pass 1, no plaintext is stored anywhere),
its manifest's MAC checked and the dump's completion marker found. Pass 2
decrypts again and streams into the target's client. Pass 2 re-authenticates
every chunk; a backup swapped *between* the passes by someone without the key
can only fail authentication, which stops the client with an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository, data_handle, envelope_handle
from dbseal.crypto.recipients import Identity
from dbseal.errors import CorruptedData, DbsealError, PolicyViolation, TruncatedData
from dbseal.format.header import MAX_HEADER_LEN, PREAMBLE_LEN, read_header
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.seal import open_sealed_with_key, unwrap_data_key, unwrap_envelope
from dbseal.pipeline import BackgroundHash

COMPLETION_MARKER = b"-- Dump completed"
HEADER_READ = PREAMBLE_LEN + MAX_HEADER_LEN  # a ranged read that always holds the whole header


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> Any: ...
    def abort(self) -> None: ...


class ByteFilter(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


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


def restore_backup(
    repo: Repository,
    ref: str,
    identities: Sequence[Identity],
    make_sink: Callable[[], Sink],
    byte_filter: ByteFilter | None = None,
    verify_first: bool = True,
    allow_failed: bool = False,
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Restore backup ``ref`` through ``make_sink()``; returns facts about the restore."""
    reporter = reporter or NullReporter()
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
    t0 = time.monotonic()
    if verify_first:
        authenticate_backup(repo, bid, identities, reporter)
    t1 = time.monotonic()
    reporter.event(
        "restore.phase", label="restore", expected_bytes=manifest.get("sizes", {}).get("raw")
    )
    try:
        total = apply_backup(repo, bid, identities, make_sink(), byte_filter, reporter, manifest)
    except DbsealError as exc:
        if verify_first:
            raise
        raise type(exc)(
            f"{exc.message} (backup {bid}; it was not authenticated first, so part of it "
            "may already have been applied to the target)",
            hint=exc.hint,
        ) from None
    t2 = time.monotonic()
    reporter.event("restore.end", id=bid)
    return {
        "id": bid,
        "bytes": total,
        "authenticate_s": round(t1 - t0, 3),
        "apply_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
    }
