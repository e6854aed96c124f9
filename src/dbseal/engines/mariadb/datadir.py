"""Is a directory fit to become a restored MariaDB datadir? (empty, and no server uses it)

A running server is recognised three ways, any one is enough:

1. a ``*.pid`` file in the directory naming a live process;
2. a process (visible to us: all of them as root) with a file open, or its working
   directory, inside the directory (what ``fuser -m``-like tools look at, read from
   ``/proc/PID/fd`` and ``/proc/PID/cwd``);
3. the locks mariadbd takes: InnoDB holds an ``fcntl`` write lock on ``ibdata1``, Aria on
   ``aria_log_control``; a lock we cannot take means a server holds it (this also sees a
   server in another PID namespace, e.g. a container, on the same file system).

The check runs before anything is written, and again just before the restored datadir
is moved into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from dbseal.errors import DatadirInUse, TargetNotEmpty, UsageError

LOCKED_FILES = ("ibdata1", "aria_log_control")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_files(datadir: Path) -> str | None:
    for path in datadir.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(path.read_text().split()[0])
            if pid > 0 and _pid_alive(pid):
                return f"its pid file {path.name} names the running process {pid}"
    return None


def _users(datadir: Path) -> str | None:
    root = str(datadir.resolve())
    inside = root + os.sep
    me = os.getpid()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            proc = f"/proc/{entry.name}"
            links = [f"{proc}/cwd"]
            with contextlib.suppress(OSError):
                links += [f"{proc}/fd/{fd}" for fd in os.listdir(f"{proc}/fd")]
            for link in links:
                try:
                    target = os.readlink(link)
                except OSError:
                    continue
                if target == root or target.startswith(inside):
                    return f"process {entry.name} ({_comm(entry.name)}) has {target} open"
    return None


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _locks(datadir: Path) -> str | None:
    for name in LOCKED_FILES:
        path = datadir / name
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return f"another process holds the lock on {name}"
        finally:
            os.close(fd)  # closing drops our lock too
    return None


def in_use(datadir: Path) -> str | None:
    """Why a running server uses ``datadir`` (None: none found)."""
    if not datadir.is_dir():
        return None
    return _pid_files(datadir) or _locks(datadir) or _users(datadir)


def check_target(datadir: Path, ignore_prefix: str | None = None) -> None:
    """Refuse a datadir a server uses (DatadirInUse), one that holds anything
    (TargetNotEmpty; entries starting with ``ignore_prefix`` do not count), or one whose
    parent does not exist (UsageError)."""
    if datadir.exists() and not datadir.is_dir():
        raise UsageError(f"--datadir {datadir} exists and is not a directory")
    if not datadir.parent.is_dir():
        raise UsageError(
            f"the parent of --datadir {datadir} does not exist",
            hint="create the parent directory first (the restore creates the datadir itself)",
        )
    why = in_use(datadir)
    if why is not None:
        raise DatadirInUse(f"--datadir {datadir} is used by a running server: {why}")
    if datadir.is_dir():
        entries = sorted(
            e for e in os.listdir(datadir) if not (ignore_prefix and e.startswith(ignore_prefix))
        )
        if entries:
            shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
            raise TargetNotEmpty(
                f"--datadir {datadir} is not empty ({len(entries)} entries: {shown}); "
                "a physical restore writes only into an empty or new directory",
                hint="pass a new directory (it is created), or empty this one yourself",
            )


__all__ = ["check_target", "in_use"]
