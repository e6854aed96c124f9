"""In-flight backups: a running backup announces itself in the repository.

``inflight/<ID>.json`` holds the backup id, host, pid, start time, the time it
was last refreshed, and the keyring key versions the backup seals for. A backup
creates it (create-only) *before* it wraps its data key, refreshes it every
:data:`REFRESH_S` while it runs, and removes it when it exits, whether it
succeeded or failed. ``dbseal keys retire`` and ``keys destroy --repo`` refuse
a key version that a live announcement names, so a key cannot be erased under
a backup that is sealing for it.

An announcement is *stale*, and ignored, when

* its backup already has a manifest (it finished; the removal may have been
  refused, e.g. by an older append-only receiver), or
* it was made on this host and its pid is not running any more (the backup was
  killed), or
* it was not refreshed for :data:`STALE_AFTER_S` (the backup died on another
  host, or lost the repository).

Announcements are small and carry no secret; they are the only objects an
append-only receiver lets clients overwrite and delete (``MUTABLE_KINDS`` in
``storage/backend.py``): losing one cannot lose a backup, because a backup also
re-checks its keys before it publishes its manifest (``ops/backup.py``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from dbseal.catalog.repository import manifest_handle
from dbseal.errors import DbsealError
from dbseal.storage import Backend, Handle

KIND = "inflight"
REFRESH_S = 60.0
STALE_AFTER_S = 600.0

KeyRef = tuple[str, str, int]  # keyring id (hex), key name, version


def inflight_handle(bid: str) -> Handle:
    return Handle(KIND, f"{bid}.json")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Announcement:
    backup_id: str
    host: str
    pid: int
    started: str
    refreshed: str
    keys: list[dict[str, Any]] = field(default_factory=list)

    def encode(self) -> bytes:
        return (json.dumps(vars(self), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def decode(cls, raw: bytes) -> Announcement | None:
        """None for a damaged announcement (it protects nothing, so it is ignored)."""
        try:
            d = json.loads(raw)
            return cls(
                str(d["backup_id"]),
                str(d["host"]),
                int(d["pid"]),
                str(d["started"]),
                str(d["refreshed"]),
                list(d.get("keys") or []),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def key_refs(self) -> set[KeyRef]:
        out = set()
        for k in self.keys:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                out.add((str(k["keyring_id"]), str(k["key"]), int(k["version"])))
        return out

    def stale_reason(self, backend: Backend, stale_after_s: float = STALE_AFTER_S) -> str | None:
        if backend.stat(manifest_handle(self.backup_id)) is not None:
            return "the backup finished"
        if self.host == socket.gethostname() and not _running(self.pid):
            return f"pid {self.pid} is not running"
        try:
            age = (_now() - datetime.datetime.fromisoformat(self.refreshed)).total_seconds()
        except ValueError:
            return "its refresh time is unreadable"
        return f"not refreshed for {age:.0f} s" if age > stale_after_s else None

    def describe(self) -> str:
        return f"backup {self.backup_id} on {self.host} (pid {self.pid}, started {self.started})"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def live_announcements(backend: Backend) -> list[Announcement]:
    """Announcements of backups that are still running (stale ones are left out)."""
    out = []
    for name in backend.list(KIND):
        if not name.endswith(".json"):
            continue
        try:
            ann = Announcement.decode(backend.get(Handle(KIND, name)))
        except DbsealError:
            continue  # removed meanwhile
        if ann is not None and ann.stale_reason(backend) is None:
            out.append(ann)
    return out


def users_of(backend: Backend, ref: KeyRef) -> list[Announcement]:
    """Running backups that seal for the keyring key version ``ref``."""
    return [a for a in live_announcements(backend) if ref in a.key_refs()]


class InFlight:
    """Announce a backup for the duration of a ``with`` block (refreshed in a thread)."""

    def __init__(
        self, backend: Backend, bid: str, keys: list[dict[str, Any]], refresh_s: float = REFRESH_S
    ) -> None:
        started = _now().isoformat()
        self.backend, self.refresh_s = backend, refresh_s
        self.ann = Announcement(bid, socket.gethostname(), os.getpid(), started, started, keys)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, name="dbseal-inflight", daemon=True)

    def __enter__(self) -> InFlight:
        self.backend.put(inflight_handle(self.ann.backup_id), self.ann.encode())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # A failed removal is harmless: the backup's manifest, or its age, makes it stale.
        with contextlib.suppress(DbsealError):
            self.backend.remove(inflight_handle(self.ann.backup_id))

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.ann.refreshed = _now().isoformat()
            # best effort: a backup is not failed because its announcement could not be refreshed
            with contextlib.suppress(DbsealError):
                self.backend.put(
                    inflight_handle(self.ann.backup_id), self.ann.encode(), overwrite=True
                )
