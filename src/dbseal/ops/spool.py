"""Spool a backup's sealed data object locally during pass 1, so pass 2 never needs storage.

A restore from a remote repository (S3, the receiver) reads the data object twice: pass 1
authenticates it, pass 2 applies it. With a spool, pass 1 also writes every byte it reads
(ciphertext: the object as stored, still encrypted and authenticated chunk by chunk; no
plaintext touches the disk) to ``<dir>/dbseal-spool-XXXX/data`` (directory 0700, file 0600),
and keeps the key envelope in memory; pass 2 then reads the spool, so a storage outage
after pass 1 cannot interrupt the apply. The spool is removed when the restore ends,
whatever the outcome. Before anything is read, the directory's free space is checked
against the object's size (plus a margin): a spool that would fill the disk is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from dbseal.errors import OutputError, SpoolNoSpace, TruncatedData

SPOOL_MARGIN = 64 << 20  # left free beside the spool


class _Tee:
    """A reader that copies every byte read to ``out``."""

    def __init__(self, src: BinaryIO, out: BinaryIO) -> None:
        self._src = src
        self._out = out

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        self._out.write(data)
        return data


class Spool:
    """``s.tee(fh)`` during pass 1, then ``s.seal(tee)``; ``s.reader()`` in pass 2; ``s.close()``."""

    def __init__(self, directory: str | None, size: int) -> None:
        base = directory or tempfile.gettempdir()
        try:
            free = shutil.disk_usage(base).free
        except OSError as exc:
            raise OutputError(f"cannot use spool directory {base}: {exc.strerror}") from None
        if free < size + SPOOL_MARGIN:
            raise SpoolNoSpace(
                f"spool directory {base} has {free >> 20} MiB free; the backup's sealed data "
                f"needs {size >> 20} MiB (+{SPOOL_MARGIN >> 20} MiB margin); nothing was restored"
            )
        self.size = size
        self.envelope: bytes | None = None
        self.complete = False
        self._dir = tempfile.mkdtemp(prefix="dbseal-spool-", dir=base)  # 0700
        self.path = os.path.join(self._dir, "data")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out: BinaryIO | None = os.fdopen(fd, "wb")

    def tee(self, fh: BinaryIO) -> BinaryIO:
        assert self._out is not None
        return _Tee(fh, self._out)  # type: ignore[return-value]

    def seal(self, fh: BinaryIO) -> None:
        """Pass 1 is done with ``fh`` (the tee): copy what it did not read, check the size."""
        while fh.read(1 << 20):
            pass
        assert self._out is not None
        self._out.close()
        self._out = None
        got = os.path.getsize(self.path)
        if got != self.size:
            raise TruncatedData(
                f"the repository gave {got} bytes of the data object, its size is {self.size}"
            )
        self.complete = True

    @contextlib.contextmanager
    def reader(self) -> Iterator[BinaryIO]:
        with open(self.path, "rb") as fh:
            yield fh

    def close(self) -> None:
        """Remove the spool (whatever the restore's outcome)."""
        if self._out is not None:
            self._out.close()
        shutil.rmtree(self._dir, ignore_errors=True)


__all__ = ["SPOOL_MARGIN", "Spool"]
