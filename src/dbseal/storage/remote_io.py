"""Connections to a receiver for :class:`~dbseal.storage.remote.RemoteBackend`.

TLS sockets speaking HTTP/1.1 (:class:`Conn`), a pool of idle ones
(:class:`Pool`), and the two streaming bodies: :class:`Download` (an object
read as the caller reads) and :class:`Upload` (chunks sent as the caller
writes, ended by ``commit()`` or ``abort()``). The framing itself lives in
:mod:`dbseal.server.wire`.

Failures that may pass (refused or reset connections, timeouts, a receiver
closing mid-answer) are :class:`~dbseal.errors.StorageUnavailable` (exit 45),
like S3's; the retrier of :class:`~dbseal.storage.remote.RemoteBackend`
retries them. A download that breaks resumes from the byte it reached.
"""

from __future__ import annotations

import contextlib
import io
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.client import HTTPMessage, parse_headers
from typing import Any, BinaryIO, cast

from dbseal.errors import (
    DbsealError,
    ObjectNotFound,
    ReceiverTLSError,
    StorageError,
    StorageUnavailable,
)
from dbseal.server import wire
from dbseal.storage.retry import Retrier

_HINT = "the receiver did not answer: check that `dbseal serve` runs there and the network"


class Lost(Exception):
    """The connection failed before any part of an answer arrived."""


# How a connection the other end closed shows up.
CLOSED = (Lost, ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class Conn:
    """One TLS connection speaking HTTP/1.1; used by one caller at a time."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.rfile = cast(BinaryIO, sock.makefile("rb", buffering=65536))
        self.served = 0  # answers received on this connection
        self.keep = True

    def send(self, data: bytes | bytearray | memoryview) -> None:
        self.sock.sendall(data)

    def request(self, method: str, target: str, host: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "User-Agent: dbseal"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def response(self) -> tuple[int, HTTPMessage]:
        line = self.rfile.readline(65537)
        if not line:
            raise Lost("the receiver closed the connection")
        try:
            version, code = line.decode("latin-1").split(None, 2)[:2]
            status = int(code)
        except ValueError:
            raise StorageError(f"not a dbseal receiver (answered {line[:40]!r})") from None
        headers = parse_headers(self.rfile)
        if headers.get("Connection", "").lower() == "close" or version != "HTTP/1.1":
            self.keep = False
        return status, headers

    def body(self, headers: HTTPMessage, limit: int = wire.MAX_JSON) -> bytes:
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            data = wire.ChunkedReader(self.rfile).read(limit + 1)
        elif headers.get("Content-Length") is not None:
            data = self.rfile.read(min(int(headers["Content-Length"]), limit + 1))
        else:
            self.keep = False
            data = self.rfile.read(limit + 1)
        if len(data) > limit:
            raise StorageError(f"an answer of more than {limit} bytes from the receiver")
        return data

    def close(self) -> None:
        self.keep = False
        with contextlib.suppress(OSError):
            self.rfile.close()
            self.sock.close()


class Pool:
    """Connections to one receiver: made on demand, idle ones kept for reuse (``size`` at most)."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        timeout: float,
        size: int,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.context = host, port, context
        self.netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.location = f"dbseal+tls://{self.netloc}"
        self.timeout, self.size, self.connect_timeout = timeout, size, connect_timeout
        self._idle: list[Conn] = []
        self._lock = threading.Lock()

    def exchange(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: bytes | bytearray | None = None,
    ) -> tuple[Conn, int, HTTPMessage]:
        """Send a request head (and a small ``body``) and read the answer's head (an interim
        100 for streaming uploads).

        A reused connection that turns out closed (the receiver closes idle
        ones) is replaced once: no request ran on it.
        """
        for _attempt in range(2):
            conn = self._checkout()
            try:
                conn.request(method, target, self.netloc, headers or {})
                if body:
                    conn.send(body)
                status, answer = conn.response()
            except (OSError, Lost, wire.ProtocolError) as exc:
                conn.close()
                if conn.served and isinstance(exc, CLOSED):
                    continue
                raise self.connection_error(exc, fresh=not conn.served) from None
            conn.served += 1
            return conn, status, answer
        raise StorageUnavailable(f"receiver {self.netloc} keeps closing connections", hint=_HINT)

    def call(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | bytearray | None = None,
    ) -> tuple[int, HTTPMessage, bytes]:
        """The whole (small) answer to a request with a small body or none."""
        conn, status, answer = self.exchange(method, target, headers, body)
        try:
            data = b"" if method == "HEAD" else conn.body(answer)
        except (OSError, wire.ProtocolError) as exc:
            conn.close()
            raise StorageUnavailable(
                f"receiver {self.netloc}: {method} {target.split('?')[0]}: connection lost ({exc})",
                hint=_HINT,
            ) from None
        self.release(conn)
        return status, answer, data

    def release(self, conn: Conn) -> None:
        if conn.keep:
            with self._lock:
                if len(self._idle) < self.size:
                    self._idle.append(conn)
                    return
        conn.close()

    def failure(self, conn: Conn, status: int, headers: HTTPMessage, what: str) -> DbsealError:
        """The error an answer describes (its body read, the connection released)."""
        try:
            body = conn.body(headers, 64 << 10) if status >= 200 else b""
        except (OSError, wire.ProtocolError, StorageError):
            body = b""
        self.release(conn)
        if status == 404:
            return ObjectNotFound(f"{what} not found at {self.location}")
        return wire.error_from(status, body, self.netloc)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _checkout(self) -> Conn:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _connect(self) -> Conn:
        where = self.netloc
        started = time.monotonic()
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot connect to receiver {where}: {exc.strerror or exc}",
                hint="check the address and that `dbseal serve` runs there",
            ) from None
        # connecting includes the TLS handshake: both within connect_timeout (a black hole)
        raw.settimeout(max(0.1, self.connect_timeout - (time.monotonic() - started)))
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock = self.context.wrap_socket(raw, server_hostname=self.host)
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise ReceiverTLSError(
                f"the certificate of receiver {where} is not trusted: {exc.verify_message}"
            ) from None
        except CLOSED as exc:
            raw.close()
            raise StorageUnavailable(
                f"receiver {where} closed the connection during the TLS handshake ({exc})",
                hint="the receiver may be at --max-connections, or this is not a dbseal receiver "
                "(its log says which)",
            ) from None
        except ssl.SSLError as exc:
            raw.close()
            raise ReceiverTLSError(
                f"TLS 1.3 with receiver {where} failed ({exc.reason or exc})"
            ) from None
        except OSError as exc:
            raw.close()
            raise StorageUnavailable(
                f"connection to receiver {where} lost ({exc})", hint=_HINT
            ) from None
        sock.settimeout(self.timeout)
        return Conn(sock)

    def connection_error(self, exc: BaseException, *, fresh: bool) -> DbsealError:
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, CLOSED):
            return ReceiverTLSError(
                f"receiver {self.netloc} ended the TLS session "
                f"({getattr(exc, 'reason', None) or exc}): it refused this client's certificate"
            )
        if fresh and isinstance(exc, CLOSED):
            # TLS 1.3: the client's handshake ends before the receiver has checked its
            # certificate, so a refusal shows up here, as a closed connection or an alert.
            return ReceiverTLSError(
                f"receiver {self.netloc} closed the connection after the TLS handshake without "
                "answering: it refused this client's certificate (expired, signed by another CA, "
                "or not a client certificate)"
            )
        if isinstance(exc, TimeoutError):
            return StorageUnavailable(
                f"receiver {self.netloc} did not answer within {self.timeout:g} s", hint=_HINT
            )
        return StorageUnavailable(f"connection to receiver {self.netloc} lost ({exc})", hint=_HINT)


Reopen = Callable[[int], Conn]  # a GET of the object from this offset on (of the range)


class Download(io.RawIOBase):
    """The chunked body of an object, read as the caller reads; resumed by offset when cut.

    ``reopen(offset)`` asks for the rest from ``offset`` bytes into the range
    and returns the connection, its answer head read.
    """

    def __init__(self, conn: Conn, pool: Pool, what: str, reopen: Reopen, retrier: Retrier):
        self._conn: Conn | None = conn
        self._pool, self._what, self._reopen, self._retrier = pool, what, reopen, retrier
        self._body: wire.ChunkedReader | None = wire.ChunkedReader(conn.rfile)
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._done or not len(memoryview(buffer)):
            return 0
        return self._retrier.call("receiver.read", lambda: self._read_once(buffer))

    def _read_once(self, buffer: Any) -> int:
        if self._body is None or self._conn is None:
            self._conn = self._reopen(self._pos)
            self._body = wire.ChunkedReader(self._conn.rfile)
        try:
            n = self._body.readinto(buffer)
        except (OSError, wire.ProtocolError) as exc:
            self._conn.close()
            self._conn = self._body = None
            raise StorageUnavailable(
                f"reading {self._what} from {self._pool.location} failed at byte {self._pos}: "
                f"{exc}",
                hint=_HINT,
            ) from None
        self._pos += n
        self._done = self._body.done
        return n

    def finish(self) -> None:
        """Give the connection back if the body was read to its end, else close it."""
        if self._conn is None:
            return
        if self._body is not None and self._body.done:
            self._pool.release(self._conn)
        else:
            self._conn.close()


class Upload(io.RawIOBase):
    """The chunked body of an upload; ``commit()`` or ``abort()`` ends it."""

    def __init__(self, conn: Conn, pool: Pool, what: str) -> None:
        self._conn, self._pool, self._what = conn, pool, what
        self._size = 0
        self._ended = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._ended:
            return len(view)  # after an abort: a late flush goes nowhere
        self._check_early_answer()
        try:
            for i in range(0, len(view), wire.MAX_CHUNK):
                self._conn.send(wire.chunk(view[i : i + wire.MAX_CHUNK]))
        except OSError as exc:
            self._ended = True
            raise self._early_answer() or self._lost(exc) from None
        self._size += len(view)
        return len(view)

    def commit(self) -> None:
        """Send the commit marker; returns once the receiver made the object durable."""
        self._ended = True
        try:
            self._conn.send(wire.end_chunks({wire.COMMIT: str(self._size)}))
            status, headers = self._conn.response()
        except (OSError, Lost, wire.ProtocolError, StorageError) as exc:
            raise self._early_answer() or self._lost(exc) from None
        if status != 201:
            raise self._pool.failure(self._conn, status, headers, self._what)
        try:
            self._conn.body(headers)
        except (OSError, wire.ProtocolError):
            self._conn.close()
            return
        self._pool.release(self._conn)

    def abort(self) -> None:
        """Tell the receiver to throw the upload away and wait until it has (best effort)."""
        if self._ended:
            self._conn.close()
            return
        self._ended = True
        try:
            self._conn.send(wire.end_chunks({wire.ABORT: "1"}))
            status, headers = self._conn.response()
            self._conn.body(headers)
        except (OSError, Lost, wire.ProtocolError, StorageError):
            self._conn.close()  # the receiver abandons an upload whose connection drops
            return
        if status == 200:
            self._pool.release(self._conn)
        else:
            self._conn.close()

    def _check_early_answer(self) -> None:
        """The receiver answers during an upload only to refuse it (e.g. its disk is full).

        It sends nothing else meanwhile (no session tickets, no key updates), so
        a readable socket means an answer or a closed connection.
        """
        sock = self._conn.sock
        if sock.pending() or select.select([sock], [], [], 0)[0]:
            self._ended = True
            raise self._early_answer() or self._lost(ConnectionError("unexpected answer"))

    def _early_answer(self) -> DbsealError | None:
        with contextlib.suppress(OSError, Lost, wire.ProtocolError, StorageError, ValueError):
            self._conn.sock.settimeout(5)
            status, headers = self._conn.response()
            if status >= 400:
                self._conn.keep = False
                return self._pool.failure(self._conn, status, headers, self._what)
        self._conn.close()
        return None

    def _lost(self, exc: BaseException) -> StorageError:
        self._conn.close()
        return StorageUnavailable(
            f"upload of {self._what} to {self._pool.location} failed: {exc}; "
            "the receiver stores nothing of an upload that did not complete",
            hint=_HINT,
        )
