"""The receiver's wire protocol, shared by the receiver and :class:`RemoteBackend`.

HTTP/1.1 (persistent connections) over TLS 1.3 with a client certificate on
both ends. One request per ``Backend`` method::

    HEAD   /v1/o/KIND/NAME                     stat    200 + Dbseal-Size, Dbseal-Mtime | 404
    GET    /v1/o/KIND/NAME[?start=N&length=M]  open    200, chunked body | 404
    PUT    /v1/o/KIND/NAME[?overwrite=1]       writer  see below; 201 | 409 | 403
    DELETE /v1/o/KIND/NAME                     remove  204 | 403
    GET    /v1/list/KIND[?prefix=P]            list    200 {"names": [...]}
    POST   /v1/prepare                         prepare 204
    GET    /v1/leftovers                       leftovers        200 {"leftovers": [...]}
    POST   /v1/clean-leftovers                 clean_leftovers  200 {"removed": N} | 403

An upload is ``PUT`` with ``Expect: 100-continue`` and ``Transfer-Encoding:
chunked``. The receiver opens its backend's ``writer()`` first (so "exists"
and "refused" come back before any data is sent), answers ``100 Continue``,
then streams the chunks into the writer. The body must end with the
zero-length chunk and the trailer ``Dbseal-Commit: <total bytes>``; only
then does the receiver complete the write. A ``Dbseal-Abort`` trailer, a
wrong count, or a body that stops early (client killed, connection lost)
abandons the write, so nothing becomes visible. Chunks are at most
:data:`MAX_CHUNK` bytes, so memory stays bounded on both sides.

Clients upload in parts when the receiver supports it (``/v1/uploads``, see
:mod:`dbseal.server.uploads`): each part is retried on its own.

Errors are a status and ``{"error": CLASS, "message": TEXT}``; the client
raises the matching class of :mod:`dbseal.errors`. ``503`` (the receiver's
own storage unavailable, or too many uploads) and a gateway's ``502``/``504``
are transient: the client retries them.
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO
from urllib.parse import quote

from dbseal.errors import (
    DbsealError,
    ObjectExists,
    ObjectNotFound,
    OutputError,
    ReceiverRefused,
    StorageError,
    StorageUnavailable,
)
from dbseal.storage.backend import Handle

PREFIX = "/v1"
MAX_CHUNK = 1 << 20
MAX_JSON = 16 << 20
COMMIT = "Dbseal-Commit"
ABORT = "Dbseal-Abort"
SIZE = "Dbseal-Size"
MTIME = "Dbseal-Mtime"
_MAX_LINE = 1024
_MAX_TRAILERS = 32

STATUS: dict[type[DbsealError], int] = {
    ObjectNotFound: 404,
    ObjectExists: 409,
    ReceiverRefused: 403,
    StorageUnavailable: 503,  # the receiver's own storage is unavailable: the client retries
}
_CLASSES: dict[str, type[DbsealError]] = {
    c.__name__: c
    for c in (ObjectNotFound, ObjectExists, ReceiverRefused, OutputError, StorageUnavailable)
}
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


class ProtocolError(Exception):
    """The peer broke the framing (or stopped in the middle of it)."""


def object_path(handle: Handle) -> str:
    return f"{PREFIX}/o/{handle.kind}/{quote(handle.name, safe='/')}"


def status_of(exc: DbsealError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(exc: DbsealError) -> bytes:
    name = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in _CLASSES), "StorageError")
    return json.dumps({"error": name, "message": exc.message}).encode()


def error_from(status: int, body: bytes, where: str) -> DbsealError:
    """The error a response describes, raised with the receiver's name in the message."""
    try:
        doc = json.loads(body)
        name, message = str(doc["error"]), str(doc["message"])
    except (ValueError, KeyError, TypeError):
        name, message = "", body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    cls = _CLASSES.get(name, StorageError)
    if not name and status in TRANSIENT_STATUS:
        cls = StorageUnavailable  # not the receiver's own error (a proxy, a gateway): it may pass
    return cls(f"receiver {where}: {message}")


def chunk(data: bytes | memoryview) -> bytes:
    return b"".join((b"%x\r\n" % len(data), data, b"\r\n"))


def end_chunks(trailers: dict[str, str]) -> bytes:
    return b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers.items()) + b"\r\n"


def json_body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


class ChunkedReader(io.RawIOBase):
    """The body of a ``Transfer-Encoding: chunked`` message, read from ``fp`` as it arrives.

    Reading past the last chunk returns ``b""`` and fills :attr:`trailers`
    (lower-cased names). A body that ends before its last chunk, or breaks
    the framing, raises :class:`ProtocolError`; socket errors pass through.
    """

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self._left = 0
        self.done = False
        self.trailers: dict[str, str] = {}

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.done or not len(view):
            return 0
        if self._left == 0:
            self._left = self._size_line()
            if self._left == 0:
                self._read_trailers()
                self.done = True
                return 0
        n = self._fp.readinto(view[: min(len(view), self._left)])  # type: ignore[attr-defined]
        if not n:
            raise ProtocolError("the body ended in the middle of a chunk")
        self._left -= n
        if self._left == 0 and self._fp.read(2) != b"\r\n":
            raise ProtocolError("a chunk is not followed by CRLF")
        return int(n)

    def _line(self) -> bytes:
        line = self._fp.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise ProtocolError("the body ended early" if not line else "a chunk line is too long")
        return line.rstrip(b"\r\n")

    def _size_line(self) -> int:
        text = self._line().split(b";", 1)[0].strip()
        try:
            size = int(text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {text[:20]!r}") from None
        if size < 0 or size > MAX_CHUNK:
            raise ProtocolError(f"chunk of {size} bytes is larger than {MAX_CHUNK}")
        return size

    def _read_trailers(self) -> None:
        for _ in range(_MAX_TRAILERS + 1):
            line = self._line()
            if not line:
                return
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError("a trailer line has no colon")
            self.trailers[name.strip().lower()] = value.strip()
        raise ProtocolError("too many trailer lines")
