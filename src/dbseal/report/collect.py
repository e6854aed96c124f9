"""Read a repository once, keyless: what every part of the report is built from.

Nothing here needs a key or writes anything. A manifest is read as stored (its
SHA-256 is taken over those exact bytes, for the integrity statement); a key
envelope's stanzas say who can open a backup *today*; the data object's header
says the cipher suite and codec; the envelope's storage time says when it was last
written (a rewrap rewrites it, the data never).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog import manifest as mf
from dbseal.catalog.repository import Repository, data_handle, envelope_handle, manifest_handle
from dbseal.catalog.source_names import source_name
from dbseal.codecs import codec_by_id
from dbseal.crypto.recipients import describe_stanza
from dbseal.errors import DbsealError
from dbseal.format.envelope import parse_envelope
from dbseal.format.header import SUITES, read_header
from dbseal.storage import Handle


@dataclass
class BackupRecord:
    """One backup as the repository holds it now."""

    id: str
    manifest: dict[str, Any]
    manifest_sha256: str | None
    source: str
    started: datetime.datetime | None
    envelope_keys: list[dict[str, Any]] | None = None  # None: no envelope (shredded, lost)
    envelope_error: str | None = None
    envelope_written: datetime.datetime | None = None
    suite: str | None = None
    codec: str | None = None
    verifications: list[dict[str, Any]] = field(default_factory=list)


def parse_time(text: object) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=datetime.UTC)


def _epoch(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).replace(microsecond=0)


def read_backup(repo: Repository, bid: str) -> BackupRecord:
    try:
        raw = repo.backend.get(manifest_handle(bid))
        doc = mf.decode(raw, bid)
        digest: str | None = hashlib.sha256(raw).hexdigest()
    except DbsealError as exc:
        doc, digest = {"id": bid, "status": "damaged", "error": exc.message}, None
    rec = BackupRecord(bid, doc, digest, source_name(doc), parse_time(doc.get("started")))
    _read_envelope(repo, rec)
    _read_header(repo, rec)
    rec.verifications = _verifications(repo, bid)
    return rec


def _read_envelope(repo: Repository, rec: BackupRecord) -> None:
    handle = envelope_handle(rec.id)
    try:
        info = repo.backend.stat(handle)
        if info is None:
            return
        rec.envelope_written = _epoch(info.mtime)
        env = parse_envelope(repo.backend.get(handle))
    except DbsealError as exc:
        rec.envelope_error = exc.message
        return
    rec.envelope_keys = [describe_stanza(s) for s in env.stanzas]


def _read_header(repo: Repository, rec: BackupRecord) -> None:
    try:
        with repo.backend.open(data_handle(rec.id)) as fh:
            header = read_header(fh)
    except DbsealError:
        return  # a missing or damaged data object: `verify` reports it, the report shows "unknown"
    rec.suite = SUITES.get(header.suite, f"unknown ({header.suite})")
    try:
        name = codec_by_id(header.codec).name
    except DbsealError:
        name = f"unknown ({header.codec})"
    rec.codec = name if name == "none" else f"{name}:{header.level}"


def _verifications(repo: Repository, bid: str) -> list[dict[str, Any]]:
    out = []
    for name in repo.backend.list("verification", prefix=f"{bid}/"):
        try:
            doc = json.loads(repo.backend.get(Handle("verification", name)))
        except (ValueError, DbsealError):
            doc = {"result": "unreadable"}
        if isinstance(doc, dict):
            doc.setdefault("backup_id", bid)
            out.append(doc)
    return out


def read_repository(repo: Repository) -> list[BackupRecord]:
    """Every backup, oldest first."""
    recs = [read_backup(repo, bid) for bid in repo.backup_ids()]
    far = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    recs.sort(key=lambda r: (r.started or far, r.id))
    return recs
