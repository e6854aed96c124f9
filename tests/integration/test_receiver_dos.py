"""The receiver under load from clients without a certificate, and strict request parsing.

A real `dbseal serve` on loopback. Attackers connect from other loopback addresses
(127.0.0.2 and up; all of 127.0.0.0/8 is loopback on Linux), the legitimate mutual-TLS
client from 127.0.0.1, as two hosts would. Everything is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from receiverkit import Pki, Serve, pki, receiver, remote, wait_until

from cli.clikit import run_dbseal
from dbseal.storage import Handle, LocalBackend
from dbseal.storage.remote import client_context

__all__ = ["pki"]  # the shared module-scoped fixture, imported so that pytest finds it

ATTACKERS = tuple(f"127.0.0.{i}" for i in range(2, 12))  # ten "hosts"
CLIENT_HELLO_START = b"\x16\x03\x01"  # record type handshake, TLS 1.0 record version
SUMMARY = re.compile(r"refused (\d+) connections from (\S+) in the last \d+ s")


def connect_from(source: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


@contextlib.contextmanager
def idle_connections(port: int, count: int, payload: bytes) -> Iterator[list[socket.socket]]:
    """``count`` connections spread over the ATTACKERS, each sending ``payload`` then nothing."""
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            with contextlib.suppress(OSError):  # a refused one may be reset at once
                sock = connect_from(ATTACKERS[i % len(ATTACKERS)], port)
                socks.append(sock)
                if payload:
                    sock.sendall(payload)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except OSError:
        return True


def initialized_repo(tmp_path: Path) -> Path:
    """A local repository made by `dbseal init` (so `dbseal list` through the receiver works)."""
    key, repo = tmp_path / "backup.key", tmp_path / "repo"
    recipient = run_dbseal(tmp_path, "keygen", "-o", key).stdout.decode().strip()
    assert run_dbseal(tmp_path, "init", repo, "-r", recipient).rc == 0
    return repo


def legitimate_client_works(pki: Pki, serve: Serve, tmp_path: Path, tag: str) -> None:
    """A mutual-TLS client from 127.0.0.1 stores and reads objects, `dbseal list` completes."""
    b = remote(serve.port, pki.files("alice"))
    try:
        b.prepare()
        for i in range(3):
            b.put(Handle("data", f"{tag}-{i}.dbseal"), b"sealed")
            assert b.get(Handle("data", f"{tag}-{i}.dbseal")) == b"sealed"
    finally:
        b.close()
    res = run_dbseal(tmp_path, "list", "--repo", serve.url(), *pki.args("bob"), timeout=60)
    assert res.rc == 0, res.stderr


@pytest.mark.parametrize("payload", [b"", CLIENT_HELLO_START], ids=["idle", "slow-handshake"])
def test_silent_connections_do_not_lock_out_a_client(
    pki: Pki, tmp_path: Path, payload: bytes
) -> None:
    """70 connections that never finish a handshake (more than every limit) cost no slot."""
    with Serve(pki, initialized_repo(tmp_path)) as serve:
        with idle_connections(serve.port, 70, payload) as socks:
            assert len(socks) >= 60
            legitimate_client_works(pki, serve, tmp_path, "during")
            # Every one of them is closed by the receiver: at once or after the handshake limit.
            wait_until(lambda: all(closed_by_peer(s) for s in socks), "the closes", timeout=30)
        legitimate_client_works(pki, serve, tmp_path, "after")
        wait_until(lambda: any(SUMMARY.search(x) for x in serve.lines), "a summary", timeout=30)
    assert any("no TLS handshake within 10 s" in x for x in serve.lines), serve.lines[-20:]
    assert len(serve.lines) < 100, f"{len(serve.lines)} log lines"


def closed_now(socks: list[socket.socket]) -> list[socket.socket]:
    """The connections the receiver has closed (readable at end of file, or reset)."""
    readable, _, _ = select.select(socks, [], [], 0)
    return [s for s in readable if closed_by_peer(s)]


def test_one_address_gets_a_few_pending_handshakes_only(pki: Pki, tmp_path: Path) -> None:
    """Over the per-address limit (8), new connections are closed at once, not after 10 s."""
    with Serve(pki, initialized_repo(tmp_path)) as serve:
        socks = [connect_from(ATTACKERS[0], serve.port) for _ in range(30)]
        try:
            wait_until(lambda: len(closed_now(socks)) >= 22, "the closes", timeout=5)
            assert len(closed_now(socks)) == 22  # the first 8 are still waiting for a handshake
            legitimate_client_works(pki, serve, tmp_path, "x")
        finally:
            for s in socks:
                s.close()
    assert any("too many pending handshakes from 127.0.0.2" in x for x in serve.lines)


def _flood(port: int, source: str, stop: threading.Event, counts: list[int]) -> None:
    anonymous = ssl.create_default_context()
    anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
    n = 0
    while not stop.is_set():
        with contextlib.suppress(OSError):
            sock = connect_from(source, port)
            if n % 2:  # every other one tries TLS without a certificate
                sock.settimeout(5)
                with contextlib.suppress(OSError), anonymous.wrap_socket(sock) as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\n\r\n")
                    tls.recv(10)
            sock.close()
        n += 1
    counts.append(n)


def test_a_reconnect_flood_keeps_the_log_short_and_the_client_working(
    pki: Pki, tmp_path: Path
) -> None:
    with Serve(pki, initialized_repo(tmp_path)) as serve:
        stop, counts = threading.Event(), list[int]()
        floods = [
            threading.Thread(target=_flood, args=(serve.port, src, stop, counts))
            for src in ATTACKERS[:2]
        ]
        for t in floods:
            t.start()
        try:
            time.sleep(1)
            legitimate_client_works(pki, serve, tmp_path, "flood")
            time.sleep(2)
        finally:
            stop.set()
            for t in floods:
                t.join(30)
        refused = sum(counts)
        assert refused > 300, f"the flood made only {refused} connections"
        wait_until(lambda: any(SUMMARY.search(x) for x in serve.lines), "a summary", timeout=30)
        summaries = [m for x in serve.lines if (m := SUMMARY.search(x))]
        assert {m.group(2) for m in summaries} <= set(ATTACKERS[:2]), summaries
        # The summaries account for every refused connection; the log does not grow with them.
        assert sum(int(m.group(1)) for m in summaries) > refused // 2
    assert len(serve.lines) < 200, f"{len(serve.lines)} log lines for {refused} connections"


# -- strict requests ----------------------------------------------------------------------


def _exchange(port: int, pki: Pki, request: bytes, *, whole: bool = True) -> tuple[int, bytes]:
    """Send ``request`` as alice over mutual TLS; the status and the answer (``whole``: to EOF)."""
    ctx = client_context(pki.files("alice"))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request)
        answer = b""
        with contextlib.suppress(OSError):
            while (whole or b"\r\n\r\n" not in answer) and (more := tls.recv(65536)):
                answer += more
    head = answer.split(b"\r\n", 1)[0].split()
    assert head, f"no answer to {request[:80]!r}"
    return int(head[1]), answer


_BODY = b"5\r\nhello\r\n0\r\nDbseal-Commit: 5\r\n\r\n"


def _put(length: str | None, *, te: str | None = "chunked", extra: str = "") -> bytes:
    head = "PUT /v1/o/data/x.dbseal HTTP/1.1\r\nHost: r\r\nExpect: 100-continue\r\n"
    if te is not None:
        head += f"Transfer-Encoding: {te}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + extra + "\r\n").encode() + _BODY


BAD_UPLOADS = {
    "negative": _put("-1"),
    "plus sign": _put("+5"),
    "inner space": _put("5 5"),
    "trailing space": _put("5 "),
    "exponent": _put("1e3"),
    "hex": _put("0x5"),
    "huge": _put("9" * 40),
    "duplicates that differ": _put("5", extra="Content-Length: 6\r\n"),
    "length and chunked": _put("5"),
    "length without chunked": _put("5", te=None),
    "unknown coding": _put(None, te="gzip, chunked"),
}


@pytest.mark.parametrize("request_bytes", BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_bad_framing_of_an_upload_is_400_and_stores_nothing(
    pki: Pki, tmp_path: Path, request_bytes: bytes
) -> None:
    repo = tmp_path / "repo"
    with receiver(pki, repo) as (r, events):
        remote(r.address[1], pki.files("alice")).prepare()
        status, answer = _exchange(r.address[1], pki, request_bytes)
        assert status == 400, answer
        assert LocalBackend(str(repo)).list("data") == []
        assert events.of("receiver.stored") == []
        # A good upload on a fresh connection still lands.
        good = _exchange(r.address[1], pki, _put(None), whole=False)
        assert good[0] in (100, 201), good


BAD_REQUESTS = {
    "negative length": (b"GET /v1/list/data HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    "exponent length": (b"GET /v1/list/data HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400),
    "huge length": (b"GET /v1/list/data HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 400),
    "unknown method": (b"PATCH /v1/o/data/x HTTP/1.1\r\n\r\n", 405),
    "dot dot": (b"GET /v1/o/data/a/../b HTTP/1.1\r\n\r\n", 400),
    "encoded dot dot": (b"GET /v1/o/data/%2e%2e/config HTTP/1.1\r\n\r\n", 400),
    "unknown kind": (b"GET /v1/list/etc HTTP/1.1\r\n\r\n", 400),
    "long request line": (b"GET /v1/list/data?prefix=" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    "many headers": (b"GET /v1/list/data HTTP/1.1\r\n" + b"X-A: b\r\n" * 80 + b"\r\n", 431),
    "long header": (b"GET /v1/list/data HTTP/1.1\r\nX-A: " + b"b" * 9000 + b"\r\n\r\n", 431),
}


@pytest.mark.parametrize("request_bytes,expected", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_get_a_clear_4xx(
    pki: Pki, tmp_path: Path, request_bytes: bytes, expected: int
) -> None:
    with receiver(pki, tmp_path / "repo") as (r, _events):
        status, answer = _exchange(r.address[1], pki, request_bytes)
        assert status == expected, answer
        assert b'"message": "bad request: ' in answer, answer  # says what was wrong


def test_an_authenticated_client_trickling_a_request_head_is_cut(pki: Pki, tmp_path: Path) -> None:
    """--idle-timeout bounds the wait for a whole request head, not each read of it."""
    with receiver(pki, tmp_path / "repo", idle_timeout=1.0) as (r, _events):
        ctx = client_context(pki.files("alice"))
        with (
            socket.create_connection(("127.0.0.1", r.address[1]), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            head = b"GET /v1/list/data HTTP/1.1\r\nX-Slow: " + b"a" * 1000
            cut, deadline = False, time.monotonic() + 10
            try:
                for i in range(len(head)):
                    if time.monotonic() > deadline or select.select([tls], [], [], 0)[0]:
                        cut = True  # answered (400) or closed by the receiver
                        break
                    tls.sendall(head[i : i + 1])  # one byte every 50 ms: never idle 1 s
                    time.sleep(0.05)
            except OSError:
                cut = True
            assert cut and time.monotonic() < deadline, "the slow head was not cut"


@pytest.mark.parametrize(
    "option", ["--max-handshakes=0", "--max-handshakes-per-address=0", "--handshake-timeout=0"]
)
def test_limits_must_be_positive(pki: Pki, tmp_path: Path, option: str) -> None:
    serve = ["serve", "--listen", "127.0.0.1:0", "--repo", str(tmp_path / "r"), *pki.serve_args()]
    res = run_dbseal(tmp_path, *serve, option)
    assert res.rc == 2 and option.split("=")[0] in res.stderr, res.stderr
