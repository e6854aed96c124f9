"""The storage interface every repository backend implements.

Objects are addressed by a typed :class:`Handle` (kind + name), never by a
raw path, so backends can map kinds to directories or key prefixes. Contract
shared by all methods:

* Errors: a missing object raises :class:`~dbseal.errors.ObjectNotFound`; any
  other failure raises :class:`~dbseal.errors.StorageError` (or
  :class:`~dbseal.errors.OutputError` for a failed write), with the location.
* Idempotency: ``open``/``get``/``stat``/``list`` have no effect; ``remove`` of
  a missing object is not an error; ``writer``/``put`` either make the whole
  object appear or leave nothing (and no partial object) behind.
* Retry is not done here: wrap a backend in a retrying wrapper instead.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

KINDS = (
    "config",
    "data",
    "envelope",
    "manifest",
    "log",
    "secret",
    "verification",
    "lock",
    "inflight",
    "binlog",  # archived binary-log segments and their index (catalog/segments.py)
)
# Announcements of running backups (catalog/inflight.py): not backup data, so an
# append-only receiver still lets clients overwrite (refresh) and delete them.
MUTABLE_KINDS = ("inflight",)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,199})?")


@dataclass(frozen=True)
class Handle:
    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown object kind {self.kind!r}")
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"invalid object name {self.name!r}")


@dataclass(frozen=True)
class ObjectInfo:
    handle: Handle
    size: int
    mtime: float
    retain_until: float | None = None  # S3 Object Lock retention date (epoch), if any


class Backend(Protocol):
    """Where a repository's objects live."""

    location: str

    def writer(
        self, handle: Handle, *, overwrite: bool = False
    ) -> contextlib.AbstractContextManager[BinaryIO]:
        """A file to stream an object of unknown length into.

        The object becomes visible, durably, only when the block exits
        normally; on an exception nothing is left. With ``overwrite=False`` an
        existing object makes the write fail with ObjectExists (checked at the
        latest when the object would become visible).
        """
        ...

    def put(self, handle: Handle, data: bytes, *, overwrite: bool = False) -> None:
        """Write a small object atomically (same rules as ``writer``)."""
        ...

    def open(
        self, handle: Handle, start: int = 0, length: int | None = None
    ) -> contextlib.AbstractContextManager[BinaryIO]:
        """Read an object, optionally a byte range of it."""
        ...

    def get(self, handle: Handle) -> bytes:
        """Read a small object whole."""
        ...

    def stat(self, handle: Handle) -> ObjectInfo | None:
        """Size and time of an object, or None when it does not exist."""
        ...

    def list(self, kind: str, prefix: str = "") -> builtins.list[str]:
        """Names of the objects of ``kind`` (sorted); temporary objects are never listed."""
        ...

    def remove(self, handle: Handle) -> None:
        """Delete an object; deleting a missing object succeeds."""
        ...

    def prepare(self) -> None:
        """Make the repository's location usable (directories, bucket check); idempotent."""
        ...

    def leftovers(self) -> builtins.list[str]:
        """Descriptions of incomplete writes (temporary files, unfinished multipart uploads)."""
        ...

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int:
        """Remove incomplete writes older than ``min_age_s``; returns how many were removed.

        Never touches complete objects; younger incomplete writes may belong to a
        backup still running on another host and are kept.
        """
        ...


def iter_chunks(fh: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while block := fh.read(size):
        yield block
