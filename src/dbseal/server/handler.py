"""One receiver connection: each request (see :mod:`dbseal.server.wire`) mapped onto the backend."""

from __future__ import annotations

import contextlib
import json
import socketserver
from http.server import BaseHTTPRequestHandler
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from dbseal.errors import DbsealError, ReceiverRefused, StorageError
from dbseal.server import httphead, uploads, wire
from dbseal.server.session import Peer, Service
from dbseal.storage.backend import KINDS, MUTABLE_KINDS, Handle

_BLOCK = 256 << 10
_SMALL_RANGE = 4 << 20
_APPEND_ONLY = "this receiver is append-only: objects are never {what} through it"


class _ClientAborted(Exception):
    pass


class _Lost(Exception):
    """The upload stopped before its commit marker (connection lost, bad framing, timeout)."""


class ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dbseal-receiver"
    wbufsize = 64 << 10  # a head and a small body leave in one write (flushed per answer)
    head: httphead.RequestHead

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: socketserver.BaseServer,
        receiver: Service,
        peer: Peer,
    ) -> None:
        self.receiver, self.peer = receiver, peer
        super().__init__(request, client_address, server)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the library never prints; connections are reported as events

    def handle_one_request(self) -> None:
        """One request, its head read strictly by :mod:`dbseal.server.httphead`."""
        self.command, self.request_version, self.requestline = "", "HTTP/1.1", ""
        self.close_connection = True
        try:  # --idle-timeout for the wait and the whole head, however the bytes trickle in
            with self.receiver.watch(self.connection, self.receiver.config.idle_timeout):
                head = httphead.read_head(self.rfile)  # type: ignore[arg-type]
        except httphead.BadRequest as exc:
            self._fail(StorageError(f"bad request: {exc.message}"), status=exc.status, close=True)
            return
        except TimeoutError:
            return  # idle past --idle-timeout: the connection is closed
        if head is None:
            return
        self.command, self.path, self.request_version = head.method, head.target, head.version
        self.requestline = f"{head.method} {head.target} {head.version}"
        self.headers, self.head = head.headers, head
        self.close_connection = not head.keep_alive
        if head.method not in httphead.METHODS:
            allowed = ", ".join(httphead.METHODS)
            self._fail(
                StorageError(f"bad request: {head.method} is not a receiver method ({allowed})"),
                status=405,
                close=True,
                headers={"Allow": allowed},
            )
            return
        try:
            getattr(self, f"do_{head.method}")()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # -- routing ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self.peer.refusal:
            self._fail(ReceiverRefused(self.peer.refusal), close=True)
            return
        is_part = self.command == "PUT" and self.path.startswith(uploads.PREFIX + "/")
        if self.command != "PUT" and (self.head.chunked or self.head.content_length):
            self.close_connection = True  # a body nobody reads: do not parse it as a request
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        parts = url.path.split("/", 4)  # '', 'v1', 'o', KIND, NAME
        try:
            if parts[:3] == ["", "v1", "o"] and len(parts) == 5:
                self._object(Handle(parts[3], unquote(parts[4])), query)
            elif parts[:3] == ["", "v1", "uploads"]:
                uploads.handle_request(self, [unquote(p) for p in url.path.split("/")[3:]], query)
            elif parts[:3] == ["", "v1", "list"] and len(parts) == 4 and parts[3] in KINDS:
                names = self.receiver.backend.list(parts[3], query.get("prefix", ""))
                self._json(200, {"names": names})
            elif (self.command, url.path) == ("POST", "/v1/prepare"):
                self.receiver.backend.prepare()
                self._reply(204)
            elif (self.command, url.path) == ("GET", "/v1/leftovers"):
                self._json(200, {"leftovers": self.receiver.backend.leftovers()})
            elif (self.command, url.path) == ("POST", "/v1/clean-leftovers"):
                self._deny_if_append_only("clean-leftovers", "-", "cleaned")
                min_age = float(query.get("min_age_s", "3600"))
                self._json(200, {"removed": self.receiver.clean_leftovers(min_age)})
            else:
                raise ValueError(f"{self.command} {url.path} is not a receiver request")
        except ValueError as exc:
            self._fail(StorageError(f"bad request: {exc}"), status=400, close=True)
        except DbsealError as exc:
            self._fail(exc, close=self.command == "PUT" and not is_part)

    def _object(self, handle: Handle, query: dict[str, str]) -> None:
        if self.command == "HEAD":
            info = self.receiver.backend.stat(handle)
            if info is None:
                self._reply(404)
            else:
                self._reply(200, headers={wire.SIZE: str(info.size), wire.MTIME: repr(info.mtime)})
        elif self.command == "GET":
            self._read(handle, query)
        elif self.command == "PUT":
            self._upload(handle, query.get("overwrite") == "1")
        elif self.command == "DELETE":
            if handle.kind not in MUTABLE_KINDS:
                self._deny_if_append_only("remove", _obj(handle), "deleted")
            self.receiver.backend.remove(handle)
            self._event("receiver.removed", object=_obj(handle))
            self._reply(204)
        else:
            raise ValueError(f"{self.command} is not an object request")

    # -- reading ----------------------------------------------------------------------------

    def _read(self, handle: Handle, query: dict[str, str]) -> None:
        start = int(query.get("start", "0"))
        length = int(query["length"]) if "length" in query else None
        if start < 0 or (length is not None and length < 0):
            raise ValueError("negative start or length")
        # Backends may hold a requested range in memory: large ranges are cut here instead.
        small = length is not None and length <= _SMALL_RANGE
        left = length  # None: to the end
        with contextlib.ExitStack() as stack:
            opened = self.receiver.backend.open(handle, start, length if small else None)
            fh = stack.enter_context(opened)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while want := _BLOCK if left is None else min(_BLOCK, left):
                    block = fh.read(want)
                    if not block:
                        break
                    left = None if left is None else left - len(block)
                    self.wfile.write(wire.chunk(block))
                self.wfile.write(wire.end_chunks({}))
                self.wfile.flush()
            except (OSError, DbsealError) as exc:
                # Headers are out: only cutting the connection tells the client (its read
                # then fails as truncated).
                self.close_connection = True
                if isinstance(exc, DbsealError):
                    self._event("receiver.error", object=_obj(handle), reason=exc.message)

    # -- writing ----------------------------------------------------------------------------

    def _upload(self, handle: Handle, overwrite: bool) -> None:
        if overwrite and handle.kind not in MUTABLE_KINDS:
            self._deny_if_append_only("overwrite", _obj(handle), "overwritten")
        if not self.head.chunked:
            raise ValueError("an upload must use Transfer-Encoding: chunked")
        reader = wire.ChunkedReader(self.rfile)  # type: ignore[arg-type]
        started = False
        with self.receiver.upload():
            try:
                with self.receiver.backend.writer(handle, overwrite=overwrite) as out:
                    self.send_response_only(100)
                    self.end_headers()
                    self.wfile.flush()
                    started = True
                    size = self._receive(reader, out)
            except _ClientAborted:
                self._event("receiver.aborted", object=_obj(handle), reason="the client aborted")
                self._json(200, {"aborted": True})
                return
            except _Lost as exc:
                self._event("receiver.aborted", object=_obj(handle), reason=str(exc))
                if reader.done:
                    self._fail(StorageError(f"upload not stored: {exc}"), status=400)
                else:
                    self.close_connection = True
                return
            except DbsealError as exc:
                if started:
                    self._event("receiver.aborted", object=_obj(handle), reason=exc.message)
                self._fail(exc, close=not reader.done)
                if started and not reader.done:
                    self._linger()
                return
        self._event("receiver.stored", object=_obj(handle), bytes=size, overwrite=overwrite)
        self._json(201, {"size": size})

    def _receive(self, reader: wire.ChunkedReader, out: BinaryIO) -> int:
        size = 0
        self.connection.settimeout(self.receiver.config.stall_timeout)
        try:
            while True:
                try:
                    block = reader.read(wire.MAX_CHUNK)
                except wire.ProtocolError as exc:
                    raise _Lost(f"{exc} after {size} bytes") from None
                except TimeoutError:
                    raise _Lost(f"no data for {self.receiver.config.stall_timeout:g} s") from None
                except OSError as exc:
                    raise _Lost(f"connection lost after {size} bytes ({exc})") from None
                if not block:
                    break
                out.write(block)
                size += len(block)
        finally:
            self.connection.settimeout(self.receiver.config.idle_timeout)
        if wire.ABORT.lower() in reader.trailers:
            raise _ClientAborted
        if reader.trailers.get(wire.COMMIT.lower()) != str(size):
            raise _Lost(f"the body ended without a commit marker for its {size} bytes")
        return size

    def _linger(self) -> None:
        """Read what the client still sends for a moment, so it sees the error, not a reset."""
        with contextlib.suppress(OSError):
            self.connection.settimeout(2.0)
            for _ in range(64):
                if not self.rfile.read1(wire.MAX_CHUNK):
                    break

    # -- answers ----------------------------------------------------------------------------

    def _deny_if_append_only(self, op: str, what: str, verb: str) -> None:
        if self.receiver.config.append_only:
            reason = _APPEND_ONLY.format(what=verb)
            self._event("receiver.denied", op=op, object=what, reason=reason)
            raise ReceiverRefused(reason)

    def _event(self, kind: str, **fields: Any) -> None:
        self.receiver.reporter.event(
            kind, peer=self.peer.address, client=self.peer.identity, **fields
        )

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, doc: Any) -> None:
        self._reply(status, json.dumps(doc).encode(), headers={"Content-Type": "application/json"})

    def _fail(
        self,
        exc: DbsealError,
        *,
        status: int | None = None,
        close: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = wire.error_body(exc)
        headers = {"Content-Type": "application/json", **(headers or {})}
        if self.command == "HEAD":
            headers["Dbseal-Error"] = body.decode()
        with contextlib.suppress(OSError):
            self._reply(status or wire.status_of(exc), body, headers=headers, close=close)


def _obj(handle: Handle) -> str:
    return f"{handle.kind}/{handle.name}"
