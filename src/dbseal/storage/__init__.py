"""Storage backends: where repository objects live."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from dbseal.errors import UsageError
from dbseal.storage.backend import Backend, Handle, ObjectInfo
from dbseal.storage.local import LocalBackend

__all__ = ["Backend", "Handle", "LocalBackend", "ObjectInfo", "TlsClientFiles", "open_backend"]


@dataclass(frozen=True)
class TlsClientFiles:
    """Client TLS files for a ``dbseal+tls://`` receiver (no secret values: paths)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


def open_backend(location: str, tls: TlsClientFiles | None = None) -> Backend:
    """A backend for a repository location.

    * ``/path`` or ``file:///path``: a local directory;
    * ``s3://bucket[/prefix][?endpoint=URL&region=R&path_style=1&ca_bundle=F&sse=...]``: S3-compatible storage;
    * ``dbseal+tls://host:port``: a `dbseal serve` receiver over mutual TLS (``tls`` gives the client files).
    """
    if "://" not in location:
        return LocalBackend(location)
    url = urlparse(location)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost"):
            raise UsageError(f"file:// URLs name a local path, not host {url.netloc!r}")
        return LocalBackend(url.path)
    if url.scheme == "s3":
        from dbseal.storage.retry import RetryingBackend
        from dbseal.storage.s3 import S3Backend

        return RetryingBackend(S3Backend.from_url(location))
    if url.scheme == "dbseal+tls":
        from dbseal.storage.remote import RemoteBackend

        return RemoteBackend.from_url(location, tls or TlsClientFiles())
    raise UsageError(
        f"repository scheme {url.scheme!r} is not supported",
        hint="use a path, file:///path, s3://bucket/prefix or dbseal+tls://host:port",
    )
