"""Writing and removing schedule files: atomic, never over a file dbseal did not write.

Every file starts with :data:`~dbseal.schedule.spec.MARKER`. ``install`` writes a file
that is missing, leaves one that is identical, and refuses one that differs unless
``force``; ``remove`` deletes only files that start with the marker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from dbseal.errors import ScheduleError
from dbseal.schedule.spec import MARKER
from dbseal.schedule.systemd import UnitFile


@dataclass(frozen=True)
class Planned:
    path: str
    action: str  # create, replace or unchanged
    text: str


def read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}") from None


def ours(text: str) -> bool:
    return text.startswith(MARKER)


def plan(directory: str, files: Sequence[UnitFile], force: bool) -> list[Planned]:
    """What ``install`` would do with each file; refuses before anything is written."""
    out = []
    for f in files:
        path = os.path.join(directory, f.name)
        old = read(path)
        if old is None:
            out.append(Planned(path, "create", f.text))
        elif old == f.text:
            out.append(Planned(path, "unchanged", f.text))
        elif force:
            out.append(Planned(path, "replace", f.text))
        else:
            who = "an older `dbseal schedule install`" if ours(old) else "someone else"
            raise ScheduleError(
                f"{path} exists and differs from what dbseal would write (written by {who}); "
                "nothing was written"
            )
    return out


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """A temporary file in the same directory, fsync'ed, then renamed over ``path``."""
    tmp = f"{path}.dbseal-tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            os.fchmod(fd, mode)  # not narrowed by the umask
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ScheduleError(f"cannot write {path}: {exc.strerror}") from None


def apply(planned: Sequence[Planned]) -> None:
    for p in planned:
        if p.action != "unchanged":
            write_atomic(p.path, p.text)


def remove(directory: str, names: Sequence[str]) -> list[str]:
    """Delete the files dbseal wrote among ``names`` (and the timers.target.wants link an
    enable made); refuses, deleting nothing, when one of them was not written by dbseal."""
    found = []
    for name in names:
        path = os.path.join(directory, name)
        old = read(path)
        if old is None:
            continue
        if not ours(old):
            raise ScheduleError(
                f"{path} was not written by `dbseal schedule install` (no {MARKER!r} first "
                "line); refusing to remove it, nothing was removed",
                hint="remove that file yourself if it is not needed",
            )
        found.append(path)
    for path in found:
        link = os.path.join(directory, "timers.target.wants", os.path.basename(path))
        if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(path):
            os.unlink(link)
        try:
            os.unlink(path)
        except OSError as exc:
            raise ScheduleError(f"cannot remove {path}: {exc.strerror}") from None
    return found
