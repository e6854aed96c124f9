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
