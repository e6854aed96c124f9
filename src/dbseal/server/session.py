"""What a request handler needs from the receiver: its configuration, backend and bookkeeping.

:mod:`dbseal.server.receiver` implements :class:`Service`;
:mod:`dbseal.server.handler` uses it. Both import this module, never each
other's internals in the other direction (the handler knows no ``Receiver``).
"""

from __future__ import annotations

import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dbseal.monitoring.reporter import Reporter
from dbseal.storage import Backend

if TYPE_CHECKING:
    from dbseal.server.uploads import UploadSessions


@dataclass(frozen=True)
class ReceiverConfig:
    """What `dbseal serve` was asked to do (file names, never key material).

    Limits (see docs/design.md, "Backup receiver"): ``max_connections``
    authenticated connections; apart from those, at most ``max_handshakes``
    connections that have not finished their TLS handshake, at most
    ``max_handshakes_per_address`` of them from one address, each for at most
    ``handshake_timeout`` seconds. Refusals are logged at most a few times per
    ``log_interval`` and peer, then summarised.
    """

    host: str
    port: int
    repository: str
    cert: str
    key: str
    client_ca: str
    allow: tuple[str, ...] = ()
    append_only: bool = False
    max_connections: int = 32
    max_handshakes: int = 64
    max_handshakes_per_address: int = 8
    handshake_timeout: float = 10.0
    idle_timeout: float = 120.0
    stall_timeout: float = 1800.0
    log_interval: float = 10.0
    resume_timeout: float = 300.0  # an upload in parts waits this long for its client to resume


@dataclass(frozen=True)
class Peer:
    """One connected client: address, certificate identity, and why it is refused (if it is)."""

    address: str
    identity: str
    names: frozenset[str]
    refusal: str | None = None


class Service(Protocol):
    """The receiver as its request handlers see it."""

    @property
    def config(self) -> ReceiverConfig: ...

    @property
    def backend(self) -> Backend: ...

    @property
    def reporter(self) -> Reporter: ...

    def upload(self) -> AbstractContextManager[None]:
        """Held while an upload runs (so leftovers are not cleaned under it)."""
        ...

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int: ...

    @property
    def sessions(self) -> UploadSessions:
        """Uploads in parts that have started and not yet been committed or aborted."""
        ...

    def watch(self, sock: socket.socket, seconds: float) -> AbstractContextManager[None]:
        """Cut ``sock`` if the block is still running after ``seconds`` (in all, not per read)."""
        ...
