"""One conformance suite that every storage backend runs.

``local``: a directory; ``remote``: a `dbseal serve` receiver over mutual TLS;
``s3``: a fresh bucket in moto's S3 server on loopback (tests/conftest.py),
through S3Backend exactly as an ``s3://`` URL configures it.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbseal.errors import ObjectExists, ObjectNotFound, OutputError
from dbseal.storage import Backend, Handle, LocalBackend
from dbseal.storage.s3 import S3Backend


@pytest.fixture(params=["local", "remote", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "remote":  # see "remote" below
        yield from _remote_backend(request, tmp_path)
        return
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        s3_backend = S3Backend.from_url(s3.url(s3.bucket(), "conformance/repo"))
        s3_backend.prepare()
        yield s3_backend
        return
    b = LocalBackend(str(tmp_path / "repo"))
    b.create_layout()
    yield b


# -- remote: RemoteBackend talking to a `dbseal serve` receiver (in-process, 127.0.0.1, a free
# -- port, mutual TLS 1.3) that keeps a temporary local repository --------------------------


@pytest.fixture(scope="session")
def _receiver_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dbseal.crypto import pki

    ca = tmp_path_factory.mktemp("receiver-pki")
    pki.init_ca(ca)
    pki.issue(ca, "localhost", "server", ips=["127.0.0.1"])
    pki.issue(ca, "conformance", "client")
    return ca


def _remote_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from dbseal.server.receiver import Receiver, ReceiverConfig
    from dbseal.storage import TlsClientFiles
    from dbseal.storage.remote import RemoteBackend

    ca: Path = request.getfixturevalue("_receiver_pki")
    behind = LocalBackend(str(tmp_path / "repo"))
    config = ReceiverConfig(
        "127.0.0.1",
        0,
        behind.location,
        str(ca / "localhost-cert.pem"),
        str(ca / "localhost-key.pem"),
        str(ca / "ca-cert.pem"),
    )
    with Receiver(config, backend=behind).start() as receiver:
        files = TlsClientFiles(
            str(ca / "ca-cert.pem"),
            str(ca / "conformance-cert.pem"),
            str(ca / "conformance-key.pem"),
        )
        b = RemoteBackend.from_url(f"dbseal+tls://127.0.0.1:{receiver.address[1]}", files)
        b.prepare()
        b.root = behind.root  # type: ignore[attr-defined]  # where test_objects_are_private looks
        yield b
        b.close()


def test_put_get_stat_list_remove(backend: Backend) -> None:
    h = Handle("manifest", "a.json")
    assert backend.stat(h) is None
    backend.put(h, b"hello")
    assert backend.get(h) == b"hello"
    info = backend.stat(h)
    assert info is not None and info.size == 5
    assert backend.list("manifest") == ["a.json"]
    backend.remove(h)
    assert backend.list("manifest") == []
    backend.remove(h)  # removing a missing object is not an error


def test_missing_object_raises_not_found(backend: Backend) -> None:
    with pytest.raises(ObjectNotFound):
        backend.get(Handle("data", "nope.dbseal"))


def test_no_overwrite_unless_asked(backend: Backend) -> None:
    h = Handle("manifest", "x.json")
    backend.put(h, b"first")
    with pytest.raises(ObjectExists):
        backend.put(h, b"second")
    assert backend.get(h) == b"first"
    backend.put(h, b"third", overwrite=True)
    assert backend.get(h) == b"third"


def test_failed_stream_leaves_nothing(backend: Backend) -> None:
    h = Handle("data", "big.dbseal")
    with pytest.raises(RuntimeError), backend.writer(h) as fh:
        fh.write(b"x" * 100_000)
        raise RuntimeError("upload died")
    assert backend.stat(h) is None
    assert backend.list("data") == []
    assert backend.leftovers() == []


def test_stream_of_unknown_length_and_range_reads(backend: Backend) -> None:
    h = Handle("data", "s.dbseal")
    payload = os.urandom(3 << 20)
    with backend.writer(h) as fh:
        for i in range(0, len(payload), 65536):
            fh.write(payload[i : i + 65536])
    with backend.open(h) as fh:
        assert fh.read() == payload
    with backend.open(h, start=1000, length=5000) as fh:
        assert fh.read() == payload[1000:6000]


def test_objects_are_private(backend: Backend) -> None:
    backend.put(Handle("envelope", "e.env"), b"k")
    if isinstance(backend, S3Backend):  # no ACL grant beyond the bucket owner's
        key = backend.key(Handle("envelope", "e.env"))
        acl = backend.client.get_object_acl(Bucket=backend.bucket, Key=key)
        assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
        assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
        return
    st = os.stat(os.path.join(backend.root, "envelopes", "e.env"))
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(backend.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(backend.root, "envelopes")).st_mode) == 0o700


def test_concurrent_writers_of_distinct_objects_all_land(backend: Backend) -> None:
    def work(i: int) -> None:
        with backend.writer(Handle("data", f"{i:03d}.dbseal")) as fh:
            fh.write(os.urandom(200_000))
        backend.put(Handle("manifest", f"{i:03d}.json"), str(i).encode())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.list("manifest") == [f"{i:03d}.json" for i in range(16)]
    assert [backend.get(Handle("manifest", f"{i:03d}.json")) for i in range(16)] == [
        str(i).encode() for i in range(16)
    ]


def test_unwritable_location_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    b = LocalBackend(str(tmp_path / "file" / "repo"))
    with pytest.raises(OutputError):
        b.put(Handle("manifest", "a.json"), b"x")


def test_invalid_names_are_refused() -> None:
    for bad in ("../x", "a\n", "", "/abs", "a/../../b"):
        with pytest.raises(ValueError):
            Handle("data", bad)


def test_clean_leftovers_keeps_young_incomplete_writes(tmp_path: Path) -> None:
    """A temporary object of a write that may still be running is not removed."""
    b = LocalBackend(str(tmp_path / "repo"))
    b.prepare()
    tmp = tmp_path / "repo" / "data" / ".x.dbseal.abc.dbseal-tmp"
    tmp.write_bytes(b"in progress")
    assert b.clean_leftovers() == 0 and tmp.exists()
    os.utime(tmp, (0, 0))
    assert b.clean_leftovers() == 1 and not tmp.exists()


def test_in_flight_announcements(backend: Backend) -> None:
    """A running backup's announcement: created, refreshed (overwritten), withdrawn."""
    import time

    from dbseal.catalog.inflight import Announcement, InFlight, inflight_handle, users_of

    ref = ("ab" * 16, "backup", 3)
    keys = [{"keyring_id": ref[0], "key": ref[1], "version": ref[2]}]
    bid = "20260101T000000Z-0000cafe"
    with InFlight(backend, bid, keys, refresh_s=0.05) as running:
        assert [a.backup_id for a in users_of(backend, ref)] == [bid]
        deadline = time.monotonic() + 30
        while True:
            doc = Announcement.decode(backend.get(inflight_handle(bid)))
            if doc is not None and doc.refreshed != running.ann.started:
                break
            assert time.monotonic() < deadline, "never refreshed"
            time.sleep(0.05)
    assert backend.list("inflight") == [] and users_of(backend, ref) == []
