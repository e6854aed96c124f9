"""Take a backup: dump -> compress -> encrypt -> repository, then the manifest, last.

Order of writes (each atomic and durable): in-flight announcement, data
object, sealed log, key envelope, manifest, then the announcement is removed.
Before the manifest, the keyring is re-read: if a keyring key version the
backup sealed for was retired or destroyed meanwhile, the backup fails (even
when an escrow recipient could still open it).

Every attempt that gets that far gets a manifest, including failed ones: a
failed backup is listed as failed and is never ``latest``. A failed backup
keeps only what that needs: its manifest, its sealed log (why it failed) and
its key envelope (a few hundred bytes; it authenticates the manifest and
opens the log). Its data object is removed, unless the dump is whole and only
the ``dump_warnings=fail`` policy failed it (``restore --allow-failed``). When
writing the log, envelope or manifest fails (a full disk), or the process is
interrupted, the backup removes everything it wrote and records nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import json
import socket
import time
from collections.abc import Sequence
from typing import Any, BinaryIO

from dbseal import __version__
from dbseal.catalog import manifest as mf
from dbseal.catalog.inflight import InFlight
from dbseal.catalog.repository import (
    Repository,
    data_handle,
    envelope_handle,
    log_handle,
    manifest_handle,
    new_backup_id,
)
from dbseal.catalog.source_names import derive_source_name
from dbseal.codecs import Codec, backup_threads, parse_codec
from dbseal.crypto.keyring import KeyringRecipient
from dbseal.crypto.passphrase import PassphraseRecipient
from dbseal.crypto.recipients import Recipient, describe_stanza
from dbseal.engines.base import BackupRun, BackupSource
from dbseal.errors import DbsealError, DumpFailed, KeyWithdrawn, PolicyViolation
from dbseal.format.envelope import parse_envelope
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.seal import SealResult, new_file_keys, seal_stream


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def check_policy(repo: Repository, recipients: Sequence[Recipient]) -> None:
    policy = repo.config.policy
    if policy.require_encryption and not recipients:
        raise PolicyViolation(
            "the repository requires encryption and no recipient was given or configured",
            hint="add recipients at `dbseal init`, or pass -r/--keyring/--passphrase-file",
        )
    for r in recipients:
        if isinstance(r, PassphraseRecipient) and (
            r.params.memory_kib < policy.min_kdf_memory_kib
            or r.params.iterations < policy.min_kdf_iterations
        ):
            raise PolicyViolation(
                f"passphrase key derivation is weaker than the repository's minimum "
                f"(m={policy.min_kdf_memory_kib}KiB, t={policy.min_kdf_iterations})"
            )


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, datetime.datetime):
        return obj.isoformat()
    return obj


def _expected_bytes(repo: Repository) -> int | None:
    """Raw size of the newest good backup, for an ETA."""
    for m in reversed(repo.manifests()):
        if m.get("status") in mf.GOOD_STATUSES:
            size = m.get("sizes", {}).get("raw")
            return int(size) if size else None
    return None


def run_backup(
    repo: Repository,
    source: BackupSource,
    recipients: Sequence[Recipient],
    codec: Codec | None = None,
    reporter: Reporter | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Back up ``source`` into ``repo``; returns the manifest. After recording a failure, raises the cause (preflight) or DumpFailed."""
    reporter = reporter or NullReporter()
    codec = codec or parse_codec(repo.config.codec, threads=backup_threads())
    check_policy(repo, recipients)
    bid = new_backup_id()
    ring_keys = [r for r in recipients if isinstance(r, KeyringRecipient)]
    # announced before the data key is wrapped for anyone, withdrawn on every exit
    with InFlight(repo.backend, bid, [r.ref() for r in ring_keys]):
        try:
            attempt = _dump(repo, bid, source, recipients, codec, reporter)
            withdrawn = _withdrawn_key(ring_keys)
            if withdrawn is not None:
                attempt.fail(withdrawn)
            signed = _publish(repo, attempt, recipients, codec, name)
        except BaseException:
            _remove(repo, bid, "data", "log", "envelope")  # nothing visible: leave nothing
            raise
    reporter.event("backup.end", id=bid, status=attempt.status, reasons=attempt.reasons)
    if attempt.status == "failed":
        raise attempt.error(signed)
    return signed


@dataclasses.dataclass
class _Attempt:
    """One backup's dump, sealed into its data object, and how it went."""

    bid: str
    started: datetime.datetime
    t0: float
    described: dict[str, Any]
    sealed: SealResult
    result: Any  # the source's DumpResult, None when it failed before dumping
    cause: DbsealError | None  # what failed it before the dump, or after it (the key check)
    ended: datetime.datetime = dataclasses.field(default_factory=_now)
    later: list[str] = dataclasses.field(default_factory=list)  # causes after the first

    @property
    def status(self) -> str:
        return "failed" if self.cause is not None else str(self.result.status)

    @property
    def reasons(self) -> list[str]:
        own = [self.cause.message, *self.later] if self.cause is not None else []
        return own + (list(self.result.reasons) if self.result is not None else [])

    def fail(self, cause: DbsealError) -> None:
        """Record a failure found after the dump; the first cause names the exit code."""
        if self.cause is None:
            self.cause = cause
        else:
            self.later.append(cause.message)

    def keeps_data(self) -> bool:
        """Failed backups lose their data object, unless the dump is whole (warnings=fail)."""
        if self.status != "failed":
            return True
        return self.cause is None and bool(getattr(self.result, "complete", False))

    def error(self, signed: dict[str, Any]) -> DbsealError:
        # The failure is recorded; the exit code still names its cause, so
        # monitoring can tell a wrong password from a broken dump.
        recorded = f"backup {self.bid} failed and is recorded as failed"
        if self.cause is not None:
            err: DbsealError = type(self.cause)(
                f"{recorded}: {self.cause.message}", hint=self.cause.hint
            )
        else:
            err = DumpFailed(f"{recorded}: {'; '.join(self.reasons) or 'see dbseal show'}")
        err.manifest = signed  # type: ignore[attr-defined]  # for callers that report it (--json)
        return err


def _dump(
    repo: Repository,
    bid: str,
    source: BackupSource,
    recipients: Sequence[Recipient],
    codec: Codec,
    reporter: Reporter,
) -> _Attempt:
    """Run the dump into the data object (a failed write leaves nothing and raises)."""
    started, t0 = _now(), time.monotonic()
    data_key, file_id = new_file_keys()
    described = source.describe()
    label = {"backup_id": bid, "repository_id": repo.config.repository_id, "source": described}
    reporter.event(
        "backup.start", id=bid, label=f"backup {bid}", expected_bytes=_expected_bytes(repo)
    )
    preflight_error: DbsealError | None = None
    run: BackupRun | None
    try:
        run = source.start()
    except DbsealError as exc:
        preflight_error, run = exc, None

    def progress(n: int) -> None:
        reporter.event("progress", bytes=n)

    stream: BackupRun | BinaryIO = run if run is not None else io.BytesIO(b"")
    try:
        with repo.backend.writer(data_handle(bid)) as out:
            sealed = seal_stream(
                stream,
                out,
                recipients,
                codec,
                label,
                progress=progress,
                detached=True,
                keys=(data_key, file_id),
                hash_plaintext=True,
            )
        result = run.finish() if run is not None else None
    finally:
        if run is not None:
            run.__exit__(None, None, None)
    return _Attempt(bid, started, t0, described, sealed, result, preflight_error)


def _withdrawn_key(ring_keys: Sequence[KeyringRecipient]) -> KeyWithdrawn | None:
    """Re-read the keyring: every key version the backup sealed for must still be active."""
    for r in ring_keys:
        try:
            r.check_current()
        except KeyWithdrawn as exc:
            return exc
    return None


def _remove(repo: Repository, bid: str, *kinds: str) -> None:
    """Best effort: an append-only receiver refuses, then `repo check` reports the orphans."""
    handles = {"data": data_handle, "log": log_handle, "envelope": envelope_handle}
    for kind in kinds:
        with contextlib.suppress(DbsealError):
            repo.backend.remove(handles[kind](bid))


def _publish(
    repo: Repository,
    attempt: _Attempt,
    recipients: Sequence[Recipient],
    codec: Codec,
    name: str | None,
) -> dict[str, Any]:
    """Write the log, the key envelope and, last, the manifest; a failed backup loses its data first."""
    bid, sealed = attempt.bid, attempt.sealed
    assert sealed.envelope is not None
    if not attempt.keeps_data():
        _remove(repo, bid, "data")
    if attempt.result is None:
        assert attempt.cause is not None
        stderr = attempt.cause.message.encode()
        details = {"databases": list(attempt.described.get("databases") or [])}
        if attempt.described.get("method"):  # a physical backup that failed its preflight
            details["method"] = attempt.described["method"]
    else:
        stderr, details = bytes(attempt.result.stderr), _result_details(attempt.result)
    log_doc = {"stderr": stderr.decode("utf-8", "replace"), "reasons": attempt.reasons}
    log_out = io.BytesIO()
    seal_stream(
        io.BytesIO(json.dumps(log_doc).encode()),
        log_out,
        recipients,
        parse_codec("zstd"),
        {"backup_id": bid, "kind": "log"},
    )
    repo.backend.put(log_handle(bid), log_out.getvalue())
    repo.backend.put(envelope_handle(bid), sealed.envelope)
    doc = _manifest(repo, attempt, codec, name, details)
    signed = mf.sign(doc, mf.manifest_key(sealed.data_key.reveal(), sealed.file_id))
    repo.backend.put(manifest_handle(bid), mf.encode(signed))
    return signed


def _manifest(
    repo: Repository, attempt: _Attempt, codec: Codec, name: str | None, details: dict[str, Any]
) -> dict[str, Any]:
    sealed = attempt.sealed
    assert sealed.envelope is not None
    return {
        "dbseal_manifest": mf.MANIFEST_FORMAT,
        "id": attempt.bid,
        "name": name,
        "source_name": name or derive_source_name(attempt.described),
        "repository_id": repo.config.repository_id,
        "file_id": sealed.file_id.hex(),
        "status": attempt.status,
        "reasons": attempt.reasons,
        "started": attempt.started.isoformat(),
        "ended": attempt.ended.isoformat(),
        "duration_s": round(time.monotonic() - attempt.t0, 3),
        "client_host": socket.gethostname(),
        "dbseal_version": __version__,
        "source": _jsonable(attempt.described),
        **details,
        "sizes": {
            "raw": sealed.plaintext_bytes,
            "compressed": sealed.compressed_bytes,
            "stored": sealed.stored_bytes,
        },
        "codec": f"{codec.name}:{codec.level}" if codec.name != "none" else "none",
        "keys": [describe_stanza(s) for s in parse_envelope(sealed.envelope).stanzas],
        "data_sha256": sealed.sha256.hex(),
        "plaintext_sha256": sealed.plaintext_sha256.hex() if sealed.plaintext_sha256 else None,
        "data_kept": attempt.keeps_data(),
    }


def _result_details(result: Any) -> dict[str, Any]:
    """The source-specific facts of a finished dump, for the manifest."""
    fields = (
        "server_version",
        "client_version",
        "tool",
        "tls",
        "databases",
        "tables",
        "objects",
        "snapshot",
        "contents",
        "messages",
        "exit_code",
    )
    out: dict[str, Any] = {}
    for f in fields:
        if hasattr(result, f):
            out[f] = _jsonable(getattr(result, f))
    extra = getattr(result, "manifest_fields", None)  # method, type, chain (catalog.chains)
    if callable(extra):
        out.update(_jsonable(extra()))
    return out
