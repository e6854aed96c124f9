"""Restore evidence, transit and the integrity statement."""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter, defaultdict
from typing import Any

from dbseal.catalog.repository import Repository, manifest_handle
from dbseal.errors import DbsealError
from dbseal.report.collect import BackupRecord, parse_time
from dbseal.report.options import ReportOptions
from dbseal.storage import Backend


def verifications(recs: list[BackupRecord], opts: ReportOptions) -> list[dict[str, Any]]:
    """Every verification run in the period, oldest first."""
    out = []
    for r in recs:
        for v in r.verifications:
            when = parse_time(v.get("started"))
            if when is None or not (opts.since <= when < opts.until):
                continue
            out.append(
                {
                    "backup_id": r.id,
                    "source": r.source,
                    "backup_started": r.manifest.get("started"),
                    "started": when.isoformat(),
                    "level": v.get("level"),
                    "result": v.get("result"),
                    "restore_s": v.get("restore_s"),
                    "duration_s": v.get("duration_s"),
                    "authenticated": bool(v.get("authenticated")),
                    "problems": list(v.get("problems") or [])[:3],
                }
            )
    out.sort(key=lambda v: (v["started"], v["backup_id"]))
    return out


def restore_by_source(
    runs: list[dict[str, Any]], sources: list[str], opts: ReportOptions
) -> list[dict[str, Any]]:
    """Per source: the newest restore-level run, the restore-time range, the runs over the RTO."""
    rows = []
    rto = opts.rto.total_seconds() if opts.rto else None
    for name in sources:
        mine = [v for v in runs if v["source"] == name and v["level"] == "restore"]
        times = [float(v["restore_s"]) for v in mine if isinstance(v["restore_s"], int | float)]
        newest = mine[-1] if mine else None
        rows.append(
            {
                "source": name,
                "restore_runs": len(mine),
                "failed_runs": sum(1 for v in mine if v["result"] != "ok"),
                "newest": newest,
                "max_restore_s": max(times) if times else None,
                "median_restore_s": sorted(times)[len(times) // 2] if times else None,
                "over_rto": sum(1 for t in times if rto is not None and t > rto),
            }
        )
    return rows


def transit(recs: list[BackupRecord], repo: Repository) -> dict[str, Any]:
    """TLS of the database connections (as recorded) and the storage backend's settings."""
    seen: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for r in recs:
        tls = r.manifest.get("tls")
        src = r.manifest.get("source") if isinstance(r.manifest.get("source"), dict) else {}
        mode = str((src or {}).get("ssl_mode") or "")
        if isinstance(tls, dict) and tls.get("version"):
            key = (r.source, str(tls.get("version")), str(tls.get("cipher") or "?"))
        else:
            local = (src or {}).get("socket") is not None
            key = (r.source, "none (local socket)" if local else "none recorded", "")
        seen[key][mode] += 1
    database = [
        {
            "source": s,
            "tls_version": v,
            "cipher": c,
            "backups": sum(n.values()),
            "ssl_mode": ", ".join(sorted(m for m in n if m)) or None,
        }
        for (s, v, c), n in sorted(seen.items())
    ]
    newest = max((r.id for r in recs), default=None)
    return {"database": database, "storage": storage(repo.backend, newest)}


def storage(backend: Backend, newest_manifest: str | None) -> dict[str, Any]:
    """The backend kind, its transport and server-side encryption settings (never a secret).

    The settings are those dbseal asks of the storage (an S3 URL's ``sse``,
    ``sse_kms_key_id``, ``sse_c_key_file``); Object Lock is read from the newest
    manifest's retention date when the storage reports one.
    """
    location = backend.location
    scheme = location.split("://", 1)[0] if "://" in location else "file"
    options = getattr(getattr(backend, "inner", backend), "options", None)
    endpoint = str(getattr(options, "endpoint", None) or "")
    if scheme == "s3":
        kind = "S3-compatible object storage"
        sse, kms = getattr(options, "sse", None), getattr(options, "sse_kms_key_id", None)
        if getattr(options, "sse_c_key_file", None):
            sse_text = "SSE-C (a customer-provided key, sent with every request)"
        elif sse:
            sse_text = str(sse) + (f" (KMS key {kms})" if kms else "")
        else:
            sse_text = "not requested by dbseal (the bucket's default encryption applies)"
        transport = "plain HTTP endpoint" if endpoint.startswith("http:") else "HTTPS"
    elif scheme == "dbseal+tls":
        kind, transport = "dbseal receiver", "mutual TLS"
        sse_text = "not applicable (the receiver stores the sealed objects as sent)"
    else:
        kind, transport, sse_text = "local directory", "local", "not applicable (local disk)"
    lock = None
    if newest_manifest is not None:
        try:
            info = backend.stat(manifest_handle(newest_manifest))
        except DbsealError:
            info = None
        if info is not None and info.retain_until:
            when = datetime.datetime.fromtimestamp(info.retain_until, datetime.UTC)
            lock = f"the newest manifest is retained (Object Lock) until {when:%Y-%m-%d %H:%M} UTC"
    return {
        "kind": kind,
        "location": location if scheme != "file" else location.removeprefix("file://"),
        "endpoint": endpoint.split("?", 1)[0] or None,
        "transport": transport,
        "server_side_encryption": sse_text,
        "object_lock": lock,
        "payload": "sealed client-side before upload (every object dbseal writes is encrypted "
        "or keyless metadata)",
    }


def integrity(recs: list[BackupRecord]) -> dict[str, Any]:
    """SHA-256 of every manifest the report is built from, and one hash over the list."""
    rows = [{"id": r.id, "sha256": r.manifest_sha256} for r in sorted(recs, key=lambda r: r.id)]
    listing = "".join(f"{row['sha256'] or 'damaged'}  manifests/{row['id']}.json\n" for row in rows)
    return {
        "manifests": rows,
        "listing_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "how": "each line is `sha256sum manifests/ID.json` in the repository; listing_sha256 is the "
        "SHA-256 of those lines (sorted by id, two spaces, newline-terminated)",
    }
