"""The data object of a PostgreSQL logical backup: a POSIX tar stream (pax headers), written
as its members complete and read back with :mod:`tarfile`'s stream mode (``r|``).

Members, in order::

    globals.sql               pg_dumpall --globals-only (roles, tablespaces)
    DB/custom.000000 ...      pg_dump --format=custom of DB, cut into parts of PART_SIZE
                              bytes (a tar header needs the size up front; the dump streams)
    DB/dir/toc.dat, *.dat     pg_dump --format=directory --jobs N of DB

``tar -x`` unpacks the plaintext (``cat DB/custom.* > DB.dump`` then gives pg_dump's own
file), so it is usable with PostgreSQL's own tools.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

PART_SIZE = 4 << 20
TAR_BUFSIZE = 1 << 20  # tarfile's stream mode reads 10 KiB at a time by default: slow
FILE_CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
GLOBALS = "globals.sql"


def custom_part(database: str, index: int) -> str:
    return f"{database}/custom.{index:06d}"


def directory_member(database: str, name: str) -> str:
    return f"{database}/dir/{name}"


def header(name: str, size: int, mtime: float | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(mtime if mtime is not None else time.time())
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def member(name: str, data: bytes) -> bytes:
    return header(name, len(data)) + data + padding(len(data))


def file_member(name: str, path: Path) -> Iterator[bytes]:
    """A file's member in chunks (never the whole file in memory)."""
    size = path.stat().st_size
    yield header(name, size)
    sent = 0
    with path.open("rb") as f:
        while sent < size:
            chunk = f.read(min(FILE_CHUNK, size - sent))
            if not chunk:
                raise OSError(f"{path} shrank while it was archived")
            sent += len(chunk)
            yield chunk
    yield padding(size)


def end() -> bytes:
    return b"\0" * (2 * BLOCK)


__all__ = [
    "GLOBALS",
    "PART_SIZE",
    "TAR_BUFSIZE",
    "custom_part",
    "directory_member",
    "end",
    "file_member",
    "header",
    "member",
    "padding",
]


class TarScanner:
    """Follows a tar stream as it passes (no thread, no copy of the data it skips): counts the
    members, keeps the contents of the small members named in ``capture``, and tells whether
    the stream ended with tar's end-of-archive block (``ended``) or broke (``error``)."""

    def __init__(self, capture: frozenset[str] = frozenset(), max_capture: int = 64 << 20) -> None:
        self.capture, self.max_capture = capture, max_capture
        self.members = 0
        self.captured: dict[str, bytes] = {}
        self.ended = False
        self.error: str | None = None
        self._head = bytearray()
        self._data = 0  # bytes of the current member's data still to come
        self._pad = 0
        self._keep: bytearray | None = None
        self._name = ""
        self._long_name: bytearray | None = None
        self._is_long_name = False

    def feed(self, data: bytes) -> None:
        view, i, n = memoryview(data), 0, len(data)
        while i < n and not self.ended and self.error is None:
            if self._data:
                take = min(self._data, n - i)
                if self._keep is not None:
                    self._keep += view[i : i + take]
                self._data -= take
                i += take
                if not self._data:
                    self._member_done()
            elif self._pad:
                take = min(self._pad, n - i)
                self._pad -= take
                i += take
            else:
                take = min(BLOCK - len(self._head), n - i)
                self._head += view[i : i + take]
                i += take
                if len(self._head) == BLOCK:
                    self._header(bytes(self._head))
                    self._head.clear()

    def _header(self, block: bytes) -> None:
        if block == b"\0" * BLOCK:
            self.ended = True
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            self.error = f"a damaged tar header after {self.members} members ({exc})"
            return
        size = info.size
        self._pad = -size % BLOCK
        self._is_long_name = info.type == tarfile.GNUTYPE_LONGNAME
        if self._is_long_name:
            self._keep = bytearray()
        else:
            self._name = self._long_name.decode().rstrip("\0") if self._long_name else info.name
            self._long_name = None
            self.members += 1
            wanted = self._name in self.capture and size <= self.max_capture
            self._keep = bytearray() if wanted else None
        self._data = size
        if not size:
            self._member_done()

    def _member_done(self) -> None:
        if self._is_long_name:
            self._long_name = self._keep
        elif self._keep is not None:
            self.captured[self._name] = bytes(self._keep)
        self._keep = None
