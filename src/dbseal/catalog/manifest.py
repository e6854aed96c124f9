"""Backup manifests: one authenticated JSON object per backup.

A manifest is written last, after the data object, its key envelope and its
sealed log are durable, so a backup becomes visible only once complete. Its
``mac`` is HMAC-SHA-256 over the canonical JSON (sorted keys, no whitespace,
without ``mac``) under ``HKDF(DK, salt=FID, info="dbseal/v1 manifest")``, so
only holders of the backup's data key can change it undetected; anyone can read
it without a key (``dbseal list`` works keyless).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dbseal.errors import HeaderCorrupted, RepositoryError

MANIFEST_FORMAT = 1
GOOD_STATUSES = ("ok", "warnings")


def manifest_key(data_key: bytes, file_id: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=file_id, info=b"dbseal/v1 manifest").derive(data_key)


def canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(doc: dict[str, Any], key: bytes) -> dict[str, Any]:
    out = dict(doc)
    out["mac"] = hmac.new(key, canonical(doc), hashlib.sha256).hexdigest()
    return out


def verify(doc: dict[str, Any], key: bytes, what: str = "manifest") -> None:
    want = hmac.new(key, canonical(doc), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(str(doc.get("mac", "")), want):
        raise HeaderCorrupted(
            f"the {what} of backup {doc.get('id', '?')} failed authentication: it was modified after the backup",
            hint="do not trust this backup's metadata; compare with another copy of the repository",
        )


def encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def decode(raw: bytes, name: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise RepositoryError(f"manifest {name!r} is not valid JSON (damaged?)") from None
    if not isinstance(doc, dict) or doc.get("dbseal_manifest") != MANIFEST_FORMAT:
        raise RepositoryError(f"manifest {name!r} is not a dbseal manifest of a supported version")
    return doc
