"""A repository behind a `dbseal serve` receiver: ``dbseal+tls://host:port``.

Every ``Backend`` method is one request of the protocol in
:mod:`dbseal.server.wire` (HTTP/1.1 over mutual TLS 1.3). The client proves
who it is with ``--tls-cert``/``--tls-key`` and checks the receiver's
certificate against ``--tls-ca`` and the host name. Uploads and downloads
stream in chunks of at most 1 MiB; nothing is buffered whole. An upload
becomes visible only after its explicit commit marker reached the receiver
and the receiver's own backend made the object durable; an exception in the
``writer()`` block sends an abort and waits until the receiver has thrown the
partial object away.

Idle connections are kept for reuse (one per concurrent caller, up to
``pool_size``). A request that fails on a reused connection before any
answer arrived is sent once more on a fresh one (the receiver had closed it
for idleness). Transient failures are StorageUnavailable (exit 45) and are
retried by the shared :class:`~dbseal.storage.retry.Retrier`: requests
through :class:`~dbseal.storage.retry.RetryingBackend`, and a download that
breaks resumes from the byte it reached (a new ranged GET). A streaming
upload goes in parts of at most 3 MiB (:mod:`dbseal.storage.remote_parts`),
each retried; the object appears only at the commit.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import ssl
from collections.abc import Iterator
from http.client import HTTPMessage
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

from dbseal.crypto.secret import check_private_file
from dbseal.errors import StorageError, UsageError
from dbseal.server import wire
from dbseal.storage import TlsClientFiles
from dbseal.storage.backend import KINDS, Handle, ObjectInfo
from dbseal.storage.remote_io import Conn, Download, Pool, Upload
from dbseal.storage.remote_parts import NotSupported, PartUpload
from dbseal.storage.retry import Retrier

_BUFFER = 256 << 10
_TLS_HINT = (
    "pass --tls-ca (the CA that signed the receiver's certificate) and --tls-cert/--tls-key "
    "(this client's certificate and key, e.g. from `dbseal tls issue --client NAME`)"
)


def client_context(files: TlsClientFiles) -> ssl.SSLContext:
    """TLS 1.3 only, the receiver checked against ``files.ca``, this client's certificate offered."""
    given = (("--tls-ca", files.ca), ("--tls-cert", files.cert), ("--tls-key", files.key))
    missing = [opt for opt, value in given if not value]
    if missing:
        raise UsageError(
            f"a dbseal+tls:// repository needs {', '.join(missing)}"
            " (mutual TLS: the receiver accepts no client without a certificate)",
            hint=_TLS_HINT,
        )
    assert files.ca and files.cert and files.key
    check_private_file(files.key, "--tls-key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    try:
        ctx.load_verify_locations(cafile=files.ca)
        ctx.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot load the TLS files: {getattr(exc, 'strerror', None) or exc}"
            f" (--tls-ca {files.ca}, --tls-cert {files.cert}, --tls-key {files.key})",
            hint=_TLS_HINT,
        ) from None
    return ctx


class RemoteBackend:
    """The ``Backend`` of a `dbseal serve` receiver (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        retrier: Retrier | None = None,
        pool_size: int = 8,
    ) -> None:
        self.retrier = retrier or Retrier()
        policy = self.retrier.policy
        self._pool = Pool(
            host, port, context, policy.read_timeout_s, pool_size, policy.connect_timeout_s
        )
        self.location = self._pool.location

    @classmethod
    def from_url(
        cls, location: str, tls: TlsClientFiles, retrier: Retrier | None = None
    ) -> RemoteBackend:
        url = urlsplit(location)
        try:
            port = url.port
        except ValueError:
            port = None
        if not url.hostname or port is None or url.path not in ("", "/") or url.query:
            raise UsageError(
                f"{location!r} is not a receiver address",
                hint="write dbseal+tls://HOST:PORT (the --listen address of `dbseal serve`)",
            )
        return cls(url.hostname, port, client_context(tls), retrier=retrier)

    # -- Backend ------------------------------------------------------------------------------

    def stat(self, handle: Handle) -> ObjectInfo | None:
        status, headers, _ = self._call("HEAD", wire.object_path(handle), what=_obj(handle))
        if status == 404:
            return None
        if status != 200:
            error = headers.get("Dbseal-Error", "").encode()
            raise wire.error_from(status, error, self._pool.netloc)
        return ObjectInfo(handle, int(headers[wire.SIZE]), float(headers[wire.MTIME]))

    def get(self, handle: Handle) -> bytes:
        with self.open(handle) as fh:
            return fh.read()

    @contextlib.contextmanager
    def open(self, handle: Handle, start: int = 0, length: int | None = None) -> Iterator[BinaryIO]:
        if start < 0 or (length is not None and length < 0):
            raise ValueError("start and length must not be negative")

        def request(offset: int) -> Conn:
            left = None if length is None else length - offset
            query = f"?start={start + offset}" + (f"&length={left}" if left is not None else "")
            conn, status, headers = self._pool.exchange("GET", wire.object_path(handle) + query)
            if status != 200:
                raise self._pool.failure(conn, status, headers, _obj(handle))
            return conn

        body = Download(request(0), self._pool, _obj(handle), request, self.retrier)
        try:
            yield io.BufferedReader(body, _BUFFER)
        finally:
            body.finish()

    @contextlib.contextmanager
    def writer(self, handle: Handle, *, overwrite: bool = False) -> Iterator[BinaryIO]:
        """Uploads in parts, each retried (a receiver without them: one streaming PUT)."""
        try:
            parts = PartUpload(self._pool, self.retrier, handle, _obj(handle), overwrite)
        except NotSupported:
            with self._stream(handle, overwrite) as fh:
                yield fh
            return
        with _ended(parts) as fh:
            yield fh

    @contextlib.contextmanager
    def _stream(self, handle: Handle, overwrite: bool) -> Iterator[BinaryIO]:
        """The whole object in one chunked PUT (not resumable: a cut fails the upload)."""
        target = wire.object_path(handle) + ("?overwrite=1" if overwrite else "")
        headers = {
            "Transfer-Encoding": "chunked",
            "Expect": "100-continue",
            "Trailer": wire.COMMIT,
            "Content-Type": "application/octet-stream",
        }
        conn, status, answer = self._pool.exchange("PUT", target, headers)
        if status != 100:
            conn.keep = False  # the receiver answered instead of waiting for the body
            raise self._pool.failure(conn, status, answer, _obj(handle))
        with _ended(Upload(conn, self._pool, _obj(handle))) as fh:
            yield fh

    def put(self, handle: Handle, data: bytes, *, overwrite: bool = False) -> None:
        """One request (RetryingBackend retries the whole put: the bytes are in memory)."""
        with self._stream(handle, overwrite) as fh:
            fh.write(data)

    def list(self, kind: str, prefix: str = "") -> builtins.list[str]:
        if kind not in KINDS:
            raise ValueError(f"unknown object kind {kind!r}")
        query = f"?prefix={quote(prefix, safe='')}" if prefix else ""
        doc = self._json("GET", f"{wire.PREFIX}/list/{kind}{query}", f"{kind} objects")
        return sorted(str(n) for n in doc["names"])

    def remove(self, handle: Handle) -> None:
        self._expect("DELETE", wire.object_path(handle), _obj(handle), 204)

    def prepare(self) -> None:
        self._expect("POST", f"{wire.PREFIX}/prepare", "prepare", 204)

    def leftovers(self) -> builtins.list[str]:
        doc = self._json("GET", f"{wire.PREFIX}/leftovers", "leftovers")
        return [str(x) for x in doc["leftovers"]]

    def clean_leftovers(self, min_age_s: float = 3600.0) -> int:
        target = f"{wire.PREFIX}/clean-leftovers?min_age_s={float(min_age_s)}"
        return int(self._json("POST", target, "leftovers")["removed"])

    def close(self) -> None:
        """Close the idle connections (the backend can still be used afterwards)."""
        self._pool.close()

    # -- requests without a body ------------------------------------------------------------

    def _json(self, method: str, target: str, what: str) -> Any:
        status, _headers, body = self._call(method, target, what=what)
        if status != 200:
            raise wire.error_from(status, body, self._pool.netloc)
        try:
            return json.loads(body)
        except ValueError:
            raise StorageError(
                f"receiver {self._pool.netloc}: unreadable answer to {what}"
            ) from None

    def _expect(self, method: str, target: str, what: str, ok: int) -> None:
        status, _headers, body = self._call(method, target, what=what)
        if status != ok:
            raise wire.error_from(status, body, self._pool.netloc)

    def _call(self, method: str, target: str, *, what: str) -> tuple[int, HTTPMessage, bytes]:
        """The whole (small) answer to a request without a body."""
        headers = {"Content-Length": "0"} if method in ("POST", "DELETE") else {}
        return self._pool.call(method, target, headers)


@contextlib.contextmanager
def _ended(upload: Upload | PartUpload) -> Iterator[BinaryIO]:
    """A buffered file over ``upload``: committed when the block ends, else aborted."""
    out = io.BufferedWriter(upload, _BUFFER)
    try:
        yield out
        out.flush()
        upload.commit()
    except BaseException:
        upload.abort()
        raise


def _obj(handle: Handle) -> str:
    return f"{handle.kind} {handle.name!r}"
