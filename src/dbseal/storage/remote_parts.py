"""A streaming upload to a receiver in bounded parts, each retried (see :mod:`dbseal.server.uploads`).

The client holds the part not yet acknowledged in memory (at most
:data:`PART_SIZE` bytes), so a cut connection, a timeout or a 503 costs one
part sent again, under the shared retry budget, not the whole stream. One
part is in flight on a worker thread while the caller fills the next (two
parts in memory at most), so the dump does not wait for each round trip. The
upload becomes visible only at the commit; :meth:`PartUpload.abort` (any
exception in the ``writer()`` block) asks the receiver to throw the upload
away, with the short abort budget; an abort that does not get through leaves
a session the receiver drops when it goes idle, and nothing visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from typing import Any
from urllib.parse import quote

from dbseal.errors import ObjectNotFound, StorageError, StorageUnavailable
from dbseal.server import uploads, wire
from dbseal.storage.backend import Handle
from dbseal.storage.inflight import InFlight
from dbseal.storage.remote_io import Pool
from dbseal.storage.retry import Retrier

PART_SIZE = uploads.MAX_PART
_LOST = (
    "the receiver no longer knows this upload (it was restarted, or the upload sat idle); "
    "nothing of it was stored"
)


class NotSupported(Exception):
    """The receiver predates uploads in parts (the client streams in one request instead)."""


class PartUpload(io.RawIOBase):
    """A write-only file sent to the receiver part by part; ``commit()`` or ``abort()`` ends it."""

    def __init__(
        self, pool: Pool, retrier: Retrier, handle: Handle, what: str, overwrite: bool
    ) -> None:
        super().__init__()
        self._pool, self._retrier, self._what = pool, retrier, what
        self._buf = bytearray()
        self._parts = self._size = 0  # handed to the worker (sent, or being sent)
        self._inflight: InFlight[None] = InFlight("dbseal-receiver-part")
        self._id = self._start(handle, overwrite)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        while view:
            room = PART_SIZE - len(self._buf)
            self._buf += view[:room]
            view = view[room:]
            if len(self._buf) >= PART_SIZE and view:
                self._send_part()
        return n

    def commit(self) -> None:
        """Send what is left and make the object visible (or raise, leaving nothing)."""
        if self._buf or not self._parts:
            self._send_part()
        self._inflight.wait()
        self._inflight.close()
        target = f"{uploads.PREFIX}/{self._id}/commit?parts={self._parts}&size={self._size}"
        try:  # a repeated commit (its answer was lost) is answered 201 again
            self._retrier.call("receiver.commit", lambda: self._request("POST", target, b"", 201))
        except ObjectNotFound:
            raise StorageUnavailable(f"{self._what}: {_LOST}") from None

    def abort(self) -> None:
        """Ask the receiver to drop the upload; never raises (see the module docstring)."""
        self._buf = bytearray()
        self._inflight.drop()
        with contextlib.suppress(StorageError):
            self._retrier.abort(
                "receiver.abort", lambda: self._request("DELETE", f"{uploads.PREFIX}/{self._id}")
            )

    # -- requests ----------------------------------------------------------------------------

    def _start(self, handle: Handle, overwrite: bool) -> str:
        target = f"{uploads.PREFIX}/{handle.kind}/{quote(handle.name, safe='/')}" + (
            "?overwrite=1" if overwrite else ""
        )
        # a lost answer leaves an unused session on the receiver; it expires with nothing stored
        doc = self._retrier.call("receiver.start_upload", lambda: self._request("POST", target))
        return str(doc["upload"])

    def _send_part(self) -> None:
        data, self._buf = self._buf, bytearray()  # handed over, not copied
        self._inflight.wait()  # its failure is the upload's
        number = self._parts + 1
        self._inflight.submit(lambda: self._upload_part(number, data))
        self._parts, self._size = number, self._size + len(data)

    def _upload_part(self, number: int, data: bytearray) -> None:
        headers = {uploads.PART_SHA: hashlib.sha256(data).hexdigest()}
        target = f"{uploads.PREFIX}/{self._id}/{number}"
        try:
            self._retrier.call(
                "receiver.upload_part", lambda: self._request("PUT", target, data, 200, headers)
            )
        except ObjectNotFound:
            raise StorageUnavailable(f"{self._what}: {_LOST}") from None

    def _request(
        self,
        method: str,
        target: str,
        body: bytes | bytearray = b"",
        ok: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Any:
        head = {"Content-Length": str(len(body)), **(headers or {})}
        status, _answer, data = self._pool.call(method, target, head, body)
        if status == 400 and method == "POST" and b"is not a receiver request" in data:
            raise NotSupported
        if status == 404:
            raise ObjectNotFound(f"{self._what}: {_LOST}")
        if status not in (ok, 201):
            raise wire.error_from(status, data, self._pool.netloc)
        try:
            return json.loads(data or b"{}")
        except ValueError:
            raise StorageError(f"{self._what}: unreadable answer from the receiver") from None
