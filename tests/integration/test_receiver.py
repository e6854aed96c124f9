"""The backup receiver (`dbseal serve`) and its client (``dbseal+tls://``), on loopback.

Who gets in (mutual TLS 1.3 only: another CA, an expired certificate, plain TCP, TLS 1.2,
no certificate, a name not in --allow), uploads that never complete (client killed,
connection cut, receiver SIGKILLed) leaving nothing visible, append-only, concurrent
clients, bounded memory, and a whole init/backup/list/verify/restore through a receiver.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from receiverkit import Pki, Serve, pki, receiver, remote, wait_until

from cli.clikit import clean_env, run_dbseal
from conftest import DbsealUser, fetch, run_sql, tmp_files
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import (
    DbsealError,
    ObjectExists,
    ReceiverRefused,
    ReceiverTLSError,
    StorageError,
)
from dbseal.server import wire
from dbseal.storage import Handle, LocalBackend
from dbseal.storage.remote import RemoteBackend, client_context
from dbseal.storage.retry import Retrier, RetryPolicy

__all__ = ["pki"]  # the shared module-scoped fixture, imported so that pytest finds it


def local_files(repo: Path) -> tuple[list[str], list[Path]]:
    """(visible data objects, temporary files) in a receiver's local repository."""
    return LocalBackend(str(repo)).list("data"), tmp_files(repo)


# -- who gets in ------------------------------------------------------------------------------


def test_a_client_certificate_from_another_ca_is_refused(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo") as (r, events):
        rogue = remote(r.address[1], pki.files("alice", ca_dir=pki.rogue))
        with pytest.raises(ReceiverTLSError):
            rogue.list("manifest")
        refused = events.wait_for("receiver.refused")
        assert refused["reason"].startswith("client certificate rejected: unable to get"), refused
        assert events.of("receiver.accepted") == []


def test_an_expired_client_certificate_is_refused(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo") as (r, events):
        res = run_dbseal(
            tmp_path,
            "list",
            "--repo",
            f"dbseal+tls://127.0.0.1:{r.address[1]}",
            *pki.args("expired"),
        )
        line = res.assert_error(51)
        assert "refused this client's certificate" in line, line
        refused = events.wait_for("receiver.refused")
        assert refused["reason"] == "client certificate rejected: certificate has expired"
        assert events.of("receiver.accepted") == []


def test_anything_but_tls13_with_a_client_certificate_is_refused(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo") as (r, events):
        with socket.create_connection(r.address, timeout=5) as plain:
            plain.sendall(b"GET /v1/list/manifest HTTP/1.1\r\nHost: x\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                assert not plain.recv(100).startswith(b"HTTP/")
        assert events.wait_for("receiver.refused")["reason"].startswith("not a TLS client")

        good = client_context(pki.files("alice"))
        good.minimum_version = ssl.TLSVersion.TLSv1_2
        good.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(OSError), socket.create_connection(r.address, timeout=5) as raw:
            good.wrap_socket(raw, server_hostname="127.0.0.1")
        wait_until(lambda: len(events.of("receiver.refused")) == 2, "the TLS 1.2 refusal")
        assert events.of("receiver.refused")[1]["reason"] == "the client does not speak TLS 1.3"

        anonymous = ssl.create_default_context(cafile=str(pki.ca / "ca-cert.pem"))
        with socket.create_connection(r.address, timeout=5) as raw:
            tls = anonymous.wrap_socket(raw, server_hostname="127.0.0.1")
            with contextlib.suppress(OSError):
                tls.sendall(b"GET /v1/list/manifest HTTP/1.1\r\nHost: x\r\n\r\n")
            try:  # TLS 1.3: the refusal arrives after the handshake, as an alert
                answer = tls.recv(100)
            except OSError:
                answer = b""
            assert answer == b""
        wait_until(lambda: len(events.of("receiver.refused")) == 3, "the no-certificate refusal")
        assert events.of("receiver.refused")[2]["reason"] == "no client certificate"
        assert events.of("receiver.accepted") == []


def test_a_client_not_in_allow_is_refused(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo", allow=("alice",)) as (r, events):
        bob = remote(r.address[1], pki.files("bob"))
        with pytest.raises(ReceiverRefused, match="'bob' is not in --allow"):
            bob.put(Handle("manifest", "m.json"), b"{}")
        refused = events.wait_for("receiver.refused")
        assert refused["client"] == "bob" and refused["reason"] == "client 'bob' is not in --allow"
        alice = remote(r.address[1], pki.files("alice"))
        alice.prepare()
        alice.put(Handle("manifest", "m.json"), b"{}")
        assert [a["client"] for a in events.of("receiver.accepted")] == ["alice"]
        assert LocalBackend(str(tmp_path / "repo")).list("manifest") == ["m.json"]


def test_missing_tls_options_are_a_usage_error(tmp_path: Path) -> None:
    res = run_dbseal(tmp_path, "list", "--repo", "dbseal+tls://127.0.0.1:9")
    line = res.assert_error(2)
    assert "needs --tls-ca, --tls-cert, --tls-key" in line, line


# -- uploads that do not complete leave nothing --------------------------------------------

_KILLED_CLIENT = """
import sys, time
from dbseal.storage import Handle, TlsClientFiles
from dbseal.storage.remote import RemoteBackend
backend = RemoteBackend.from_url(sys.argv[1], TlsClientFiles(*sys.argv[2:5]))
with backend.writer(Handle("data", "killed.dbseal")) as fh:
    while True:
        fh.write(b"x" * 65536)
        fh.flush()
        time.sleep(0.005)
"""


def test_a_client_killed_mid_upload_leaves_nothing(pki: Pki, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    # an upload in parts waits resume_timeout for its client to come back, then goes
    with receiver(pki, repo, resume_timeout=1.0) as (r, events):
        f = pki.files("alice")
        client = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _KILLED_CLIENT,
                f"dbseal+tls://127.0.0.1:{r.address[1]}",
                str(f.ca),
                str(f.cert),
                str(f.key),
            ],
            env=clean_env(),
        )
        try:
            wait_until(
                lambda: any(p.stat().st_size > 1 << 20 for p in tmp_files(repo)), "the upload"
            )
        finally:
            client.kill()
            client.wait()
        aborted = events.wait_for("receiver.aborted")
        assert aborted["object"] == "data/killed.dbseal" and "after" in aborted["reason"]
        assert local_files(repo) == ([], [])
        assert events.of("receiver.stored") == []


def test_a_cut_or_uncommitted_body_stores_nothing(pki: Pki, tmp_path: Path) -> None:
    """Framing level: a connection cut inside a chunk, and a clean end without the commit marker."""
    repo = tmp_path / "repo"
    with receiver(pki, repo) as (r, events):
        ctx = client_context(pki.files("alice"))

        def start_upload(name: str) -> ssl.SSLSocket:
            tls = ctx.wrap_socket(
                socket.create_connection(r.address, timeout=5), server_hostname="127.0.0.1"
            )
            tls.sendall(
                f"PUT /v1/o/data/{name} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            assert tls.recv(100).startswith(b"HTTP/1.1 100 ")
            tls.sendall(wire.chunk(b"y" * 500_000))
            return tls

        cut = start_upload("cut.dbseal")
        cut.sendall(b"100000\r\n" + b"z" * 1000)  # promises 1 MiB, sends 1000 bytes
        wait_until(lambda: tmp_files(repo), "the temporary file")
        cut.close()
        assert "in the middle of a chunk" in events.wait_for("receiver.aborted")["reason"]

        uncommitted = start_upload("uncommitted.dbseal")
        uncommitted.sendall(wire.end_chunks({}))  # a well-formed end, but no Dbseal-Commit
        answer = uncommitted.recv(4096)
        uncommitted.close()
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b"without a commit marker" in answer
        assert local_files(repo) == ([], [])


def test_the_receiver_killed_mid_upload_leaves_no_visible_object(pki: Pki, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    errors: list[BaseException] = []
    with Serve(pki, repo) as serve:
        url = f"dbseal+tls://127.0.0.1:{serve.port}"  # a short retry budget: the receiver is gone
        backend = RemoteBackend.from_url(url, pki.files("alice"), Retrier(RetryPolicy(budget_s=2)))
        backend.prepare()

        def stream() -> None:
            try:
                with backend.writer(Handle("data", "cut.dbseal")) as fh:
                    while True:
                        fh.write(os.urandom(65536))
                        fh.flush()
                        time.sleep(0.002)
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=stream)
        t.start()
        wait_until(lambda: any(p.stat().st_size > 1 << 20 for p in tmp_files(repo)), "upload")
        assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
        t.join(30)
        assert not t.is_alive()
        (err,) = errors
        assert isinstance(err, StorageError), err
    assert local_files(repo)[0] == []
    with Serve(pki, repo) as again:
        backend = remote(again.port, pki.files("alice"))
        assert backend.list("data") == []
        assert backend.stat(Handle("data", "cut.dbseal")) is None
        # A killed receiver cannot clean up: the temporary file is a leftover for `repo check`.
        (left,) = backend.leftovers()
        assert left.endswith(".dbseal-tmp")
        assert backend.clean_leftovers(0) == 1
        assert backend.leftovers() == [] and backend.list("data") == []


# -- append-only ------------------------------------------------------------------------------


def test_append_only_refuses_delete_and_overwrite(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo", append_only=True) as (r, events):
        b = remote(r.address[1], pki.files("alice"))
        b.prepare()
        m = Handle("manifest", "m.json")
        b.put(m, b"first")
        with pytest.raises(ObjectExists):
            b.put(m, b"second")
        with pytest.raises(ReceiverRefused, match="append-only"):
            b.put(m, b"third", overwrite=True)
        with pytest.raises(ReceiverRefused, match="append-only"):
            b.remove(m)
        assert b.get(m) == b"first"
        with (
            pytest.raises(ReceiverRefused, match="append-only"),
            b.writer(Handle("envelope", "new.env"), overwrite=True) as fh,
        ):
            fh.write(b"never sent")
        assert b.list("envelope") == []
        with pytest.raises(ReceiverRefused):
            b.clean_leftovers()
        # Verification records are new objects: fine.
        b.put(Handle("verification", "bid/20260101T000000Z.json"), b"{}")
        assert b.list("verification", prefix="bid/") == ["bid/20260101T000000Z.json"]
        denied = [(d["op"], d["object"]) for d in events.of("receiver.denied")]
        assert denied == [
            ("overwrite", "manifest/m.json"),
            ("remove", "manifest/m.json"),
            ("overwrite", "envelope/new.env"),
            ("clean-leftovers", "-"),
        ]


def test_append_only_lets_a_backup_refresh_and_withdraw_its_announcement(
    pki: Pki, tmp_path: Path
) -> None:
    """In-flight announcements are the one kind an append-only receiver lets clients change."""
    from dbseal.catalog.inflight import Announcement, InFlight, inflight_handle, live_announcements

    with receiver(pki, tmp_path / "repo", append_only=True) as (r, events):
        b = remote(r.address[1], pki.files("alice"))
        b.prepare()
        bid = "20260101T000000Z-0000beef"
        with InFlight(b, bid, [], refresh_s=0.05) as running:
            assert [a.backup_id for a in live_announcements(b)] == [bid]

            def refreshed() -> bool:
                doc = Announcement.decode(b.get(inflight_handle(bid)))
                return doc is not None and doc.refreshed != running.ann.started

            wait_until(refreshed, "a refreshed announcement")
        assert b.list("inflight") == []
        assert events.of("receiver.denied") == []


# -- several clients, big objects --------------------------------------------------------------


def test_four_concurrent_clients_all_land(pki: Pki, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    names = [f"client-{i}" for i in range(4)]
    allow = [a for n in names for a in ("--allow", n)]
    payloads = {n: os.urandom(3 << 20) for n in names}
    errors: list[BaseException] = []
    with Serve(pki, repo, *allow) as serve:
        remote(serve.port, pki.files(names[0])).prepare()
        barrier = threading.Barrier(len(names))

        def client(name: str) -> None:
            try:
                b = remote(serve.port, pki.files(name))
                barrier.wait(10)
                data = payloads[name]
                with b.writer(Handle("data", f"{name}.dbseal")) as fh:
                    for i in range(0, len(data), 100_000):
                        fh.write(data[i : i + 100_000])
                b.put(Handle("manifest", f"{name}.json"), name.encode())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        reader = remote(serve.port, pki.files(names[0]))
        assert reader.list("data") == [f"{n}.dbseal" for n in names]
        for n in names:
            assert reader.get(Handle("data", f"{n}.dbseal")) == payloads[n]
            assert reader.get(Handle("manifest", f"{n}.json")) == n.encode()
    accepted = {m.group(1) for x in serve.lines if (m := re.search(r"accepted client '(.+?)'", x))}
    assert accepted == set(names)
    assert local_files(repo)[1] == []


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_large_object_streams_with_bounded_memory(pki: Pki, tmp_path: Path) -> None:
    size, block = 192 << 20, os.urandom(1 << 20)
    with Serve(pki, tmp_path / "repo") as serve:
        b = remote(serve.port, pki.files("alice"))
        b.prepare()
        before = _hwm_kib(serve.proc.pid)
        digest = hashlib.sha256()
        tracemalloc.start()
        with b.writer(Handle("data", "big.dbseal")) as fh:
            for _ in range(size >> 20):
                fh.write(block)
                digest.update(block)
        back, n = hashlib.sha256(), 0
        with b.open(Handle("data", "big.dbseal")) as fh:
            while chunk := fh.read(1 << 20):
                back.update(chunk)
                n += len(chunk)
        client_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert (n, back.hexdigest()) == (size, digest.hexdigest())
        grown = _hwm_kib(serve.proc.pid) - before
        assert grown < 32 << 10, f"the receiver grew by {grown} KiB for a {size >> 20} MiB object"
        assert client_peak < 8 << 20, f"the client allocated up to {client_peak} bytes"


def test_a_receiver_in_front_of_an_s3_repository(pki: Pki, s3: Any) -> None:
    with receiver(pki, s3.url(s3.bucket())) as (r, events):
        b = remote(r.address[1], pki.files("alice"))
        b.prepare()
        payload = os.urandom(12 << 20)  # several multipart parts behind the receiver
        with b.writer(Handle("data", "a.dbseal")) as fh:
            for i in range(0, len(payload), 1 << 16):
                fh.write(payload[i : i + (1 << 16)])
        with pytest.raises(RuntimeError), b.writer(Handle("data", "b.dbseal")) as fh:
            fh.write(os.urandom(12 << 20))
            raise RuntimeError("the dump died")
        assert events.wait_for("receiver.aborted")["object"] == "data/b.dbseal"
        assert b.list("data") == ["a.dbseal"] and b.leftovers() == []
        assert b.get(Handle("data", "a.dbseal")) == payload
        with b.open(Handle("data", "a.dbseal"), 7 << 20, 100) as fh:
            assert fh.read() == payload[7 << 20 : (7 << 20) + 100]


# -- a whole backup through a receiver (MariaDB) -----------------------------------------------


@pytest.mark.mariadb
def test_backup_verify_restore_through_an_append_only_receiver(
    pki: Pki, tmp_path: Path, mariadb: MariaDBSandbox
) -> None:
    user = DbsealUser(tmp_path / "home")
    repo = tmp_path / "receiver-repo"
    db = f"rcv_{os.urandom(4).hex()}"
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    )
    tls = pki.args("alice")
    try:
        with Serve(pki, repo, "--append-only", "--allow", "alice") as serve:
            url = serve.url()
            user.run("init", url, "-r", user.recipient, *tls).ok()
            res = user.run(*user.backup_args(url, mariadb, db), *tls).ok()  # type: ignore[arg-type]
            bid = res.stdout.split()[1]
            listing = user.run("list", "--repo", url, "--json", *tls).ok().json()
            assert [b["id"] for b in listing["backups"]] == [bid]
            user.run(
                "verify", "--repo", url, bid, "--level", "decrypt", "-i", user.identity, *tls
            ).ok()
            restored = f"{db}_r"
            user.restore(url, bid, mariadb, "--rename-db", f"{db}={restored}", *tls).ok()  # type: ignore[arg-type]
            assert fetch(mariadb, f"SELECT id, v FROM `{restored}`.t ORDER BY id") == [
                (1, "one"),
                (2, "two"),
                (3, "three"),
            ]
            # append-only: deleting or rewrapping through the receiver is refused
            user.run("forget", "--repo", url, bid, *tls).error(50)
            other = DbsealUser(tmp_path / "other")
            rewrap = user.run(
                "rewrap", "--repo", url, bid, "--to", other.recipient, "-i", user.identity, *tls
            )
            assert rewrap.rc != 0 and "append-only" in rewrap.stderr, rewrap
        assert any("accepted client 'alice'" in x for x in serve.lines)
        assert any(f"stored data/{bid}.dbseal" in x for x in serve.lines)
        assert any("denied remove" in x for x in serve.lines)
        # On the receiver host, integrity needs no key and no receiver: the repository itself.
        checked = user.run("verify", "--repo", repo, "--level", "integrity", "--all").ok()
        assert re.search(rf"{bid}\s+integrity\s+OK", checked.stdout), checked.stdout
        assert (repo / "data" / f"{bid}.dbseal").exists() and tmp_files(repo) == []
    finally:
        run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`", f"DROP DATABASE IF EXISTS `{db}_r`")


def test_tls_init_and_issue(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    run_dbseal(tmp_path, "tls", "init", "--dir", ca, "--name", "test-ca")
    assert (ca / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    run_dbseal(
        tmp_path, "tls", "issue", "--dir", ca, "--server", "backup.example", "--ip", "10.0.0.5"
    )
    run_dbseal(tmp_path, "tls", "issue", "--dir", ca, "--client", "db1")
    assert (ca / "db1-key.pem").stat().st_mode & 0o777 == 0o600
    from cryptography import x509

    server = x509.load_pem_x509_certificate((ca / "backup.example-cert.pem").read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n) for n in san.get_values_for_type(x509.DNSName)] == ["backup.example"]
    assert [str(n) for n in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    again = run_dbseal(tmp_path, "tls", "init", "--dir", ca)
    assert "already holds a CA" in again.assert_error(2)
    assert "exists" in run_dbseal(
        tmp_path, "tls", "issue", "--dir", ca, "--client", "db1"
    ).assert_error(2)


def test_clients_that_raise_mid_upload_leave_nothing(pki: Pki, tmp_path: Path) -> None:
    """An exception in the writer block aborts the upload; the receiver has cleaned up on return."""
    repo = tmp_path / "repo"
    with receiver(pki, repo) as (r, events):
        b = remote(r.address[1], pki.files("alice"))
        b.prepare()
        with pytest.raises(DbsealError, match="dump failed"), b.writer(Handle("data", "x")) as fh:
            fh.write(b"x" * 3_000_000)
            raise DbsealError("dump failed")
        assert local_files(repo) == ([], [])
        assert events.of("receiver.aborted")[0]["reason"] == "the client aborted"


def test_idle_connections_the_receiver_closed_are_replaced(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo", idle_timeout=0.3) as (r, events):
        b = remote(r.address[1], pki.files("alice"))
        b.prepare()
        b.put(Handle("manifest", "a.json"), b"a")
        time.sleep(0.8)  # the pooled connection is closed by the receiver meanwhile
        assert b.get(Handle("manifest", "a.json")) == b"a"
        b.put(Handle("manifest", "b.json"), b"b")
        assert b.list("manifest") == ["a.json", "b.json"]
        assert len(events.of("receiver.accepted")) >= 2


def test_connections_beyond_the_limit_are_refused(pki: Pki, tmp_path: Path) -> None:
    with receiver(pki, tmp_path / "repo", max_connections=1) as (r, events):
        first = remote(r.address[1], pki.files("alice"))
        first.prepare()  # its connection stays open in the pool
        second = remote(r.address[1], pki.files("bob"))
        with pytest.raises(StorageError, match="closed the connection during the TLS handshake"):
            second.list("data")
        assert "too many connections" in events.wait_for("receiver.refused")["reason"]
        first.close()
        wait_until(lambda: _retry_list(second), "a free slot")


def _retry_list(b: RemoteBackend) -> bool:
    try:
        return b.list("data") == []
    except StorageError:
        return False


@pytest.mark.mariadb
def test_key_lifecycle_through_a_receiver(
    pki: Pki, tmp_path: Path, mariadb: MariaDBSandbox
) -> None:
    """Without --append-only, rewrap and shredding work through the receiver with the same commands."""
    user = DbsealUser(tmp_path / "home")
    repo = tmp_path / "receiver-repo"
    db = f"rcvk_{os.urandom(4).hex()}"
    run_sql(mariadb, f"CREATE DATABASE `{db}`", f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)",
            f"INSERT INTO `{db}`.t VALUES (1), (2)")  # fmt: skip
    tls = pki.args("alice")
    try:
        with Serve(pki, repo) as serve:
            url = serve.url()
            user.run("init", url, "-r", user.recipient, *tls).ok()
            bid = user.run(*user.backup_args(url, mariadb, db), *tls).ok().stdout.split()[1]  # type: ignore[arg-type]
            data = repo / "data" / f"{bid}.dbseal"
            before = (data.read_bytes(), data.stat().st_mtime_ns)
            other = DbsealUser(tmp_path / "other")
            user.run(
                "rewrap", "--repo", url, bid, "--to", other.recipient, "-i", user.identity, *tls
            ).ok()
            assert (data.read_bytes(), data.stat().st_mtime_ns) == before, (
                "rewrap never rewrites data"
            )
            other.run(
                "verify", "--repo", url, bid, "--level", "decrypt", "-i", other.identity, *tls
            ).ok()
            user.run(
                "rewrap", "--repo", url, bid, "--remove", other.recipient, "-i", user.identity, *tls
            ).ok()
            assert (
                other.run(
                    "verify", "--repo", url, bid, "--level", "decrypt", "-i", other.identity, *tls
                ).rc
                == 5
            )
            user.run("forget", "--repo", url, bid, "--shred", *tls).ok()
            assert user.run("list", "--repo", url, "--json", *tls).ok().json()["backups"] == []
            assert not (repo / "envelopes" / f"{bid}.env").exists()
    finally:
        run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`")


@pytest.mark.mariadb
def test_four_concurrent_backups_through_one_receiver(
    pki: Pki, tmp_path: Path, mariadb: MariaDBSandbox
) -> None:
    user = DbsealUser(tmp_path / "home")
    db = f"rcvc_{os.urandom(4).hex()}"
    run_sql(mariadb, f"CREATE DATABASE `{db}`", f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)",
            f"INSERT INTO `{db}`.t VALUES (1), (2)")  # fmt: skip
    tls = pki.args("alice")
    try:
        with Serve(pki, tmp_path / "repo", "--append-only") as serve:
            url = serve.url()
            user.run("init", url, "-r", user.recipient, *tls).ok()
            procs = [user.spawn(*user.backup_args(url, mariadb, db), *tls) for _ in range(4)]  # type: ignore[arg-type]
            outputs = [p.communicate(timeout=120) for p in procs]
            for p, (_, err) in zip(procs, outputs, strict=True):
                assert p.returncode == 0, err.decode()
            ids = sorted(out.decode().split()[1] for out, _ in outputs)
            listing = user.run("list", "--repo", url, "--json", *tls).ok().json()
            assert sorted(b["id"] for b in listing["backups"]) == ids and len(set(ids)) == 4
            for bid in ids:
                user.run(
                    "verify", "--repo", url, bid, "--level", "decrypt", "-i", user.identity, *tls
                ).ok()
    finally:
        run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`")
