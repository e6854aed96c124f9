"""Storage backends: where repository objects live."""

from __future__ import annotations

from urllib.parse import urlparse

from dbseal.errors import UsageError
from dbseal.storage.backend import Backend, Handle, ObjectInfo
from dbseal.storage.local import LocalBackend

__all__ = ["Backend", "Handle", "LocalBackend", "ObjectInfo", "open_backend"]


def open_backend(location: str) -> LocalBackend:
    """A backend for a repository location: a path or ``file://`` URL (more schemes later)."""
    if "://" not in location:
        return LocalBackend(location)
    url = urlparse(location)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost"):
            raise UsageError(f"file:// URLs name a local path, not host {url.netloc!r}")
        return LocalBackend(url.path)
    raise UsageError(
        f"repository scheme {url.scheme!r} is not supported yet",
        hint="use a local path or file:///path (s3:// and dbseal+tls:// come with remote repositories)",
    )
