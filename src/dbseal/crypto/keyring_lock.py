"""The keyring's write lock: one change at a time, each made to the latest keyring.

Every command that rewrites ``keyring.json`` holds an exclusive ``flock`` on
``keyring.lock`` (0600, next to it in the keyring directory) from before it
reads the keyring until the new file is renamed into place, so two changes never
start from the same old file and the last writer never undoes the other's
change. The kernel drops the lock when its holder exits, so a crashed command
leaves no stale lock. Waiting is bounded: after ``wait_s`` the command gives
up with :class:`~dbseal.errors.KeyringLocked`. Readers (backups, restores) take
no lock: the keyring file is replaced by an atomic rename, so they always read
a whole file. ``flock`` needs a local filesystem (or NFSv4): keep keyrings local.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator

from dbseal.errors import KeyringError, KeyringLocked

LOCK_NAME = "keyring.lock"
WAIT_S = 60.0


def _open_lock(directory: str) -> int:
    path = os.path.join(directory, LOCK_NAME)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:
        raise KeyringError(f"no keyring in {directory!r}") from None
    except OSError as exc:
        raise KeyringError(f"cannot open the keyring lock {path!r}: {exc.strerror}") from None


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        text = []
    return f"pid {text[0]} on {text[1]}" if len(text) >= 2 else "another process"


@contextlib.contextmanager
def keyring_lock(directory: str, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the keyring's exclusive lock for the block; raises KeyringLocked after ``wait_s``."""
    fd = _open_lock(directory)
    try:
        deadline, pause = time.monotonic() + wait_s, 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise KeyringLocked(
                        f"the keyring {directory!r} is locked by {_holder(fd)} "
                        f"(gave up after {wait_s:g} s)"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
