"""Uploads in parts: a cut upload to a receiver is resumed part by part, never replayed whole.

The requests (next to those of :mod:`dbseal.server.wire`)::

    POST   /v1/uploads/KIND/NAME[?overwrite=1]     start   201 {"upload": ID} | 409 | 403
    PUT    /v1/uploads/ID/N                        part N  200 {"size": BYTES SO FAR}
           (Content-Length <= MAX_PART, Dbseal-Part-Sha256: hex digest of the body)
    POST   /v1/uploads/ID/commit?parts=N&size=S    commit  201 {"size": S}
    DELETE /v1/uploads/ID                          abort   200 {"aborted": true}

``start`` opens the receiver backend's ``writer()`` (so "exists" and
"refused" come back before any data is sent) and keeps it open across
requests. A part is read whole (bounded by :data:`MAX_PART`), checked against
its length and digest, and only then written: a part cut in transit leaves
nothing, and the client sends it again. Sending the last part again (same
number, same digest: its answer was lost) is acknowledged without writing
it twice; any other number out of order is refused. ``commit`` with the
right part count and size ends the writer normally (the object becomes
visible, durably); a repeated commit of a committed upload answers 201 again.
``abort``, a session that received nothing for ``resume_s`` (the client went
away: a killed client and a cut connection look the same, so a cut upload
is kept that long for its client to resume), or the receiver stopping end
the writer with an exception, so nothing becomes visible. At most
``max_open`` sessions are open at a time (more are answered 503).

A session belongs to the client certificate that started it: others cannot
see, feed, commit or abort it. Aborting one's OWN uncommitted upload is
allowed on an append-only receiver (nothing was stored yet). A receiver that
restarts loses its sessions: the client's next part gets 404 and its upload
fails (exit 45) with nothing stored.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from dbseal.errors import ObjectNotFound, StorageError, StorageUnavailable
from dbseal.storage.backend import KINDS, Backend, Handle

if TYPE_CHECKING:
    from dbseal.server.handler import ReceiverHandler

MAX_PART = 3 << 20
PART_SHA = "Dbseal-Part-Sha256"
PREFIX = "/v1/uploads"
_KEEP_COMMITTED = 1024


class _Aborted(Exception):
    """Thrown into a writer to make it leave nothing behind."""


@dataclass
class Session:
    owner: str
    handle: Handle
    writer: contextlib.AbstractContextManager[BinaryIO]
    out: BinaryIO
    parts: int = 0
    size: int = 0
    last_sha: str = ""
    active: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


Reported = Callable[[Session, str], None]  # (session, reason) of an upload thrown away


class UploadSessions:
    """The open part-uploads of one receiver (``on_expired`` is told of each one dropped)."""

    def __init__(
        self,
        backend: Backend,
        resume_s: float = 300.0,
        max_open: int = 32,
        on_expired: Reported | None = None,
    ) -> None:
        self._backend, self._resume_s, self._max_open = backend, resume_s, max_open
        self._on_expired = on_expired
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()
        self._open: dict[str, Session] = {}
        # upload id -> (owner, parts, size, handle), so a repeated commit is answered again
        self._committed: collections.OrderedDict[str, tuple[str, int, int, Handle]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def count(self) -> int:
        with self._lock:
            return len(self._open)

    def start(self, owner: str, handle: Handle, overwrite: bool) -> str:
        self.expire()
        if self.count() >= self._max_open:
            raise StorageUnavailable(f"{self._max_open} uploads in progress on the receiver")
        self._start_reaper()
        writer = self._backend.writer(handle, overwrite=overwrite)
        out = writer.__enter__()  # ObjectExists, refusals: raised here, before any data
        upload_id = secrets.token_hex(16)
        with self._lock:
            self._open[upload_id] = Session(owner, handle, writer, out)
        return upload_id

    def part(self, owner: str, upload_id: str, number: int, data: bytes, sha: str) -> int:
        session = self._get(owner, upload_id)
        with session.lock:
            session.active = time.monotonic()
            if hashlib.sha256(data).hexdigest() != sha:
                raise ValueError(f"part {number} does not match its digest")
            if number == session.parts and sha == session.last_sha:
                return session.size  # sent again: its answer was lost
            if number != session.parts + 1:
                raise ValueError(f"part {number} out of order (expected {session.parts + 1})")
            session.out.write(data)
            session.parts, session.size, session.last_sha = number, session.size + len(data), sha
            return session.size

    def commit(self, owner: str, upload_id: str, parts: int, size: int) -> tuple[Handle, int]:
        with self._lock:
            done = self._committed.get(upload_id)
        if done is not None and done[:3] == (owner, parts, size):
            return done[3], size
        session = self._get(owner, upload_id)
        with session.lock:
            if (session.parts, session.size) != (parts, size):
                raise ValueError(
                    f"commit of {parts} parts, {size} bytes; the receiver has "
                    f"{session.parts} parts, {session.size} bytes"
                )
            with self._lock:
                self._open.pop(upload_id, None)
            session.writer.__exit__(None, None, None)  # durable, visible; or raises
            with self._lock:
                self._committed[upload_id] = (owner, parts, size, session.handle)
                while len(self._committed) > _KEEP_COMMITTED:
                    self._committed.popitem(last=False)
        return session.handle, size

    def abort(self, owner: str, upload_id: str) -> Handle | None:
        with self._lock:
            session = self._open.get(upload_id)
            if session is None or session.owner != owner:
                return None
            del self._open[upload_id]
        self._throw_away(session)
        return session.handle

    def expire(self) -> int:
        """Abort the sessions that received nothing for longer than ``resume_s``."""
        now = time.monotonic()
        with self._lock:
            stale = [k for k, s in self._open.items() if now - s.active > self._resume_s]
            sessions = [self._open.pop(k) for k in stale]
        for session in sessions:
            self._throw_away(session)
            if self._on_expired is not None:
                self._on_expired(
                    session,
                    f"no part for {self._resume_s:g} s after {session.size} bytes "
                    "(the client went away)",
                )
        return len(sessions)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
        for session in sessions:
            self._throw_away(session)

    # -- internals ---------------------------------------------------------------------------

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(
                target=self._reap, name="dbseal-upload-reaper", daemon=True
            )
        self._reaper.start()

    def _reap(self) -> None:
        while not self._stop.wait(min(5.0, max(self._resume_s / 4, 0.05))):
            self.expire()

    def _get(self, owner: str, upload_id: str) -> Session:
        with self._lock:
            session = self._open.get(upload_id)
        if session is None or session.owner != owner:
            raise ObjectNotFound(f"upload {upload_id[:16]} is not open on this receiver")
        return session

    @staticmethod
    def _throw_away(session: Session) -> None:
        with session.lock, contextlib.suppress(Exception):
            session.writer.__exit__(_Aborted, _Aborted("aborted"), None)


def handle_request(handler: ReceiverHandler, rest: list[str], query: dict[str, str]) -> None:
    """Serve one ``/v1/uploads/...`` request (``rest``: the path after the prefix)."""
    sessions: UploadSessions = handler.receiver.sessions
    owner, command = handler.peer.identity, handler.command
    if command == "POST" and len(rest) >= 2 and rest[0] in KINDS:
        overwrite = query.get("overwrite") == "1"
        handle = Handle(rest[0], "/".join(rest[1:]))
        if overwrite:
            handler._deny_if_append_only("overwrite", f"{handle.kind}/{handle.name}", "overwritten")
        handler._json(201, {"upload": sessions.start(owner, handle, overwrite)})
    elif command == "PUT" and len(rest) == 2 and rest[1].isdigit():
        handler._json(200, {"size": sessions.part(owner, rest[0], int(rest[1]), *_body(handler))})
    elif command == "POST" and len(rest) == 2 and rest[1] == "commit":
        parts, size = int(query.get("parts", "-1")), int(query.get("size", "-1"))
        handle, size = sessions.commit(owner, rest[0], parts, size)
        handler._event("receiver.stored", object=f"{handle.kind}/{handle.name}", bytes=size)
        handler._json(201, {"size": size})
    elif command == "DELETE" and len(rest) == 1:
        dropped = sessions.abort(owner, rest[0])
        if dropped is not None:
            what = f"{dropped.kind}/{dropped.name}"
            handler._event("receiver.aborted", object=what, reason="the client aborted")
        handler._json(200, {"aborted": dropped is not None})
    else:
        raise ValueError(f"{command} {PREFIX}/{'/'.join(rest)} is not an upload request")


def _body(handler: Any) -> tuple[bytes, str]:
    length = int(handler.headers.get("Content-Length", "-1"))
    if not 0 <= length <= MAX_PART:
        raise ValueError(f"a part needs a Content-Length of at most {MAX_PART} bytes")
    handler.connection.settimeout(handler.receiver.config.stall_timeout)
    try:
        data = handler.rfile.read(length)
    except OSError as exc:
        raise StorageError(f"part lost in transit ({exc})") from None
    finally:
        handler.connection.settimeout(handler.receiver.config.idle_timeout)
    if len(data) != length:
        handler.close_connection = True
        raise StorageError(f"part cut after {len(data)} of {length} bytes")
    return data, handler.headers.get(PART_SHA, "")
