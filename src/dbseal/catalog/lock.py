"""The repository lock: only pruning (deleting backups) takes it, exclusively.

Backups never lock: each writes objects under its own unique id and a
manifest last, and a prune never touches a backup whose manifest did not exist
when it listed the repository, nor one started after the prune did. So a
concurrent backup needs no lock. Pruning must not run twice at once, so it
takes ``locks/prune.lock``.

The lock is object-store friendly:

* **Acquire** is a create-only write (``put(overwrite=False)``: ``link()`` on a
  local disk, a conditional ``If-None-Match: *`` write on S3). Exactly one
  writer wins; the others see who holds it.
* **Record**: host, pid (and the process's start time, against pid reuse),
  creation time, a refresh time, a refresh counter ``seq`` and the holder's
  ``timeout_s``.
* **Refresh**: while held, a thread rewrites the lock every third of the
  timeout (new ``refreshed``, ``seq`` + 1). A refresh that finds another token
  there marks the lock *lost*; :meth:`RepositoryLock.confirm`, called before
  each deletion, then raises LockLost. A holder that cannot refresh for a whole
  timeout also counts its lock as lost.
* **Stale** (may be broken) when: its host is this host and its process is
  gone; or it is damaged; or this process has *seen it unchanged* (same bytes,
  so neither ``seq`` nor ``refreshed`` moved) for the timeout, by its own
  monotonic clock. Timestamps in the lock are never compared with this host's
  wall clock, so a clock that is ahead or behind on either host cannot make a
  live lock look stale: a live holder keeps changing the lock.
* **Takeover race**: after creating (or re-creating) the lock, the holder waits
  a moment and reads it back; only the process whose token is there holds it.
  Before breaking a stale lock the breaker checks that it still holds the
  bytes it watched. (Object stores offer no compare-and-delete.)
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbseal.errors import LockHeld, LockLost, ObjectExists, ObjectNotFound, StorageError
from dbseal.storage import Backend, Handle

LOCK = Handle("lock", "prune.lock")
DEFAULT_TIMEOUT_S = 300.0  # docs/operations.md, "Locks"
POLL_S = 1.0


def _host() -> str:
    return socket.gethostname()


def _wall_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_gone(doc: dict[str, Any]) -> bool:
    """True when the lock's holder ran on this host and its process no longer exists."""
    if doc.get("host") != _host() or not isinstance(doc.get("pid"), int):
        return False
    pid = int(doc["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    started = doc.get("pid_start")
    return started is not None and process_start(pid) not in (None, started)


@dataclass
class RepositoryLock:
    backend: Backend
    timeout_s: float = DEFAULT_TIMEOUT_S
    wait_s: float | None = None  # how long acquire() waits; None: timeout + a poll
    settle_s: float = 0.5
    token: str = ""
    poll_s: float = POLL_S
    _seq: int = 0
    _lost: str | None = None
    _last_ok: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _created: str = ""
    on_wait: Callable[[dict[str, Any]], None] | None = None

    # -- the record ----------------------------------------------------------------
    def _doc(self) -> dict[str, Any]:
        now = _wall_now().isoformat()
        return {
            "token": self.token,
            "host": _host(),
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "created": self._created or now,
            "refreshed": now,
            "seq": self._seq,
            "timeout_s": self.timeout_s,
        }

    def _raw(self) -> bytes | None:
        try:
            return self.backend.get(LOCK)
        except ObjectNotFound:
            return None

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any] | None:
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def holder(self) -> dict[str, Any] | None:
        raw = self._raw()
        if raw is None:
            return None
        return self._parse(raw) or {"token": "?", "damaged": True}

    # -- acquiring -----------------------------------------------------------------
    def acquire(self) -> None:
        self.token = os.urandom(12).hex()
        self._created = _wall_now().isoformat()
        wait_s = self.timeout_s + 2 * self.poll_s if self.wait_s is None else self.wait_s
        deadline = time.monotonic() + wait_s
        watched: bytes | None = None
        watched_since = 0.0
        while True:
            try:
                self.backend.put(LOCK, json.dumps(self._doc()).encode())
                break
            except ObjectExists:
                pass
            raw = self._raw()
            if raw is None:
                continue  # released meanwhile
            if raw != watched:
                watched, watched_since = raw, time.monotonic()
            doc = self._parse(raw)
            if self._stale(doc, time.monotonic() - watched_since):
                self._break(raw)
                continue
            if time.monotonic() >= deadline:
                raise LockHeld(_held_message(doc or {}, self.timeout_s))
            if self.on_wait is not None:
                self.on_wait(doc or {})
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
        time.sleep(self.settle_s)
        doc = self.holder()
        if doc is None or doc.get("token") != self.token:
            raise LockHeld("another process took the lock at the same time")
        self._last_ok = time.monotonic()

    def _stale(self, doc: dict[str, Any] | None, unchanged_s: float) -> bool:
        if doc is None or process_gone(doc):
            return True
        declared = doc.get("timeout_s")
        timeout = max(self.timeout_s, float(declared) if isinstance(declared, int | float) else 0)
        return unchanged_s >= timeout

    def _break(self, stale: bytes) -> None:
        if self._raw() == stale:  # not refreshed or replaced since we judged it
            self.backend.remove(LOCK)

    # -- holding -------------------------------------------------------------------
    def refresh(self) -> None:
        doc = self.holder()
        if doc is None or doc.get("token") != self.token:
            self._lost = "the lock was broken and taken over by another process"
            raise LockLost(self._lost)
        self._seq += 1
        self.backend.put(LOCK, json.dumps(self._doc()).encode(), overwrite=True)
        self._last_ok = time.monotonic()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.timeout_s / 3):
            try:
                self.refresh()
            except LockLost:
                return
            except StorageError:
                if time.monotonic() - self._last_ok >= self.timeout_s:
                    self._lost = "the lock could not be refreshed for its whole timeout"
                    return

    def confirm(self) -> None:
        """Raise LockLost unless this process still holds the lock (call before deleting)."""
        if self._lost is None and time.monotonic() - self._last_ok >= self.timeout_s:
            self._lost = "the lock could not be refreshed for its whole timeout"
        if self._lost is None:
            doc = self.holder()
            if doc is None or doc.get("token") != self.token:
                self._lost = "the lock was broken and taken over by another process"
        if self._lost is not None:
            raise LockLost(self._lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        doc = self.holder()
        if doc is not None and doc.get("token") == self.token:
            self.backend.remove(LOCK)

    def __enter__(self) -> RepositoryLock:
        self.acquire()
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh_loop, name="lock-refresh", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held_message(doc: dict[str, Any], timeout_s: float) -> str:
    if doc.get("damaged"):
        return "the repository lock is damaged and still changing"
    return (
        f"the repository is locked by {doc.get('host')} pid {doc.get('pid')} since "
        f"{doc.get('created')}, and the lock is being refreshed (a lock unchanged for "
        f"{timeout_s:g}s is stale)"
    )
