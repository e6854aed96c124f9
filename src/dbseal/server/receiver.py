"""The threaded receiver: TLS 1.3 with client certificates, an allow list, bounded connections.

One thread per connection, at most ``max_connections`` at a time (more are
refused at once, not queued). The TLS handshake runs on the connection's
thread with a timeout, so a silent or non-TLS client never blocks the
accept loop. Every connection is reported once, accepted (with the client's
identity) or refused (with the reason), as a ``receiver.accepted`` or
``receiver.refused`` event; the library never prints.

Events (all with ``peer``; most with ``client``): ``receiver.listening``,
``receiver.accepted``, ``receiver.refused``, ``receiver.stored``,
``receiver.removed``, ``receiver.denied`` (append-only), ``receiver.aborted``
(an upload that did not complete: nothing was stored), ``receiver.error``,
``receiver.stopped``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dbseal.crypto.secret import check_private_file
from dbseal.errors import ReceiverRefused, UsageError
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.server.uploads import UploadSessions
from dbseal.storage import Backend, open_backend


@dataclass(frozen=True)
class ReceiverConfig:
    """What `dbseal serve` was asked to do (file names, never key material)."""

    host: str
    port: int
    repository: str
    cert: str
    key: str
    client_ca: str
    allow: tuple[str, ...] = ()
    append_only: bool = False
    max_connections: int = 32
    handshake_timeout: float = 10.0
    idle_timeout: float = 120.0
    stall_timeout: float = 1800.0
    resume_timeout: float = 300.0  # an upload in parts waits this long for its client to resume


@dataclass(frozen=True)
class Peer:
    """One connected client: address, certificate identity, and why it is refused (if it is)."""

    address: str
    identity: str
    names: frozenset[str]
    refusal: str | None = None


def server_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    """TLS 1.3 only; a client certificate signed by ``client_ca`` is required."""
    check_private_file(key, "--key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.num_tickets = 0  # no session resumption: every connection presents its certificate
    _load(ctx.load_verify_locations, "--client-ca", client_ca)
    _load(lambda f: ctx.load_cert_chain(f, key), "--cert/--key", cert)
    return ctx


def _load(func: Any, option: str, path: str) -> None:
    try:
        func(path)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot load {option} {path!r}: {getattr(exc, 'strerror', None) or exc}",
            hint="pass PEM files, e.g. made by `dbseal tls init` and `dbseal tls issue`",
        ) from None


def peer_names(cert: dict[str, Any]) -> tuple[str, frozenset[str]]:
    """The identity shown in logs (the CN, else the first DNS name) and every name to match."""
    cns = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
    dns = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
    names = frozenset(cns + dns)
    return (cns or dns or ["(no name)"])[0], names


def refusal_reason(exc: BaseException) -> str:
    """Why a TLS handshake failed, in words for the receiver's log."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"client certificate rejected: {exc.verify_message}"
    if isinstance(exc, TimeoutError):
        return "no TLS handshake within the time limit"
    reason = getattr(exc, "reason", None) or ""
    if reason in ("HTTP_REQUEST", "WRONG_VERSION_NUMBER", "HTTPS_PROXY_REQUEST"):
        return f"not a TLS client ({reason.lower()})"
    if reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED"):
        return "no client certificate"
    if reason in ("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"):
        return "the client does not speak TLS 1.3"
    if reason.startswith(("TLSV1_ALERT_", "SSLV3_ALERT_")):
        return f"the client refused the receiver's certificate ({reason.lower()})"
    if isinstance(exc, ssl.SSLEOFError) or not reason:
        return f"connection closed during the TLS handshake ({exc})"
    return f"TLS handshake failed ({reason.lower()})"


class Receiver:
    """A repository offered to dbseal clients; ``serve_forever()`` or ``start()``, then ``close()``."""

    def __init__(
        self,
        config: ReceiverConfig,
        reporter: Reporter | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.config = config
        self.reporter = reporter or NullReporter()
        self.context = server_context(config.cert, config.key, config.client_ca)
        if backend is None:
            if "://" in config.repository and not config.repository.startswith(("file:", "s3:")):
                raise UsageError(
                    f"a receiver serves a local or s3:// repository, not {config.repository!r}"
                )
            backend = open_backend(config.repository)
        self.backend = backend
        self.sessions = UploadSessions(
            backend, config.resume_timeout, config.max_connections, self._upload_expired
        )
        self._allow = frozenset(config.allow)
        self._slots = threading.BoundedSemaphore(config.max_connections)
        self._lock = threading.Lock()
        self._uploads = 0
        self._conns: set[ssl.SSLSocket] = set()
        self._threads: set[threading.Thread] = set()
        self._serving: threading.Thread | None = None
        try:
            self._server = _Server((config.host, config.port), self)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
            ) from None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        host, port = self.address
        self.reporter.event(
            "receiver.listening",
            peer=f"{host}:{port}",
            repository=self.backend.location,
            append_only=self.config.append_only,
            allow=sorted(self._allow),
            max_connections=self.config.max_connections,
        )
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> Receiver:
        """Serve on a background thread (for embedding and tests)."""
        self._serving = threading.Thread(target=self.serve_forever, name="dbseal-receiver")
        self._serving.daemon = True
        self._serving.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, cut open connections (their uploads are abandoned), wait for threads."""
        if self._serving is not None:
            self._server.shutdown()
            self._serving.join()
            self._serving = None
        self._server.server_close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(timeout)
        self.sessions.close()  # uncommitted part-uploads leave nothing
        self.reporter.event("receiver.stopped", peer="-")

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bookkeeping used by the request handler --------------------------------------------

    @contextlib.contextmanager
    def upload(self) -> Iterator[None]:
        with self._lock:
            self._uploads += 1
        try:
            yield
        finally:
            with self._lock:
                self._uploads -= 1

    def _upload_expired(self, session: Any, reason: str) -> None:
        what = f"{session.handle.kind}/{session.handle.name}"
        self.reporter.event(
            "receiver.aborted", peer="-", client=session.owner, object=what, reason=reason
        )

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int:
        """Remove incomplete writes, never while an upload is in progress on this receiver."""
        self.sessions.expire()
        with self._lock:  # no upload can start while cleaning
            if self._uploads or self.sessions.count():
                raise ReceiverRefused(
                    f"{self._uploads + self.sessions.count()} upload(s) in progress on the receiver; "
                    "their temporary objects are not leftovers yet",
                    hint="run it again when no backup is running",
                )
            return self.backend.clean_leftovers(min_age_s)

    # -- one connection ---------------------------------------------------------------------

    def _admit(self, sock: socket.socket, address: Any) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        self.reporter.event(
            "receiver.refused",
            peer=_addr(address),
            reason=f"too many connections (--max-connections {self.config.max_connections})",
        )
        return False

    def _connection(self, sock: socket.socket, address: Any) -> None:
        from dbseal.server.handler import ReceiverHandler

        peer_addr = _addr(address)
        try:
            _keepalive(sock)
            sock.settimeout(self.config.handshake_timeout)
            try:
                tls = self.context.wrap_socket(sock, server_side=True)
            except (OSError, ValueError) as exc:
                self.reporter.event("receiver.refused", peer=peer_addr, reason=refusal_reason(exc))
                return
            with self._lock:
                self._conns.add(tls)
            try:
                peer = self._peer(tls, peer_addr)
                tls.settimeout(self.config.idle_timeout)
                ReceiverHandler(tls, address, self._server, self, peer)
            except OSError:
                pass  # the client went away; any upload it had running was abandoned
            except Exception as exc:  # a bug: reported, never printed; other connections go on
                self.reporter.event(
                    "receiver.error",
                    peer=peer_addr,
                    reason=f"internal error {type(exc).__name__}: {exc}",
                )
            finally:
                with self._lock:
                    self._conns.discard(tls)
                with contextlib.suppress(OSError):
                    tls.close()
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            self._slots.release()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _peer(self, tls: ssl.SSLSocket, address: str) -> Peer:
        identity, names = peer_names(tls.getpeercert() or {})
        if self._allow and not names & self._allow:
            peer = Peer(address, identity, names, f"client {identity!r} is not in --allow")
            self.reporter.event(
                "receiver.refused", peer=address, client=identity, reason=peer.refusal
            )
        else:
            peer = Peer(address, identity, names)
            self.reporter.event(
                "receiver.accepted",
                peer=address,
                client=identity,
                tls=tls.version(),
                cipher=(tls.cipher() or ("?",))[0],
            )
        return peer


class _Server(socketserver.TCPServer):
    """Accepts connections and hands each to its own thread (handshake included)."""

    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, socketserver.BaseRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        r = self.receiver
        if not r._admit(request, client_address):
            with contextlib.suppress(OSError):
                request.close()
            return
        t = threading.Thread(target=r._connection, args=(request, client_address), daemon=True)
        with r._lock:
            r._threads.add(t)
        t.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.receiver.reporter.event(
            "receiver.error", peer=_addr(client_address), reason="unexpected error"
        )


def _addr(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _keepalive(sock: socket.socket) -> None:
    """Notice a vanished client host within minutes, even in the middle of an upload."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 6)
