"""The run lock: two backups of the same source never overlap on one host.

A timer that fires while last night's backup still runs, or a manual run next to a
scheduled one, would dump the same server twice at once. Each backup of a named
source holds ``flock(LOCK_EX)`` on ``<state dir>/backup-<source>.lock`` for its whole
run. A second one fails at once with :class:`RunLocked` (exit 42), naming the holder's
pid and start time, or waits up to ``wait_s``. A holder that dies, even by SIGKILL,
loses the lock with its file descriptor (the kernel releases it), so a crashed run
never blocks the next one. The file is never removed (removing a flock'ed file lets
two processes lock two different files).

The state directory (first that applies): ``--state-dir``, ``[state] dir`` in
dbseal.toml, ``$RUNTIME_DIRECTORY`` (systemd's ``RuntimeDirectory=dbseal``),
``/run/dbseal`` for root or when it exists and belongs to this user, then
``$XDG_RUNTIME_DIR/dbseal``, then ``dbseal-<uid>`` in the temporary directory.
The directory must belong to this user and be writable by no one else: a lock
another user can replace protects nothing.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import stat
import tempfile
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import quote

from dbseal.errors import DbsealError, RunLocked

POLL_S = 0.2


def default_state_dir() -> str:
    """Where run locks live when neither an option nor dbseal.toml says (module doc)."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return runtime
    try:
        st = os.stat("/run/dbseal")
        mine = stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
    except OSError:
        mine = False
    if os.geteuid() == 0 or mine:
        return "/run/dbseal"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "dbseal")
    return os.path.join(tempfile.gettempdir(), f"dbseal-{os.geteuid()}")


def lock_path(state_dir: str, kind: str, source: str) -> str:
    """``<dir>/<kind>-<source>.lock``, the source name percent-encoded (no ``/``, no ``..``)."""
    return os.path.join(state_dir, f"{kind}-{quote(source, safe='') or '%00'}.lock")


def _prepare_dir(path: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as exc:
        raise DbsealError(
            f"cannot create the run-lock directory {path!r}: {exc.strerror}",
            hint="pass --state-dir DIR or set [state] dir in dbseal.toml to a directory you own",
        ) from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise DbsealError(
            f"run-lock directory {path!r} is not a directory of this user writable only by it",
            hint=f"remove it, or run `chown {os.geteuid()} {path} && chmod 700 {path}`",
        )


@dataclass
class RunLock:
    """``with RunLock(dir, "backup", "prod", wait_s=None):`` holds the lock for the block."""

    state_dir: str
    kind: str
    source: str
    wait_s: float | None = None
    _fd: int = field(default=-1, init=False, repr=False)

    @property
    def path(self) -> str:
        return lock_path(self.state_dir, self.kind, self.source)

    def __enter__(self) -> RunLock:
        _prepare_dir(self.state_dir)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise DbsealError(f"cannot open run lock {self.path!r}: {exc.strerror}") from None
        try:
            self._acquire(fd)
            record = {
                "pid": os.getpid(),
                "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": self.kind,
                "source": self.source,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        fd, self._fd = self._fd, -1
        try:
            os.ftruncate(fd, 0)  # the next reader sees no stale holder
        finally:
            os.close(fd)  # releases the flock

    def _acquire(self, fd: int) -> None:
        deadline = None if self.wait_s is None else time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise DbsealError(f"cannot lock {self.path!r}: {exc.strerror}") from None
            if deadline is None or time.monotonic() >= deadline:
                raise self._locked(fd)
            time.sleep(POLL_S)

    def _locked(self, fd: int) -> RunLocked:
        holder = _holder(fd)
        waited = "" if not self.wait_s else f" (waited {self.wait_s:g} s)"
        return RunLocked(
            f"a {self.kind} of source {self.source!r} is already running: {holder}{waited}; "
            f"lock {self.path}"
        )


def _holder(fd: int) -> str:
    """``pid N since TIME`` from the holder's record (it writes it just after locking)."""
    for _ in range(10):
        try:
            doc = json.loads(os.pread(fd, 4096, 0) or b"null")
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict) and "pid" in doc:
            return f"pid {doc.get('pid')} since {doc.get('started')}"
        time.sleep(0.05)
    return "holder unknown (it has not written its record yet)"
