"""Restore evidence, transit and the integrity statement."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import parse_qsl, urlparse

from dbseal.catalog.repository import Repository
from dbseal.report.collect import BackupRecord, parse_time
from dbseal.report.options import ReportOptions


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
    return {"database": database, "storage": storage(repo.backend.location)}


def storage(location: str) -> dict[str, Any]:
    """The backend kind and what its location says about server-side encryption (no secrets)."""
    url = urlparse(location if "://" in location else f"file://{location}")
    query = dict(parse_qsl(url.query))
    kind = {
        "file": "local directory",
        "s3": "S3-compatible object storage",
        "dbseal+tls": "dbseal receiver (mutual TLS)",
    }.get(url.scheme, url.scheme)
    if url.scheme == "s3":
        sse = query.get("sse")
        if "sse_c_key_file" in query:
            sse_text = "SSE-C (a customer-provided key)"
        elif sse:
            sse_text = f"{sse}" + (
                f" (KMS key {query['sse_kms_key_id']})" if query.get("sse_kms_key_id") else ""
            )
        else:
            sse_text = "not requested by dbseal (the bucket's default encryption applies)"
        transport = (
            "HTTPS"
            if not query.get("endpoint", "https").startswith("http:")
            else "plain HTTP endpoint"
        )
    elif url.scheme == "dbseal+tls":
        sse_text, transport = "not applicable (the receiver stores sealed objects)", "mutual TLS"
    else:
        sse_text, transport = "not applicable (local disk)", "local"
    shown = f"{url.scheme}://{url.hostname or ''}{url.path}" if url.scheme != "file" else url.path
    return {
        "kind": kind,
        "location": shown,
        "server_side_encryption": sse_text,
        "transport": transport,
        "payload": "sealed client-side before upload (every object dbseal writes is encrypted or keyless metadata)",
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
