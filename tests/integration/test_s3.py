"""S3Backend against a real S3 HTTP API: moto's server on loopback (tests/conftest.py).

The backend conformance suite runs on S3 too (tests/conformance); these are the
S3-specific behaviours: multipart streaming with bounded memory, aborted uploads,
pagination, ranged and resumed reads, server-side encryption and Object Lock
headers, conditional writes, error mapping, and `dbseal` end to end on a bucket.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import DbsealUser, fetch, run_sql
from dbseal.errors import (
    ObjectExists,
    ObjectNotFound,
    SecretError,
    SecretPermissions,
    StorageError,
    StorageUnavailable,
    UsageError,
)
from dbseal.storage import Handle, open_backend
from dbseal.storage.retry import Retrier, RetryingBackend, RetryPolicy
from dbseal.storage.s3 import S3Backend

MIB = 1 << 20
S3Place = Any  # tests/conftest.py: a bucket factory (.bucket()), .url(), .client, .endpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend(s3: S3Place, bucket: str | None = None, **params: object) -> S3Backend:
    b = S3Backend.from_url(s3.url(bucket or s3.bucket(), **params))
    b.prepare()
    return b


def uploads(s3: S3Place, bucket: str) -> list[dict[str, Any]]:
    return list(s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def stream_into(b: S3Backend, h: Handle, payload: bytes, block: int = 65536) -> None:
    with b.writer(h) as fh:
        for i in range(0, len(payload), block):
            fh.write(payload[i : i + block])


# -- multipart streaming -------------------------------------------------------------------


def test_a_stream_larger_than_a_part_is_a_multipart_upload(s3: S3Place) -> None:
    b = backend(s3, part_size_mib=5)
    h = Handle("data", "big.dbseal")
    payload = os.urandom(12 * MIB + 12345)
    stream_into(b, h, payload)
    head = s3.client.head_object(Bucket=b.bucket, Key=b.key(h))
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB: three parts
    assert head["ContentLength"] == len(payload)
    assert b.get(h) == payload
    assert uploads(s3, b.bucket) == []


def test_a_failed_upload_leaves_no_object_and_no_unfinished_upload(s3: S3Place) -> None:
    b = backend(s3, part_size_mib=5)
    h = Handle("data", "dies.dbseal")
    with pytest.raises(RuntimeError), b.writer(h) as fh:
        for _ in range(12):
            fh.write(os.urandom(MIB))
        assert len(uploads(s3, b.bucket)) == 1  # two parts went up already
        raise RuntimeError("the dump died")
    assert b.stat(h) is None
    assert uploads(s3, b.bucket) == []
    assert b.leftovers() == []


def test_leftovers_are_unfinished_uploads_of_this_repository_only(s3: S3Place) -> None:
    bucket = s3.bucket()
    b = backend(s3, bucket)
    crashed = s3.client.create_multipart_upload(Bucket=bucket, Key=b.key(Handle("data", "x")))
    other = s3.client.create_multipart_upload(Bucket=bucket, Key="someone-else/data/y")
    found = b.leftovers()
    assert len(found) == 1 and f"s3://{bucket}/repo/data/x" in found[0]
    assert b.clean_leftovers() == 1
    assert [u["UploadId"] for u in uploads(s3, bucket)] == [other["UploadId"]]
    assert crashed["UploadId"] not in str(b.leftovers())


def test_writing_200_mb_keeps_memory_bounded(s3: S3Place) -> None:
    b = backend(s3)  # the default 16 MiB parts
    h = Handle("data", "200mb.dbseal")
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    baseline = _reset_peak_rss()
    with b.writer(h) as fh:
        for i in range(200):
            chunk = block[i:] + block[:i]
            digest.update(chunk)
            fh.write(chunk)
    grew = _peak_rss() - baseline
    print(f"upload: peak RSS grew by {grew / MIB:.1f} MiB")
    assert grew < 100 * MIB, f"RSS grew by {grew / MIB:.0f} MiB while uploading 200 MiB"
    assert b.stat(h) is not None and b.stat(h).size == 200 * MIB  # type: ignore[union-attr]
    baseline = _reset_peak_rss()
    check = hashlib.sha256()
    with b.open(h) as fh:
        while chunk := fh.read(MIB):
            check.update(chunk)
    assert check.digest() == digest.digest()
    grew = _peak_rss() - baseline
    print(f"download: peak RSS grew by {grew / MIB:.1f} MiB")
    assert grew < 100 * MIB, f"RSS grew by {grew / MIB:.0f} MiB while downloading 200 MiB"


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


def _reset_peak_rss() -> int:
    """Reset VmHWM (the peak RSS) to the current RSS, and return that."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    return _status("VmRSS")


def _peak_rss() -> int:
    return _status("VmHWM")


# -- listing and reading -------------------------------------------------------------------


def test_listing_pages_past_1000_objects(s3: S3Place) -> None:
    b = backend(s3)
    names = [f"{i:05d}.json" for i in range(1200)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: b.put(Handle("manifest", n), b"{}"), names))
    b.put(Handle("data", "00001.dbseal"), b"x")  # another kind: not listed
    assert b.list("manifest") == names
    assert b.list("manifest", prefix="0011") == names[110:120]
    assert b.list("data") == ["00001.dbseal"]
    assert b.list("config") == []


def test_range_reads(s3: S3Place) -> None:
    b = backend(s3)
    h = Handle("data", "r.dbseal")
    payload = os.urandom(MIB + 17)
    b.put(h, payload)
    cases = [(0, None), (0, 10), (1000, 5000), (MIB, None), (MIB + 10, 100), (len(payload), None)]
    cases += [(len(payload) + 5, 10), (5, 0)]
    for start, length in cases:
        with b.open(h, start, length) as fh:
            end = len(payload) if length is None else start + length
            assert fh.read() == payload[start:end], (start, length)
    empty = Handle("data", "empty.dbseal")
    b.put(empty, b"")
    with b.open(empty) as fh, b.open(empty, 0, 10) as fh2:
        assert fh.read() == b"" and fh2.read() == b""
    for start, length in [(0, None), (10, 5), (0, 0)]:
        with pytest.raises(ObjectNotFound), b.open(Handle("data", "nope"), start, length):
            pass


class Proxy:
    """A TCP proxy to moto on loopback, to make the network misbehave: it cuts the first
    response after ``cut`` bytes (a broken connection mid-download), and replaces ``old``
    with ``new`` (same length) in requests (e.g. to drop a header a store might ignore)."""

    def __init__(
        self, port: int, cut: int | None = None, old: bytes = b"", new: bytes = b""
    ) -> None:
        assert len(old) == len(new)
        self.port, self.cut, self.cuts, self.old, self.new = port, cut, 0, old, new
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.sock.accept()
                upstream = socket.create_connection(("127.0.0.1", self.port))
                limit = self.cut if self.cuts == 0 else None
                self.cuts += 1
                for args in ((client, upstream, None, True), (upstream, client, limit, False)):
                    threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None, up: bool) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if up and self.old:
                    data = data.replace(self.old, self.new)
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    break
                dst.sendall(data)
                sent += len(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.sock.close()


def test_a_download_resumes_after_a_broken_connection(s3: S3Place, moto_server: Any) -> None:
    bucket = s3.bucket()
    h = Handle("data", "resume.dbseal")
    payload = os.urandom(6 * MIB)
    backend(s3, bucket).put(h, payload)
    proxy = Proxy(moto_server.port, cut=2 * MIB)
    try:
        via_proxy = S3Backend.from_url(s3.url(bucket).replace(s3.endpoint, proxy.url))
        with via_proxy.open(h) as fh:
            assert fh.read() == payload
        assert proxy.cuts >= 2  # the first GET was cut; a ranged GET fetched the rest
    finally:
        proxy.close()


def test_an_object_replaced_mid_download_is_not_spliced(s3: S3Place, moto_server: Any) -> None:
    bucket = s3.bucket()
    h = Handle("data", "replaced.dbseal")
    b = backend(s3, bucket)
    b.put(h, os.urandom(6 * MIB))
    proxy = Proxy(moto_server.port, cut=2 * MIB)
    try:
        via_proxy = S3Backend.from_url(s3.url(bucket).replace(s3.endpoint, proxy.url))
        with pytest.raises(StorageError, match="changed while"), via_proxy.open(h) as fh:
            fh.read(MIB)
            b.put(h, os.urandom(6 * MIB), overwrite=True)
            fh.read()
    finally:
        proxy.close()


# -- conditional writes --------------------------------------------------------------------


def test_an_object_created_during_a_multipart_upload_wins(s3: S3Place) -> None:
    """The existence check before the upload passed; If-None-Match on completion catches it."""
    b = backend(s3, part_size_mib=5)
    h = Handle("manifest", "race.json")
    with pytest.raises(ObjectExists), b.writer(h) as fh:
        fh.write(os.urandom(6 * MIB))  # the upload has started
        b.put(h, b"the other writer")
    assert b.get(h) == b"the other writer"
    assert uploads(s3, b.bucket) == []


def test_without_conditional_writes_an_existing_object_is_still_refused(s3: S3Place) -> None:
    b = backend(s3, conditional_writes=0, part_size_mib=5)
    h = Handle("manifest", "m.json")
    b.put(h, b"first")
    with pytest.raises(ObjectExists):
        b.put(h, b"second")
    with pytest.raises(ObjectExists), b.writer(h) as fh:
        fh.write(os.urandom(6 * MIB))
    assert b.get(h) == b"first"


def test_a_store_that_ignores_conditional_writes_is_refused_at_prepare(
    s3: S3Place, moto_server: Any
) -> None:
    bucket = s3.bucket()
    proxy = Proxy(moto_server.port, old=b"If-None-Match: *", new=b"X-Ignored-By: **")
    try:
        url = s3.url(bucket).replace(s3.endpoint, proxy.url)
        with pytest.raises(StorageError, match="overwrote") as got:
            S3Backend.from_url(url).prepare()
        assert "conditional_writes=0" in got.value.hint
        b = S3Backend.from_url(url + "&conditional_writes=0")
        b.prepare()  # then dbseal checks with HEAD before writing
        b.put(Handle("manifest", "m.json"), b"first")
        with pytest.raises(ObjectExists):
            b.put(Handle("manifest", "m.json"), b"second")
        assert b.list("config") == []  # the probe object is gone
    finally:
        proxy.close()


# -- server-side encryption and Object Lock ------------------------------------------------


def test_sse_s3_headers_are_sent(s3: S3Place) -> None:
    b = backend(s3, sse="AES256", part_size_mib=5)
    small, big = Handle("manifest", "m.json"), Handle("data", "d.dbseal")
    b.put(small, b"{}")
    stream_into(b, big, os.urandom(6 * MIB))
    for h in (small, big):
        assert (
            s3.client.head_object(Bucket=b.bucket, Key=b.key(h))["ServerSideEncryption"] == "AES256"
        )


def test_sse_kms_headers_are_sent(s3: S3Place) -> None:
    import boto3

    kms = boto3.client("kms", endpoint_url=s3.endpoint, region_name="us-east-1")
    arn = kms.create_key(Description="dbseal s3 test")["KeyMetadata"]["Arn"]
    b = backend(s3, sse="aws:kms", sse_kms_key_id=arn, part_size_mib=5)
    small, big = Handle("envelope", "e.env"), Handle("data", "d.dbseal")
    b.put(small, b"stanzas")
    stream_into(b, big, os.urandom(6 * MIB))
    for h in (small, big):
        head = s3.client.head_object(Bucket=b.bucket, Key=b.key(h))
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == arn
        assert b.get(h)


def _key_file(path: Path, key: bytes, mode: int = 0o600) -> Path:
    path.write_text("hex:" + key.hex() + "\n")
    path.chmod(mode)
    return path


def test_sse_c_key_is_sent_on_every_request_and_required_to_read(
    s3: S3Place, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    key_file = _key_file(tmp_path / "ssec.key", os.urandom(32))
    b = backend(s3, bucket, sse_c_key_file=key_file, part_size_mib=5)
    small, big = Handle("manifest", "m.json"), Handle("data", "d.dbseal")
    payload = os.urandom(11 * MIB)
    b.put(small, b"{}")
    stream_into(b, big, payload)  # UploadPart is refused without the key
    assert b.get(small) == b"{}" and b.get(big) == payload
    with b.open(big, 6 * MIB, 10) as fh:
        assert fh.read() == payload[6 * MIB : 6 * MIB + 10]
    assert b.stat(big) is not None and b.stat(big).size == len(payload)  # type: ignore[union-attr]
    for h in (small, big):  # without the key S3 refuses to read or even describe it
        with pytest.raises(ClientError) as got:
            s3.client.get_object(Bucket=bucket, Key=b.key(h))
        assert got.value.response["Error"]["Code"] == "InvalidRequest"
        with pytest.raises(ClientError):
            s3.client.head_object(Bucket=bucket, Key=b.key(h))
    other = backend(s3, bucket, sse_c_key_file=_key_file(tmp_path / "other.key", os.urandom(32)))
    with pytest.raises(StorageError, match="AccessDenied"):
        other.get(small)


def test_sse_c_key_file_must_be_private_and_256_bits(s3: S3Place, tmp_path: Path) -> None:
    bucket = s3.bucket()
    with pytest.raises(SecretPermissions):
        backend(s3, bucket, sse_c_key_file=_key_file(tmp_path / "k1", os.urandom(32), 0o644))
    with pytest.raises(SecretError, match="256-bit"):
        backend(s3, bucket, sse_c_key_file=_key_file(tmp_path / "k2", os.urandom(16)))


def test_object_lock_applies_to_data_manifests_and_logs_not_envelopes(s3: S3Place) -> None:
    bucket = s3.bucket(object_lock=True)
    b = backend(s3, bucket, object_lock_days=7, object_lock_mode="COMPLIANCE")
    now = dt.datetime.now(dt.UTC)
    for kind, name in [("data", "a.dbseal"), ("manifest", "a.json"), ("log", "a.dbseal")]:
        h = Handle(kind, name)
        b.put(h, b"x")
        head = s3.client.head_object(Bucket=bucket, Key=b.key(h))
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert dt.timedelta(days=6.9) < until - now < dt.timedelta(days=7.1)
    envelope = Handle("envelope", "a.env")
    b.put(envelope, b"stanzas")
    assert "ObjectLockMode" not in s3.client.head_object(Bucket=bucket, Key=b.key(envelope))
    b.put(envelope, b"rewrapped", overwrite=True)
    b.remove(envelope)  # crypto-shredding is not blocked
    assert b.stat(envelope) is None


def test_object_lock_needs_a_bucket_with_object_lock(s3: S3Place) -> None:
    with pytest.raises(StorageError, match="no Object Lock"):
        backend(s3, object_lock_days=1)


def test_storage_class_applies_to_data_objects(s3: S3Place) -> None:
    b = backend(s3, storage_class="STANDARD_IA")
    data, manifest = Handle("data", "d.dbseal"), Handle("manifest", "m.json")
    b.put(data, b"x")
    b.put(manifest, b"{}")
    assert s3.client.head_object(Bucket=b.bucket, Key=b.key(data))["StorageClass"] == "STANDARD_IA"
    assert "StorageClass" not in s3.client.head_object(Bucket=b.bucket, Key=b.key(manifest))


# -- the bucket, the endpoint and failures -------------------------------------------------


def test_a_missing_bucket_is_reported_or_created_on_request(s3: S3Place) -> None:
    name = f"dbseal-missing-{os.urandom(6).hex()}"
    with pytest.raises(StorageError, match="does not exist") as got:
        S3Backend.from_url(s3.url(name)).prepare()
    assert "create_bucket=1" in got.value.hint
    S3Backend.from_url(s3.url(name, create_bucket=1)).prepare()
    s3.client.head_bucket(Bucket=name)
    S3Backend.from_url(s3.url(name, create_bucket=1)).prepare()  # idempotent


def test_an_unreachable_endpoint_is_transient_and_retried(s3: S3Place) -> None:
    dead = S3Backend.from_url(
        s3.url("somebucket").replace(s3.endpoint, f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(StorageUnavailable) as got:
        dead.stat(Handle("manifest", "m.json"))
    assert got.value.exit_code == 45
    waits: list[float] = []
    retrier = Retrier(RetryPolicy(budget_s=3.0, base_s=1.0), sleep=waits.append, rng=lambda: 1.0)
    with pytest.raises(StorageUnavailable):
        RetryingBackend(dead, retrier).list("manifest")
    assert waits == [1.0, 2.0] and retrier.count == 2


def test_a_plain_http_endpoint_from_the_environment_is_refused(
    s3: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3.example.com")
    b = S3Backend.from_url("s3://bucket/prefix?region=us-east-1")
    with pytest.raises(StorageError, match="plain http"):
        b.stat(Handle("manifest", "m.json"))


def test_open_backend_wraps_s3_in_retries(s3: S3Place) -> None:
    b = open_backend(s3.url(s3.bucket()))
    assert isinstance(b, RetryingBackend) and isinstance(b.inner, S3Backend)
    assert b.location.startswith("s3://") and "?" not in b.location


def test_credentials_in_the_url_are_refused() -> None:
    for url in (
        "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/p",
        "s3://bucket/p?aws_secret_access_key=wJalrXUtnFEMI",
    ):
        with pytest.raises(UsageError) as got:
            S3Backend.from_url(url)
        assert "wJalrXUtnFEMI" not in got.value.message and "AKIAEXAMPLE" not in got.value.message
        assert "AWS_PROFILE" in got.value.hint


# -- dbseal end to end on a bucket ---------------------------------------------------------


@pytest.fixture
def s3_repo(s3: S3Place) -> Iterator[str]:
    yield s3.url(s3.bucket(), "backups/db1")


def test_dbseal_init_secret_list_on_s3(s3_repo: str, user: DbsealUser) -> None:
    user.run("init", s3_repo, "-r", user.recipient).ok()
    again = user.run("init", s3_repo, "-r", user.recipient)
    assert again.rc == 15  # already a repository
    pw = user.secret_file("db.pw", "s3cret-password")
    user.run("secret", "set", "--repo", s3_repo, "shopdb", "--value-file", pw).ok()
    listing = user.listing(s3_repo)
    assert listing["backups"] == [] and listing["repository"].startswith("s3://")
    user.run("repo", "check", "--repo", s3_repo).ok()


@pytest.mark.mariadb
def test_dbseal_backup_verify_restore_on_s3(
    s3_repo: str, user: DbsealUser, mariadb: Any, mariadb_restore: Any, scratch_dbs: list[str]
) -> None:
    scratch_dbs.append("s3shop")
    run_sql(
        mariadb,
        "CREATE DATABASE s3shop",
        "CREATE TABLE s3shop.t (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO s3shop.t VALUES (1, 'one'), (2, 'two')",
    )
    user.run("init", s3_repo, "-r", user.recipient).ok()
    bid = user.good_backup(s3_repo, mariadb, "s3shop")
    assert [b["id"] for b in user.listing(s3_repo)["backups"]] == [bid]
    user.run("verify", "--repo", s3_repo, bid, "--level", "decrypt", "-i", user.identity).ok()
    user.restore(s3_repo, bid, mariadb_restore).ok()
    assert fetch(mariadb_restore, "SELECT id, v FROM s3shop.t ORDER BY id") == [
        (1, "one"),
        (2, "two"),
    ]


@pytest.mark.mariadb
def test_key_lifecycle_on_s3_rewrites_envelopes_never_data(
    s3: S3Place, user: DbsealUser, mariadb: Any, scratch_dbs: list[str]
) -> None:
    """rotate, rewrap, retire, destroy with the same commands on S3: data objects keep their ETags."""
    scratch_dbs.append("s3keys")
    run_sql(
        mariadb,
        "CREATE DATABASE s3keys",
        "CREATE TABLE s3keys.t (id INT PRIMARY KEY)",
        "INSERT INTO s3keys.t VALUES (1), (2), (3)",
    )
    bucket = s3.bucket()
    repo = s3.url(bucket, "keys")
    ring = user.home / "ring"
    ringpass = user.secret_file("ring.pass", "ring passphrase on s3")
    opts = ["--keyring", ring, "--keyring-passphrase-file", ringpass]
    user.run("keys", "init", *opts, "--key", "backup").ok()
    user.run("init", repo, "--keyring", ring, "--key", "backup", "--keyring-passphrase-file", ringpass,
             "-r", user.recipient).ok()  # fmt: skip
    ids = [
        user.backup(repo, mariadb, "s3keys", extra=opts).ok().stdout.split()[1] for _ in range(2)
    ]

    def etags(kind: str) -> dict[str, str]:
        listed = s3.client.list_objects_v2(Bucket=bucket, Prefix=f"keys/{kind}/")
        return {o["Key"]: o["ETag"] for o in listed.get("Contents", [])}

    data_before, envelopes_before = etags("data"), etags("envelopes")
    assert len(data_before) == 2 and len(envelopes_before) == 2
    user.run("keys", "rotate", "backup", *opts).ok()
    status = user.run("keys", "status", *opts, "--repo", repo, "--json").ok().json()
    assert {(r["version"], r["backups"]) for r in status["keys"]} == {(1, 2), (2, 0)}
    user.run("keys", "retire", "backup:1", *opts, "--repo", repo).error(16)
    out = user.run(
        "rewrap",
        "--repo",
        repo,
        "--all",
        "--to",
        "keyring:backup",
        "--remove",
        "keyring:backup:1",
        *opts,
    ).ok()
    assert "2 rewrapped" in out.stdout
    assert etags("data") == data_before, "rewrap never rewrites a data object (same ETags)"
    assert etags("envelopes") != envelopes_before
    user.run("keys", "retire", "backup:1", *opts, "--repo", repo).ok()
    for bid in ids:
        user.run("verify", "--repo", repo, bid, "--level", "decrypt", *opts).ok()
    user.run("keys", "destroy", "backup", *opts, "--repo", repo, "--yes-destroy-key-material").ok()
    gone = user.run("verify", "--repo", repo, ids[0], "--level", "decrypt", *opts)
    assert gone.rc == 18
    user.run("verify", "--repo", repo, ids[0], "--level", "decrypt", "-i", user.identity).ok()
    user.run("forget", "--repo", repo, ids[1], "--shred").ok()
    assert [b["id"] for b in user.listing(repo)["backups"]] == [ids[0]]


@pytest.mark.mariadb
def test_four_concurrent_backups_into_one_bucket(
    s3: S3Place, user: DbsealUser, mariadb: Any, scratch_dbs: list[str]
) -> None:
    """No index file: concurrent writers into one S3 repository never lose each other's backups."""
    scratch_dbs.append("s3conc")
    run_sql(mariadb, "CREATE DATABASE s3conc", "CREATE TABLE s3conc.t (id INT PRIMARY KEY)",
            "INSERT INTO s3conc.t VALUES (1), (2)")  # fmt: skip
    repo = s3.url(s3.bucket(), "conc")
    user.run("init", repo, "-r", user.recipient).ok()
    procs = [user.spawn(*user.backup_args(repo, mariadb, "s3conc")) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
    ids = sorted(out.decode().split()[1] for out, _ in outputs)
    listing = user.listing(repo)
    assert sorted(b["id"] for b in listing["backups"]) == ids and len(set(ids)) == 4
    assert {b["status"] for b in listing["backups"]} == {"ok"}
    for bid in ids:
        user.run("verify", "--repo", repo, bid, "--level", "decrypt", "-i", user.identity).ok()
