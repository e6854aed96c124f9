"""A repository in a local directory (also ``file://``).

Kinds map to subdirectories (mode 0700), objects to files (mode 0600).
Writes go to a temporary file in the same directory, are fsynced, then
linked (no overwrite) or renamed (overwrite) into place, and the directory is
fsynced: an object is either complete and durable or absent.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from typing import BinaryIO

from dbseal.errors import ObjectExists, ObjectNotFound, OutputError, StorageError
from dbseal.fsutil import fsync_dir
from dbseal.storage.backend import KINDS, Handle, ObjectInfo

_DIRS = {
    "config": "",
    "data": "data",
    "envelope": "envelopes",
    "manifest": "manifests",
    "log": "logs",
    "secret": "secrets",
    "verification": "verifications",
    "lock": "locks",
    "inflight": "inflight",
    "binlog": "binlogs",
}
_TMP_SUFFIX = ".dbseal-tmp"


class LocalBackend:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.location = self.root

    def path(self, handle: Handle) -> str:
        return os.path.join(self.root, _DIRS[handle.kind], handle.name)

    def prepare(self) -> None:
        self.create_layout()

    def create_layout(self) -> None:
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            os.chmod(self.root, 0o700)
            for kind in KINDS:
                if _DIRS[kind]:
                    os.makedirs(os.path.join(self.root, _DIRS[kind]), mode=0o700, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create repository directories in {self.root!r}: {exc.strerror}"
            ) from None

    @contextlib.contextmanager
    def writer(self, handle: Handle, *, overwrite: bool = False) -> Iterator[BinaryIO]:
        final = self.path(handle)
        directory = os.path.dirname(final)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            if not overwrite and os.path.exists(final):
                raise ObjectExists(
                    f"{handle.kind} {handle.name!r} already exists in {self.location}"
                )
            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(final)}.", suffix=_TMP_SUFFIX, dir=directory
            )
        except OSError as exc:
            raise OutputError(
                f"cannot write to repository {self.location!r}: {exc.strerror}"
            ) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            if overwrite:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    raise ObjectExists(
                        f"{handle.kind} {handle.name!r} already exists in {self.location}"
                    ) from None
                os.unlink(tmp)
            fsync_dir(directory)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise OutputError(
                f"cannot write {handle.kind} {handle.name!r} to {self.location!r}: {exc.strerror or exc}"
            ) from None
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put(self, handle: Handle, data: bytes, *, overwrite: bool = False) -> None:
        with self.writer(handle, overwrite=overwrite) as fh:
            fh.write(data)

    @contextlib.contextmanager
    def open(self, handle: Handle, start: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        try:
            fh = open(self.path(handle), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ObjectNotFound(
                f"{handle.kind} {handle.name!r} not found in {self.location}"
            ) from None
        except OSError as exc:
            raise StorageError(
                f"cannot read {handle.kind} {handle.name!r} in {self.location}: {exc.strerror}"
            ) from None
        with fh:
            if start:
                fh.seek(start)
            yield fh if length is None else _Limited(fh, length)  # type: ignore[misc]

    def get(self, handle: Handle) -> bytes:
        with self.open(handle) as fh:
            return fh.read()

    def stat(self, handle: Handle) -> ObjectInfo | None:
        try:
            st = os.stat(self.path(handle))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(
                f"cannot stat {handle.kind} {handle.name!r}: {exc.strerror}"
            ) from None
        return ObjectInfo(handle, st.st_size, st.st_mtime)

    def list(self, kind: str, prefix: str = "") -> list[str]:
        base = os.path.join(self.root, _DIRS[kind])
        out: builtins.list[str] = []
        try:
            for dirpath, _dirs, files in os.walk(base):
                rel = os.path.relpath(dirpath, base)
                for f in files:
                    if (
                        f.startswith(".")
                        or f.endswith(_TMP_SUFFIX)
                        or (kind == "config" and rel != ".")
                    ):
                        continue
                    name = f if rel == "." else f"{rel}/{f}"
                    if name.startswith(prefix):
                        out.append(name)
                if kind == "config":
                    break
        except OSError as exc:
            raise StorageError(
                f"cannot list {kind} objects in {self.location}: {exc.strerror}"
            ) from None
        return sorted(out)

    def remove(self, handle: Handle) -> None:
        try:
            os.unlink(self.path(handle))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(
                f"cannot remove {handle.kind} {handle.name!r}: {exc.strerror}"
            ) from None
        fsync_dir(os.path.dirname(self.path(handle)))

    def leftovers(self) -> builtins.list[str]:
        """Temporary files left by interrupted writes (for `repo check`)."""
        out = []
        for dirpath, _dirs, files in os.walk(self.root):
            out += [os.path.join(dirpath, f) for f in files if f.endswith(_TMP_SUFFIX)]
        return sorted(out)

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int:
        n, now = 0, time.time()
        for path in self.leftovers():
            with contextlib.suppress(FileNotFoundError):
                if now - os.stat(path).st_mtime < min_age_s:
                    continue  # a write that may still be running
                os.unlink(path)
                n += 1
        return n


class _Limited:
    """A read-only view of the next ``length`` bytes of a file (no buffering of the range)."""

    def __init__(self, fh: BinaryIO, length: int) -> None:
        self._fh, self._left = fh, length

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._fh.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(data)
        return data
