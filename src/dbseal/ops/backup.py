"""Take a backup: dump -> compress -> encrypt -> repository, then the manifest, last.

Order of writes (each atomic and durable): data object, sealed log, key
envelope, manifest. A crash before the manifest leaves no visible backup (the
leftovers are reported by ``dbseal repo check``). Every attempt that reaches
the repository gets a manifest, including failed ones: a failed backup is
listed as failed and is never ``latest``.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import socket
import time
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from dbseal import __version__
from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import (
    Repository,
    data_handle,
    envelope_handle,
    log_handle,
    manifest_handle,
    new_backup_id,
)
from dbseal.codecs import Codec, backup_threads, parse_codec
from dbseal.crypto.passphrase import PassphraseRecipient
from dbseal.crypto.recipients import Recipient, describe_stanza
from dbseal.errors import DbsealError, DumpFailed, PolicyViolation
from dbseal.format.envelope import parse_envelope
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.seal import new_file_keys, seal_stream


class DumpRunLike(Protocol):
    def read(self, n: int = -1) -> bytes: ...
    def finish(self) -> Any: ...
    def __enter__(self) -> DumpRunLike: ...
    def __exit__(self, *exc: object) -> None: ...


class SourceLike(Protocol):
    def describe(self) -> dict[str, Any]: ...
    def start(self) -> Any: ...


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
    source: SourceLike,
    recipients: Sequence[Recipient],
    codec: Codec | None = None,
    reporter: Reporter | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Back up ``source`` into ``repo``; returns the manifest. After recording a failure, raises the cause (preflight) or DumpFailed."""
    reporter = reporter or NullReporter()
    codec = codec or parse_codec(repo.config.codec, threads=backup_threads())
    check_policy(repo, recipients)
    bid, started, t0 = new_backup_id(), _now(), time.monotonic()
    data_key, file_id = new_file_keys()
    described = source.describe()
    label = {"backup_id": bid, "repository_id": repo.config.repository_id, "source": described}
    reporter.event(
        "backup.start", id=bid, label=f"backup {bid}", expected_bytes=_expected_bytes(repo)
    )

    preflight_error: DbsealError | None = None
    try:
        run = source.start()
    except DbsealError as exc:
        preflight_error, run = exc, None

    def progress(n: int) -> None:
        reporter.event("progress", bytes=n)

    stream: BinaryIO = run if run is not None else io.BytesIO(b"")
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
    ended = _now()
    assert sealed.envelope is not None

    if result is None:
        assert preflight_error is not None
        status, reasons = "failed", [preflight_error.message]
        stderr = preflight_error.message.encode()
        details = {"databases": list(described.get("databases") or [])}
    else:
        status, reasons = str(result.status), list(result.reasons)
        stderr, details = bytes(result.stderr), _result_details(result)

    log_doc = json.dumps({"stderr": stderr.decode("utf-8", "replace"), "reasons": reasons}).encode()
    log_out = io.BytesIO()
    seal_stream(
        io.BytesIO(log_doc),
        log_out,
        recipients,
        parse_codec("zstd"),
        {"backup_id": bid, "kind": "log"},
    )
    repo.backend.put(log_handle(bid), log_out.getvalue())
    repo.backend.put(envelope_handle(bid), sealed.envelope)

    doc: dict[str, Any] = {
        "dbseal_manifest": mf.MANIFEST_FORMAT,
        "id": bid,
        "name": name,
        "repository_id": repo.config.repository_id,
        "file_id": file_id.hex(),
        "status": status,
        "reasons": reasons,
        "started": started.isoformat(),
        "ended": ended.isoformat(),
        "duration_s": round(time.monotonic() - t0, 3),
        "client_host": socket.gethostname(),
        "dbseal_version": __version__,
        "source": _jsonable(described),
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
    }
    signed = mf.sign(doc, mf.manifest_key(sealed.data_key.reveal(), file_id))
    repo.backend.put(manifest_handle(bid), mf.encode(signed))
    reporter.event("backup.end", id=bid, status=status, reasons=reasons)
    if status == "failed":
        # The failure is recorded; the exit code still names its cause, so
        # monitoring can tell a wrong password from a broken dump.
        recorded = f"backup {bid} failed and is recorded as failed"
        if preflight_error is not None:
            err: DbsealError = type(preflight_error)(
                f"{recorded}: {preflight_error.message}", hint=preflight_error.hint
            )
        else:
            err = DumpFailed(f"{recorded}: {'; '.join(reasons) or 'see dbseal show'}")
        err.manifest = signed  # type: ignore[attr-defined]  # for callers that report it (--json)
        raise err
    return signed


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
    return out
