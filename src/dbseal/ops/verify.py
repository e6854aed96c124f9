"""`dbseal verify`: prove a backup restores, from a keyless check up to a restore test.

Levels, each including the ones before it:

* ``integrity`` (no key): checks that the manifest's authenticator (``mac``) is
  present and well-formed, reads the data object once, recomputes its SHA-256 and
  trailer, and checks it against the manifest (file id, sizes, SHA-256), checks
  that the key envelope belongs to this data object (keyless check, file id and
  header hash) and that the sealed log is intact. What a storage host or an
  auditor runs. It cannot tell whether the manifest's contents were edited, and
  says so ("manifest contents not authenticated (no key)").
* ``decrypt`` (default): unwraps the data key, checks the manifest's MAC,
  authenticates every chunk, decompresses, and checks the plaintext's size,
  SHA-256 and the dump's completion marker. Writes nothing.
* ``restore``: restores into a throwaway MariaDB server started for the
  purpose (or uniquely named databases on a scratch server), compares every
  table's row count and checksum and the views/routines/triggers/events with
  what was recorded at backup time, and measures the restore time.

A run that reaches a verdict about the backup (ok, or failed: damaged,
inconsistent, restores to other data; see :data:`VERDICTS`) is recorded in
``verifications/<ID>/`` (append-only; authenticated with the backup's key for
the keyed levels). A run stopped by the operator's or the environment's problem
(wrong or missing key, KMS, an unreachable scratch server, a missing tool, the
repository's storage failing mid-read) is reported with that error's exit code
(result ``error``) and NOT recorded, so it never changes what `list` and `show`
say about a good backup.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository, data_handle, envelope_handle, log_handle
from dbseal.crypto.recipients import Identity
from dbseal.errors import (
    BackupNotFound,
    CheckNotRun,
    DataMismatch,
    DbsealError,
    FormatError,
    IntegrityFailure,
    KmsError,
    NoMatchingKey,
    ObjectNotFound,
    RepositoryError,
    SandboxError,
)
from dbseal.format.envelope import parse_envelope
from dbseal.format.header import read_header
from dbseal.format.payload import TRAILER_LEN, check_integrity
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.ops.restore import authenticate_backup, unlock_backup
from dbseal.pipeline import BackgroundHash
from dbseal.storage import Handle

LEVELS = ("integrity", "decrypt", "restore")
VERDICTS = (
    IntegrityFailure,
    DataMismatch,
)  # failures that are the backup's; only these are recorded
_MAC = re.compile(r"[0-9a-f]{64}")
NOT_AUTHENTICATED = (
    "manifest contents not authenticated (no key): only its authenticator's presence and "
    "form, the data object's SHA-256, trailer and sizes, the key envelope and the log were checked"
)


@dataclass
class Verification:
    backup_id: str
    level: str
    started: str
    result: str = "ok"  # ok | failed (a verdict on the backup) | error (the check's problem)
    duration_s: float = 0.0
    restore_s: float | None = None
    problems: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    error_class: str | None = None
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)
    recorded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "dbseal_verification": 1,
            "backup_id": self.backup_id,
            "level": self.level,
            "started": self.started,
            "result": self.result,
            "duration_s": self.duration_s,
            "restore_s": self.restore_s,
            "problems": self.problems,
            "tables": self.tables,
            "error_class": self.error_class,
            "exit_code": self.exit_code,
            "notes": self.notes,
            "recorded": self.recorded,
        }


def check_integrity_level(
    repo: Repository, bid: str, progress: Callable[[int], None] | None = None
) -> None:
    """Keyless checks; raises IntegrityFailure, or StorageError when the storage itself fails."""
    manifest = repo.manifest(bid)
    if not (isinstance(manifest.get("mac"), str) and _MAC.fullmatch(manifest["mac"])):
        raise IntegrityFailure(
            f"backup {bid}: the manifest's authenticator (mac) is missing or malformed"
        )
    try:
        with repo.backend.open(data_handle(bid)) as fh:
            counting = _Counting(fh, progress)
            header = read_header(counting)  # type: ignore[arg-type]
            payload_len, digest = check_integrity(counting, header.raw, BackgroundHash())  # type: ignore[arg-type]
        stored = len(header.raw) + payload_len + TRAILER_LEN
        envelope = parse_envelope(repo.backend.get(envelope_handle(bid)))
        envelope.check_matches(header)
        with repo.backend.open(log_handle(bid)) as fh:
            log_header = read_header(fh)
            check_integrity(fh, log_header.raw)
    except (FormatError, ObjectNotFound) as exc:
        raise IntegrityFailure(f"backup {bid}: {exc.message}") from None
    problems = []
    if header.file_id.hex() != manifest.get("file_id"):
        problems.append("the data object's file id is not the manifest's (swapped object?)")
    if digest.hex() != manifest.get("data_sha256"):
        problems.append("the data object's SHA-256 differs from the manifest's")
    if stored != manifest.get("sizes", {}).get("stored"):
        problems.append(
            f"the data object is {stored} bytes, the manifest says {manifest.get('sizes', {}).get('stored')}"
        )
    if problems:
        raise IntegrityFailure(f"backup {bid}: " + "; ".join(problems))


class _Counting:
    """A read() wrapper that reports progress."""

    def __init__(self, fh: Any, progress: Callable[[int], None] | None) -> None:
        self._fh, self._progress, self.n = fh, progress, 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._fh.read(n)
        self.n += len(data)
        if self._progress and data:
            self._progress(self.n)
        return data


RestoreCheck = Callable[
    [Repository, str, Sequence[Identity], dict[str, Any], Reporter],
    tuple[float, list[str], list[dict[str, Any]]],
]


def verify_backup(
    repo: Repository,
    bid: str,
    level: str,
    identities: Sequence[Identity],
    restore_check: RestoreCheck | None = None,
    reporter: Reporter | None = None,
) -> Verification:
    """Run one verification; record it if it reached a verdict. Never raises (see ``result``)."""
    reporter = reporter or NullReporter()
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    v = Verification(bid, level, started.isoformat())
    key: bytes | None = None
    try:
        try:
            manifest = repo.manifest(bid)
        except RepositoryError as exc:
            if isinstance(exc, BackupNotFound):
                raise
            raise IntegrityFailure(
                f"backup {bid}: its manifest is damaged ({exc.message})"
            ) from None
        reporter.event(
            "restore.phase",
            label=f"verify {bid} ({level})",
            expected_bytes=manifest.get("sizes", {}).get("stored"),
        )
        check_integrity_level(repo, bid, lambda n: reporter.event("progress", bytes=n))
        if level == "integrity":
            v.notes.append(NOT_AUTHENTICATED)
        prepare = getattr(restore_check, "prepare", None) if level == "restore" else None
        if prepare is not None:
            prepare(bid, manifest)  # e.g. a throwaway server starting during the decrypt pass
        if level in ("decrypt", "restore"):
            key = _unlock(repo, bid, identities)
            _decrypt_level(repo, bid, identities, reporter)
        if level == "restore":
            if restore_check is None:
                raise CheckNotRun("no restore checker was configured")
            v.restore_s, v.problems, v.tables = restore_check(
                repo, bid, identities, manifest, reporter
            )
            if v.problems:
                raise DataMismatch(
                    f"backup {bid}: "
                    + "; ".join(v.problems[:5])
                    + (" ..." if len(v.problems) > 5 else "")
                )
    except DbsealError as exc:
        # only a verdict is the backup's failure; a wrong key, an unreachable server or
        # storage, a missing tool is the check's problem: reported, not recorded
        v.result = "failed" if isinstance(exc, VERDICTS) else "error"
        v.error_class, v.exit_code = type(exc).__name__, exc.exit_code
        if not v.problems:
            v.problems = [" | ".join(exc.message.splitlines())]
    finally:
        release = getattr(restore_check, "release", None)
        if release is not None:
            release(bid)
        reporter.event("restore.end", id=bid)
    v.duration_s = round(time.monotonic() - t0, 3)
    if v.result != "error":
        record(repo, v, key)
        v.recorded = True
    reporter.event(
        "verify.end",
        id=bid,
        level=level,
        status=v.result,
        duration_s=v.duration_s,
        error_class=v.error_class,
        exit_code=v.exit_code or None,
        recorded=v.recorded,
    )
    return v


def _unlock(repo: Repository, bid: str, identities: Sequence[Identity]) -> bytes:
    """The data key; a manifest or header edited without the key is an integrity failure."""
    try:
        return unlock_backup(repo, bid, identities)
    except (NoMatchingKey, KmsError):
        raise
    except (FormatError, ObjectNotFound) as exc:
        raise IntegrityFailure(f"backup {bid}: {exc.message}") from None


def _decrypt_level(
    repo: Repository, bid: str, identities: Sequence[Identity], reporter: Reporter
) -> None:
    try:
        authenticate_backup(repo, bid, identities, reporter)
    except NoMatchingKey:
        raise
    except (FormatError, ObjectNotFound) as exc:  # TruncatedData is a FormatError
        raise IntegrityFailure(f"backup {bid}: {exc.message}") from None


def record(repo: Repository, v: Verification, key: bytes | None) -> None:
    """Append the verification record (never overwrites); MAC'd when the key was opened.

    The record carries neither ``notes`` nor ``recorded`` (they describe this run's report).
    """
    doc = {k: x for k, x in v.to_json().items() if k not in ("notes", "recorded")}
    doc["authenticated"] = key is not None
    if key is not None:
        doc = mf.sign(
            doc, mf.manifest_key(key, bytes.fromhex(str(repo.manifest(v.backup_id)["file_id"])))
        )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{v.backup_id}/{stamp}-{os.urandom(3).hex()}.json"
    repo.backend.put(Handle("verification", name), (json.dumps(doc, indent=1) + "\n").encode())


def history(repo: Repository, bid: str) -> list[dict[str, Any]]:
    out = []
    for name in repo.backend.list("verification", prefix=f"{bid}/"):
        try:
            out.append(json.loads(repo.backend.get(Handle("verification", name))))
        except (ValueError, DbsealError):
            out.append({"backup_id": bid, "result": "unreadable", "record": name})
    return out


def last_verification(repo: Repository, bid: str) -> dict[str, Any] | None:
    names = repo.backend.list("verification", prefix=f"{bid}/")
    if not names:
        return None
    try:
        doc: dict[str, Any] = json.loads(repo.backend.get(Handle("verification", names[-1])))
        return doc
    except (ValueError, DbsealError):
        return {"result": "unreadable"}


def sandbox_error(exc: SandboxError) -> CheckNotRun:
    return CheckNotRun(
        f"the throwaway MariaDB server could not be run: {exc.message}", hint=exc.hint
    )


class RoutedCheck:
    """A restore check that hands each backup to the check ``choose(manifest)`` returns
    (per engine, per method), passing the optional ``prepare``/``release`` hooks through
    so a chosen check can still start its throwaway server during the decrypt pass."""

    def __init__(self, choose: Callable[[dict[str, Any]], Any]) -> None:
        self._choose = choose
        self._prepared: dict[str, Any] = {}

    def prepare(self, bid: str, manifest: dict[str, Any]) -> None:
        chosen = self._choose(manifest)
        hook = getattr(chosen, "prepare", None)
        if hook is not None:
            self._prepared[bid] = chosen
            hook(bid, manifest)

    def release(self, bid: str) -> None:
        chosen = self._prepared.pop(bid, None)
        hook = getattr(chosen, "release", None)
        if hook is not None:
            hook(bid)

    def __call__(
        self,
        repo: Repository,
        bid: str,
        identities: Sequence[Identity],
        manifest: dict[str, Any],
        reporter: Reporter,
    ) -> Any:
        chosen = self._prepared.get(bid) or self._choose(manifest)
        return chosen(repo, bid, identities, manifest, reporter)
