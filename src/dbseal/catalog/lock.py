"""The repository lock: only pruning (deleting backups by a retention policy) takes it.

Backups never lock: each writes objects under its own unique id and a
manifest last, so concurrent writers cannot lose each other's backups.
Pruning must not delete a backup that a concurrent verification or restore is
reading, nor run twice at once, so it takes ``locks/prune.lock``.

The lock is object-store friendly:

* **Acquire** is a create-only write (``put(overwrite=False)``: ``link()`` on a
  local disk, a conditional ``If-None-Match: *`` write on S3). Exactly one
  writer wins; the others get ObjectExists and see who holds it.
* **Expiry**: the lock records an expiry time; the holder refreshes it (every
  third of the TTL) while it works. A lock past its expiry is *stale* (its
  holder crashed) and may be taken over.
* **Takeover race**: two processes may both see the same stale lock, both
  delete it and both create a new one. After creating, the holder waits a
  moment and reads the lock back; only the process whose token is there holds
  it, the other raises LockHeld. (Object stores offer no compare-and-delete,
  so this read-back is the portable check.)
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from dbseal.errors import LockHeld, ObjectExists, ObjectNotFound
from dbseal.storage import Backend, Handle

LOCK = Handle("lock", "prune.lock")


@dataclass
class RepositoryLock:
    backend: Backend
    ttl_s: float = 600.0
    settle_s: float = 0.5
    token: str = ""

    def _doc(self) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC)
        return {
            "token": self.token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "created": now.isoformat(),
            "expires": (now + datetime.timedelta(seconds=self.ttl_s)).isoformat(),
        }

    def holder(self) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = json.loads(self.backend.get(LOCK))
            return doc
        except ObjectNotFound:
            return None
        except ValueError:
            return {"token": "?", "expires": "1970-01-01T00:00:00+00:00"}  # damaged: treat as stale

    @staticmethod
    def is_stale(doc: dict[str, Any]) -> bool:
        try:
            return datetime.datetime.fromisoformat(str(doc["expires"])) < datetime.datetime.now(
                datetime.UTC
            )
        except (KeyError, ValueError):
            return True

    def acquire(self) -> None:
        self.token = os.urandom(12).hex()
        for _ in range(2):
            try:
                self.backend.put(LOCK, json.dumps(self._doc()).encode())
                break
            except ObjectExists:
                doc = self.holder()
                if doc is not None and not self.is_stale(doc):
                    raise LockHeld(
                        f"locked by {doc.get('host')} pid {doc.get('pid')} since {doc.get('created')}"
                    ) from None
                self.backend.remove(LOCK)  # stale: its holder died
        else:
            raise LockHeld("lost the race for a stale lock")
        time.sleep(self.settle_s)
        doc = self.holder()
        if doc is None or doc.get("token") != self.token:
            raise LockHeld("another process took the lock at the same time")

    def refresh(self) -> None:
        doc = self.holder()
        if doc is None or doc.get("token") != self.token:
            raise LockHeld("the lock was lost (it expired and was taken over)")
        self.backend.put(LOCK, json.dumps(self._doc()).encode(), overwrite=True)

    def release(self) -> None:
        doc = self.holder()
        if doc is not None and doc.get("token") == self.token:
            self.backend.remove(LOCK)

    def __enter__(self) -> RepositoryLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
