"""The threaded receiver: TLS 1.3 with client certificates, an allow list, bounded connections.

Two separate pools. Connections that have not finished their TLS handshake
wait in a :class:`~dbseal.server.admission.HandshakeGate` (at most
``max_handshakes``, ``max_handshakes_per_address`` from one address,
``handshake_timeout`` seconds each in all); they never hold one of the
``max_connections`` authenticated slots, which a connection takes only once
its client certificate is verified. A new connection is refused at once
(closed, no handshake) when its address has too many pending handshakes or
every authenticated slot is taken. Each connection runs on its own thread,
so a silent client never blocks the accept loop; a watchdog thread cuts
handshakes past their deadline and writes the refusal summaries.

Every connection is reported once, accepted (with the client's identity) or
refused (with the reason), as a ``receiver.accepted`` or ``receiver.refused``
event, the refusals rate-limited by :class:`~dbseal.server.refusals.RefusalLog`
(``receiver.refused_summary``); the library never prints.

Events (all with ``peer``; most with ``client``): ``receiver.listening``,
``receiver.accepted``, ``receiver.refused``, ``receiver.refused_summary``,
``receiver.stored``, ``receiver.removed``, ``receiver.denied`` (append-only),
``receiver.aborted`` (an upload that did not complete: nothing was stored),
``receiver.error``, ``receiver.stopped``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from typing import Any

from dbseal.crypto.secret import check_private_file
from dbseal.errors import ReceiverRefused, UsageError
from dbseal.monitoring.reporter import NullReporter, Reporter
from dbseal.server.admission import Deadlines, HandshakeGate, Pending, Refused
from dbseal.server.handler import ReceiverHandler
from dbseal.server.refusals import RefusalLog
from dbseal.server.session import Peer, ReceiverConfig
from dbseal.server.uploads import UploadSessions
from dbseal.storage import Backend, open_backend

__all__ = ["Peer", "Receiver", "ReceiverConfig", "server_context"]


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
        self.refusals = RefusalLog(self.reporter, config.log_interval)
        self._gate = HandshakeGate(
            config.max_handshakes, config.max_handshakes_per_address, config.handshake_timeout
        )
        self._deadlines = Deadlines()
        self.sessions = UploadSessions(
            backend, config.resume_timeout, config.max_connections, self._upload_expired
        )
        self._allow = frozenset(config.allow)
        self._lock = threading.Lock()
        self._authenticated = 0
        self._uploads = 0
        self._conns: set[ssl.SSLSocket] = set()
        self._threads: set[threading.Thread] = set()
        self._serving: threading.Thread | None = None
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="dbseal-receiver-watchdog")
        self._watchdog.daemon = True
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
        c = self.config
        self.reporter.event(
            "receiver.listening",
            peer=f"{host}:{port}",
            repository=self.backend.location,
            append_only=c.append_only,
            allow=sorted(self._allow),
            max_connections=c.max_connections,
            max_handshakes=c.max_handshakes,
            max_handshakes_per_address=c.max_handshakes_per_address,
            handshake_timeout=c.handshake_timeout,
            idle_timeout=c.idle_timeout,
        )
        self._watchdog.start()
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
        self._stop.set()
        if self._watchdog.is_alive():
            self._watchdog.join(timeout)
        self._gate.cut_all()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(timeout)
        self.sessions.close()  # uncommitted part-uploads leave nothing
        self.refusals.flush()
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

    def watch(self, sock: socket.socket, seconds: float) -> contextlib.AbstractContextManager[None]:
        return self._deadlines.watch(sock, seconds)

    # -- one connection ---------------------------------------------------------------------

    def _watch(self) -> None:
        """Cut handshakes and request heads past their deadline; write the refusal summaries."""
        while not self._stop.wait(0.25):
            self._gate.expire()
            self._deadlines.expire()
            self.refusals.tick()

    def _refuse(self, address: Any, reason: str, **fields: Any) -> None:
        self.refusals.refused(_addr(address), str(address[0]), reason, **fields)

    def _admit(self, sock: socket.socket, address: Any) -> Pending | None:
        """A pending handshake for a new connection, or None (refused at once, not handshaken)."""
        with self._lock:
            full = self._authenticated >= self.config.max_connections
        if full:
            limit = self.config.max_connections
            self._refuse(address, f"too many connections (--max-connections {limit})")
            return None
        _keepalive(sock)
        sock.settimeout(self.config.handshake_timeout)  # per read; the gate bounds the total
        try:  # no I/O yet: the handshake runs on the connection's thread
            tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:
            self._refuse(address, refusal_reason(exc))
            return None
        try:
            return self._gate.admit(tls, str(address[0]))
        except Refused as exc:
            self._refuse(address, str(exc))
            with contextlib.suppress(OSError):
                tls.close()
            return None

    def _handshake(self, entry: Pending, address: Any) -> ssl.SSLSocket | None:
        """The connection after its TLS handshake, or None (refused, reported and closed)."""
        tls = entry.sock
        assert isinstance(tls, ssl.SSLSocket)
        try:
            tls.do_handshake()
            failure = None
        except TimeoutError:
            failure = self._gate.late
        except (OSError, ValueError) as exc:
            failure = refusal_reason(exc)
        self._gate.done(entry)  # from now on the gate never touches the socket
        if failure is None and entry.cut is None:
            return tls
        self._refuse(address, entry.cut or failure or "")
        with contextlib.suppress(OSError):
            tls.close()
        return None

    def _take_slot(self) -> bool:
        with self._lock:
            if self._authenticated >= self.config.max_connections:
                return False
            self._authenticated += 1
            return True

    def _connection(self, entry: Pending, address: Any) -> None:
        try:
            tls = self._handshake(entry, address)
            if tls is None:
                return
            if not self._take_slot():
                limit = self.config.max_connections
                self._refuse(address, f"too many connections (--max-connections {limit})")
                with contextlib.suppress(OSError):
                    tls.close()
                return
            try:
                self._serve_client(tls, address)
            finally:
                with self._lock:
                    self._authenticated -= 1
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _serve_client(self, tls: ssl.SSLSocket, address: Any) -> None:
        peer_addr = _addr(address)
        with self._lock:
            self._conns.add(tls)
        try:
            peer = self._peer(tls, address)
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

    def _peer(self, tls: ssl.SSLSocket, address: Any) -> Peer:
        peer_addr = _addr(address)
        identity, names = peer_names(tls.getpeercert() or {})
        if self._allow and not names & self._allow:
            peer = Peer(peer_addr, identity, names, f"client {identity!r} is not in --allow")
            self._refuse(address, peer.refusal or "", client=identity)
        else:
            peer = Peer(peer_addr, identity, names)
            self.reporter.event(
                "receiver.accepted",
                peer=peer_addr,
                client=identity,
                tls=tls.version(),
                cipher=(tls.cipher() or ("?",))[0],
            )
        return peer


class _Server(socketserver.TCPServer):
    """Accepts connections and hands each to its own thread (handshake included)."""

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, socketserver.BaseRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        r = self.receiver
        entry = r._admit(request, client_address)
        if entry is None:
            with contextlib.suppress(OSError):
                request.close()  # refused before any handshake: nothing more to do
            return
        t = threading.Thread(target=r._connection, args=(entry, client_address), daemon=True)
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
