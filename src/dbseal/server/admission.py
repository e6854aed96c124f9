"""Connections that have not finished their TLS handshake: bounded, per address, timed.

(And :class:`Deadlines`: the same cut-at-a-deadline for authenticated
connections waiting for a request head, so that trickling bytes does not
stretch ``--idle-timeout`` either.)

A peer without a certificate can open TCP connections and send nothing (or a
few bytes of a ClientHello). Such pending handshakes never hold one of the
authenticated slots: they sit in this gate, which admits at most ``total`` of
them, at most ``per_address`` from one address (a new one over that limit is
refused at once), and gives each ``timeout`` seconds in all (not per read).
When the gate is full, the oldest pending handshake is cut to make room: a
real client finishes its handshake in milliseconds, so what is cut is almost
always a connection that was never going to finish.

Cutting is ``shutdown()`` on the socket, which wakes the connection's thread
out of its blocking handshake. The gate's lock guarantees that a socket is
only ever shut down while it is still pending, i.e. before its owner closed
it (so a file descriptor number reused by a newer socket is never touched).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


class Refused(Exception):
    """A new connection the gate does not admit (the reason is the message)."""


@dataclass(eq=False)
class Pending:
    sock: socket.socket
    host: str
    deadline: float
    cut: str | None = field(default=None)  # why the gate cut it (timeout, evicted)


class HandshakeGate:
    """Admission of unauthenticated connections (see the module docstring)."""

    def __init__(
        self,
        total: int,
        per_address: int,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.per_address, self.timeout = total, per_address, timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[Pending, None] = {}  # insertion order: oldest first
        self._per_host: dict[str, int] = {}

    def admit(self, sock: socket.socket, host: str) -> Pending:
        """Register ``sock`` as pending; raises :class:`Refused` over the per-address limit."""
        with self._lock:
            if self._per_host.get(host, 0) >= self.per_address:
                raise Refused(
                    f"too many pending handshakes from {host} "
                    f"(--max-handshakes-per-address {self.per_address})"
                )
            if len(self._pending) >= self.total:
                oldest = next(iter(self._pending))
                self._cut(oldest, f"cut to make room (--max-handshakes {self.total})")
            entry = Pending(sock, host, self._clock() + self.timeout)
            self._pending[entry] = None
            self._per_host[host] = self._per_host.get(host, 0) + 1
            return entry

    def done(self, entry: Pending) -> None:
        """The handshake ended (either way); call before closing the socket."""
        with self._lock:
            if entry in self._pending:
                self._forget(entry)

    def expire(self) -> int:
        """Cut every pending handshake past its deadline; how many were cut."""
        now = self._clock()
        with self._lock:
            late = [e for e in self._pending if e.deadline <= now]
            for entry in late:
                self._cut(entry, self.late)
        return len(late)

    @property
    def late(self) -> str:
        """The reason given for a handshake that took too long."""
        return f"no TLS handshake within {self.timeout:g} s"

    def cut_all(self, reason: str = "the receiver is stopping") -> None:
        with self._lock:
            for entry in list(self._pending):
                self._cut(entry, reason)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _cut(self, entry: Pending, reason: str) -> None:
        entry.cut = reason
        self._forget(entry)
        with contextlib.suppress(OSError):
            socket.socket.shutdown(entry.sock, socket.SHUT_RDWR)

    def _forget(self, entry: Pending) -> None:
        del self._pending[entry]
        left = self._per_host[entry.host] - 1
        if left:
            self._per_host[entry.host] = left
        else:
            del self._per_host[entry.host]


class Deadlines:
    """Sockets to shut down if a block of code on them is still running at a deadline.

    ``with deadlines.watch(sock, seconds):`` registers ``sock`` until the block
    ends; :meth:`expire` (the receiver's watchdog) shuts down those past their
    deadline, under the same lock, so never a socket whose block has ended.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[socket.socket, float]] = {}
        self._next = 0

    @contextlib.contextmanager
    def watch(self, sock: socket.socket, seconds: float) -> Iterator[None]:
        with self._lock:
            token, self._next = self._next, self._next + 1
            self._watched[token] = (sock, self._clock() + seconds)
        try:
            yield
        finally:
            with self._lock:
                self._watched.pop(token, None)

    def expire(self) -> int:
        now = self._clock()
        with self._lock:
            late = [t for t, (_, deadline) in self._watched.items() if deadline <= now]
            for token in late:
                sock, _ = self._watched.pop(token)
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        return len(late)
