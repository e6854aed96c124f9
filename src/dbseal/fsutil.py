"""Durable, atomic file writes: temporary name, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


def _crash_point(name: str) -> None:
    """Test hook: DBSEAL_TEST_CRASH_AT=NAME kills the process here, as a power cut would.

    Used by the tests that prove an interrupted keyring write never leaves a
    keyring that opens to nothing. It has no other effect.
    """
    if os.environ.get("DBSEAL_TEST_CRASH_AT") == name:
        os._exit(99)


def fsync_dir(directory: str) -> None:
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a file that appears at ``path`` only if the block completes.

    On any exception the temporary file is removed and nothing appears at
    ``path``; an existing file at ``path`` is left untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".dbseal-tmp", dir=directory
    )
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _crash_point("before-rename")
        os.replace(tmp, path)
        _crash_point("after-rename")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    with atomic_output(path, mode) as fh:
        fh.write(data)
