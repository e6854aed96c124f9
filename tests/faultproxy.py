"""A fault-injecting TCP proxy on loopback, put between dbseal and a storage server.

It forwards bytes both ways until told to misbehave like a real network:

* ``reset_after(n, upstream=False, then_refuse_s=0)``: the connection that carries
  the ``n``-th byte from now (server to client, or client to server) is reset
  (RST) there, and connections are then refused for ``then_refuse_s`` seconds;
* ``http_503(n)``: the next ``n`` requests on new connections are answered
  ``503 Service Unavailable`` (open connections are cut, so the client reconnects);
* ``refuse_for(s)``: the listening socket is closed for ``s`` seconds (connections
  are refused) and open connections are reset;
* ``black_hole()``: connections are accepted but nothing is ever answered, and
  open connections stop forwarding; ``heal()`` ends any fault.

Everything is bounded: threads are daemons, sockets time out, ``close()`` stops it all.
Only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Any

_HOST = "127.0.0.1"
_BLOCK = 65536


def _reset(sock: socket.socket) -> None:
    """Cut at once: RST (linger 0); shutdown() first wakes a thread blocked on it (close alone
    would wait for that thread and send nothing)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    """``127.0.0.1:port`` forwarding to ``127.0.0.1:target`` (see the module docstring)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._open: list[tuple[socket.socket, socket.socket]] = []
        self._reset_at: tuple[int, bool] | None = None  # (bytes left, upstream)
        self._then_refuse_s = 0.0
        self._answers_503 = 0
        self._hole = False
        self._closed = False
        self.connections = 0
        self.faults = 0  # faults injected (resets, 503 answers, refused periods)
        self._listener = self._listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._accepting = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepting.start()

    # -- faults --------------------------------------------------------------------------

    def reset_after(self, n: int, *, upstream: bool = False, then_refuse_s: float = 0.0) -> None:
        with self._lock:
            self._reset_at, self._then_refuse_s = (n, upstream), then_refuse_s

    def http_503(self, n: int) -> None:
        with self._lock:
            self._answers_503 = n
        self.cut_all()

    def refuse_for(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` (returns at once; the port reopens by itself)."""
        with self._lock:
            listener, self._listener = self._listener, None
            self.faults += 1
        if listener is not None:
            listener.close()
        self.cut_all()
        threading.Timer(seconds, self._reopen).start()

    def black_hole(self) -> None:
        with self._lock:
            self._hole = True
            self.faults += 1

    def heal(self) -> None:
        with self._lock:
            self._hole, self._reset_at, self._answers_503 = False, None, 0

    def cut_all(self) -> None:
        with self._lock:
            pairs, self._open = self._open, []
        for a, b in pairs:
            _reset(a)
            _reset(b)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.cut_all()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(100):
            try:
                sock.bind((_HOST, port))
                break
            except OSError:
                time.sleep(0.05)
        sock.listen(64)
        sock.settimeout(0.2)
        return sock

    def _reopen(self) -> None:
        with self._lock:
            if self._closed:
                return
        listener = self._listen(self.port)
        with self._lock:
            self._listener = listener

    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            hole, answer_503 = self._hole, self._answers_503 > 0
            if answer_503:
                self._answers_503 -= 1
                self.faults += 1
        if hole:
            self._swallow(client)
            return
        if answer_503:
            self._answer_503(client)
            return
        try:
            server = socket.create_connection((_HOST, self.target), timeout=5)
            server.settimeout(None)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._open.append((client, server))
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()
        self._pump(client, server, True)

    def _swallow(self, client: socket.socket) -> None:
        """Accept and read, never answer, until the client gives up (or 10 minutes)."""
        client.settimeout(600)
        with contextlib.suppress(OSError):
            while client.recv(_BLOCK):
                pass
        _reset(client)

    def _answer_503(self, client: socket.socket) -> None:
        client.settimeout(10)
        with contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                block = client.recv(_BLOCK)
                if not block:
                    break
                head += block
            body = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"
            client.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
                + body
            )
        _reset(client)

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                block = src.recv(_BLOCK)
                if not block:
                    break
                while self._holding():
                    time.sleep(0.05)
                block = self._maybe_reset(block, upstream, src, dst)
                if block is None:
                    return
                dst.sendall(block)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                _reset(s)

    def _holding(self) -> bool:
        with self._lock:
            return self._hole and not self._closed

    def _maybe_reset(
        self, block: bytes, upstream: bool, src: socket.socket, dst: socket.socket
    ) -> Any:
        with self._lock:
            plan = self._reset_at
            if plan is None or plan[1] != upstream:
                return block
            left = plan[0]
            if len(block) < left:
                self._reset_at = (left - len(block), upstream)
                return block
            self._reset_at = None
            self.faults += 1
            refuse = self._then_refuse_s
        with contextlib.suppress(OSError):
            dst.sendall(block[:left])
        _reset(src)
        _reset(dst)
        if refuse:
            self.refuse_for(refuse)
        return None
