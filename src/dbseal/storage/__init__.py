"""Storage backends: where repository objects live."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from dbseal.errors import UsageError
from dbseal.storage.backend import Backend, Handle, ObjectInfo
from dbseal.storage.local import LocalBackend
from dbseal.storage.retry import Retrier, RetryingBackend, RetryPolicy

RETRY_PARAMS = ("retry_budget", "timeout")

__all__ = [
    "Backend",
    "Handle",
    "LocalBackend",
    "ObjectInfo",
    "Retrier",
    "RetryPolicy",
    "TlsClientFiles",
    "open_backend",
    "retrier_of",
]


@dataclass(frozen=True)
class TlsClientFiles:
    """Client TLS files for a ``dbseal+tls://`` receiver (no secret values: paths)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


def open_backend(location: str, tls: TlsClientFiles | None = None) -> RetryingBackend:
    """A backend for a repository location, wrapped in the one retry policy.

    * ``/path`` or ``file:///path``: a local directory;
    * ``s3://bucket[/prefix][?endpoint=URL&region=R&path_style=1&ca_bundle=F&sse=...]``: S3-compatible storage;
    * ``dbseal+tls://host:port``: a `dbseal serve` receiver over mutual TLS (``tls`` gives the client files).

    URLs also take ``?retry_budget=SECONDS`` and ``?timeout=SECONDS`` (else
    ``DBSEAL_RETRY_BUDGET`` / ``DBSEAL_STORAGE_TIMEOUT``, else the defaults of
    :class:`~dbseal.storage.retry.RetryPolicy`).
    """
    if "://" not in location:
        return RetryingBackend(LocalBackend(location), Retrier(RetryPolicy.from_settings()))
    location, policy = _retry_settings(location)
    retrier = Retrier(policy)
    url = urlparse(location)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost"):
            raise UsageError(f"file:// URLs name a local path, not host {url.netloc!r}")
        return RetryingBackend(LocalBackend(url.path), retrier)
    if url.scheme == "s3":
        from dbseal.storage.s3 import S3Backend

        return RetryingBackend(S3Backend.from_url(location, retrier), retrier)
    if url.scheme == "dbseal+tls":
        from dbseal.storage.remote import RemoteBackend

        remote = RemoteBackend.from_url(location, tls or TlsClientFiles(), retrier)
        return RetryingBackend(remote, retrier)
    raise UsageError(
        f"repository scheme {url.scheme!r} is not supported",
        hint="use a path, file:///path, s3://bucket/prefix or dbseal+tls://host:port",
    )


def _retry_settings(location: str) -> tuple[str, RetryPolicy]:
    """The URL without ``retry_budget``/``timeout`` parameters, and the policy they set."""
    head, sep, query = location.partition("?")
    kept, found = [], {}
    for item in query.split("&") if sep else []:
        name, _eq, value = item.partition("=")
        if name in RETRY_PARAMS:
            if name in found:
                raise UsageError(f"parameter {name!r} is given twice in the repository URL")
            found[name] = value
        else:
            kept.append(item)
    policy = RetryPolicy.from_settings(found.get("retry_budget"), found.get("timeout"))
    return head + ("?" + "&".join(kept) if kept else ""), policy


def retrier_of(backend: object) -> Retrier | None:
    """The retrier of a backend made by :func:`open_backend` (None for other backends)."""
    retrier = getattr(backend, "retrier", None)
    return retrier if isinstance(retrier, Retrier) else None
