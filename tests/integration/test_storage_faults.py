"""Remote storage behind a fault-injecting proxy (tests/faultproxy.py): outages are ridden out.

The proxy sits between dbseal and moto's S3 server, and between dbseal and a
receiver. Each case is a real outage: connections reset mid-body, refused for a
few seconds, 503 answers, a black hole. The data must come through identical,
or the failure must come within the documented bound (RetryPolicy.failure_bound_s).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_receiver import Pki, pki  # noqa: F401 - the module-scoped fixture

from conftest import DbsealUser, fetch, run_sql, tmp_files
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import StorageUnavailable
from dbseal.server.receiver import Receiver, ReceiverConfig
from dbseal.storage import Handle, RetryPolicy, open_backend, retrier_of
from dbseal.storage.s3 import S3Backend
from faultproxy import FaultProxy

MIB = 1 << 20
S3Place = Any


def proxied_s3_url(s3: S3Place, proxy: FaultProxy, bucket: str, **params: object) -> str:
    return s3.url(bucket, **params).replace(s3.endpoint, f"http://127.0.0.1:{proxy.port}")


@pytest.fixture
def s3_proxy(s3: S3Place, moto_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.port) as proxy:
        yield proxy


def bounded(fn: Callable[[], Any], limit: float) -> tuple[BaseException | None, float]:
    """Run ``fn`` in a thread for at most ``limit`` seconds: (its exception, seconds taken)."""
    box: dict[str, BaseException | None] = {"exc": None}

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            box["exc"] = exc

    t0 = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"still hanging after {limit:.0f} s"
    return box["exc"], time.monotonic() - t0


def write_mib(b: Any, h: Handle, n: int, faults: dict[int, Callable[[], None]]) -> Any:
    """Stream ``n`` MiB into ``h``, calling ``faults[i]`` before MiB ``i``; the digest written."""
    block, digest = os.urandom(MIB), hashlib.sha256()
    with b.writer(h) as fh:
        for i in range(n):
            if i in faults:
                faults[i]()
            piece = block[i:] + block[:i]
            digest.update(piece)
            fh.write(piece)
    return digest


# -- S3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("down_s", [2.0, 30.0])
def test_an_s3_download_cut_resumes_when_storage_is_back(
    s3: S3Place, s3_proxy: FaultProxy, down_s: float
) -> None:
    bucket = s3.bucket()
    payload = os.urandom(12 * MIB)
    h = Handle("data", "d.dbseal")
    S3Backend.from_url(s3.url(bucket)).put(h, payload)
    b = open_backend(proxied_s3_url(s3, s3_proxy, bucket))
    with b.open(h) as fh:
        got = fh.read(MIB)
        s3_proxy.refuse_for(down_s)  # connections reset, then refused for down_s
        got += fh.read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert s3_proxy.faults >= 1


@pytest.mark.parametrize("cut_s", [6.0, 30.0])
def test_an_s3_upload_survives_a_cut_and_a_503_burst(
    s3: S3Place, s3_proxy: FaultProxy, cut_s: float
) -> None:
    bucket = s3.bucket()
    b = open_backend(proxied_s3_url(s3, s3_proxy, bucket, part_size_mib=5))
    seen: list[tuple[str, int]] = []
    retrier = retrier_of(b)
    assert retrier is not None
    retrier.listen(lambda op, attempt, delay, exc: seen.append((op, attempt)))
    h = Handle("data", "u.dbseal")
    faults = {6: lambda: s3_proxy.refuse_for(cut_s), 12: lambda: s3_proxy.http_503(3)}
    digest = write_mib(b, h, 16, faults)
    direct = S3Backend.from_url(s3.url(bucket))
    assert hashlib.sha256(direct.get(h)).digest() == digest.digest()
    assert direct.leftovers() == []
    assert seen and all(op.startswith("s3.") for op, _ in seen)


@pytest.mark.parametrize("budget", [1.0, 4.0])
def test_a_black_holed_s3_fails_within_the_bound_of_its_budget(
    s3: S3Place, s3_proxy: FaultProxy, budget: float
) -> None:
    bucket = s3.bucket()
    url = proxied_s3_url(s3, s3_proxy, bucket, part_size_mib=5)
    url += f"&retry_budget={budget:g}&timeout=1"
    b = open_backend(url)
    policy = RetryPolicy.from_settings(f"{budget:g}", "1")
    h = Handle("data", "hole.dbseal")

    def upload() -> None:
        with b.writer(h) as fh:
            for i in range(12):
                if i == 7:
                    s3_proxy.black_hole()
                fh.write(os.urandom(MIB))

    exc, took = bounded(upload, 60)
    assert isinstance(exc, StorageUnavailable) and exc.exit_code == 45
    assert budget <= took <= policy.failure_bound_s() + 3.0, (took, policy.failure_bound_s())
    s3_proxy.heal()
    direct = S3Backend.from_url(s3.url(bucket))
    assert direct.stat(h) is None  # nothing visible; an unaborted upload is a leftover
    direct.clean_leftovers(0)
    assert direct.leftovers() == []


def test_retries_are_storage_retry_events_in_json_and_counted(
    s3: S3Place, s3_proxy: FaultProxy, mariadb: MariaDBSandbox, tmp_path: Path
) -> None:
    user = DbsealUser(tmp_path / "home")
    bucket = s3.bucket()
    url = proxied_s3_url(s3, s3_proxy, bucket)
    user.run("init", url, "-r", user.recipient).ok()
    db = f"flt_{os.urandom(4).hex()}"
    run_sql(mariadb, f"CREATE DATABASE `{db}`", f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    try:
        s3_proxy.http_503(3)
        res = user.run(*user.backup_args(url, mariadb, db), "--json").ok()  # type: ignore[arg-type]
        events = [json.loads(x) for x in res.stderr.splitlines() if x.startswith("{")]
        retries = [e for e in events if e["event"] == "storage.retry"]
        assert len(retries) >= 3, res.stderr
        assert {"op", "attempt", "delay", "error"} <= set(retries[0])
        assert res.json()["storage_retries"] == len(retries)
        s3_proxy.http_503(2)
        checked = user.run("verify", "--repo", url, "--level", "integrity", "--json").ok()
        assert checked.json()[0]["storage_retries"] >= 2, checked.stderr
    finally:
        run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`")


def test_a_restore_through_a_cut_download_and_a_2s_outage_is_identical(
    s3: S3Place,
    s3_proxy: FaultProxy,
    mariadb: MariaDBSandbox,
    tmp_path: Path,
    scratch_dbs: list[str],
) -> None:
    user = DbsealUser(tmp_path / "home")
    url = proxied_s3_url(s3, s3_proxy, s3.bucket())
    user.run("init", url, "-r", user.recipient).ok()
    db = f"cut_{os.urandom(4).hex()}"
    scratch_dbs += [db, f"{db}_r"]
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v TEXT)",
        f"INSERT INTO `{db}`.t SELECT seq, CONCAT(SHA2(RAND(), 512), SHA2(RAND(), 512)) "
        f"FROM `{db}`.seq_1_to_20000",
    )
    bid = user.good_backup(url, mariadb, db)  # type: ignore[arg-type]
    stored = user.show(url, bid)["manifest"]["sizes"]["stored"]  # type: ignore[arg-type]
    assert stored > 2 * MIB
    s3_proxy.reset_after(MIB, then_refuse_s=2.0)  # in the data object, then 2 s of refusals
    res = user.restore(url, bid, mariadb, "--rename-db", f"{db}={db}_r", "--json").ok()  # type: ignore[arg-type]
    assert s3_proxy.faults >= 2 and res.json()["storage_retries"] >= 1
    digest = "SELECT COUNT(*), SUM(CRC32(v)), MAX(id) FROM `{}`.t"
    assert fetch(mariadb, digest.format(f"{db}_r")) == fetch(mariadb, digest.format(db))


# -- the receiver ----------------------------------------------------------------------------


class Restartable:
    """An in-process receiver behind a proxy; ``restart()`` replaces it on a new port."""

    def __init__(self, pki: Pki, repo: Path, **options: Any) -> None:  # noqa: F811 - the Pki type
        self.pki, self.repo, self.options = pki, repo, options
        self.receiver = self._start()
        self.proxy = FaultProxy(self.receiver.address[1])

    def _start(self) -> Receiver:
        ca = self.pki.ca
        config = ReceiverConfig(
            "127.0.0.1",
            0,
            str(self.repo),
            str(ca / "localhost-cert.pem"),
            str(ca / "localhost-key.pem"),
            str(ca / "ca-cert.pem"),
            **self.options,
        )
        return Receiver(config, _Quiet()).start()

    def restart(self, down_s: float) -> None:
        self.proxy.refuse_for(down_s)
        self.receiver.close()
        self.receiver = self._start()
        self.proxy.target = self.receiver.address[1]

    def url(self) -> str:
        return f"dbseal+tls://127.0.0.1:{self.proxy.port}"

    def backend(self, query: str = "") -> Any:
        """A client of the receiver through the proxy, its repository prepared."""
        b = open_backend(self.url() + query, self.pki.files("alice"))
        b.prepare()
        return b

    def close(self) -> None:
        self.proxy.close()
        self.receiver.close()


class _Quiet:
    def event(self, kind: str, **fields: Any) -> None:
        return None


@pytest.fixture
def served(pki: Pki, tmp_path: Path) -> Iterator[Restartable]:  # noqa: F811
    r = Restartable(pki, tmp_path / "repo")
    try:
        yield r
    finally:
        r.close()


def test_small_writes_to_a_restarting_receiver_are_retried(
    served: Restartable,
    pki: Pki,  # noqa: F811
) -> None:
    b = served.backend()
    data = Handle("data", "x.dbseal")
    with b.writer(data) as fh:
        fh.write(os.urandom(3 * MIB))
    served.restart(1.5)  # 1 s after the data object was stored, as in the field
    b.put(Handle("envelope", "x.env"), b"envelope")
    b.put(Handle("manifest", "x.json"), b"{}")
    assert b.list("manifest") == ["x.json"] and b.get(Handle("envelope", "x.env")) == b"envelope"


def test_a_receiver_download_cut_resumes_when_it_is_back_after_2s(
    served: Restartable,
    pki: Pki,  # noqa: F811
) -> None:
    b = served.backend()
    h = Handle("data", "big.dbseal")
    payload = os.urandom(12 * MIB)
    b.put(h, payload)
    with b.open(h) as fh:
        got = fh.read(MIB)
        served.proxy.refuse_for(2.0)
        got += fh.read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_a_receiver_restarted_mid_upload_fails_cleanly_with_exit_45(
    served: Restartable,
    pki: Pki,  # noqa: F811
) -> None:
    b = served.backend()
    h = Handle("data", "cut.dbseal")
    with pytest.raises(StorageUnavailable) as got, b.writer(h) as fh:
        for i in range(40):
            if i == 10:
                served.restart(1.0)
            fh.write(os.urandom(MIB))
    assert got.value.exit_code == 45
    assert b.stat(h) is None and b.leftovers() == []
    assert tmp_files(served.repo) == []


def test_a_black_holed_receiver_fails_within_the_bound(
    served: Restartable,
    pki: Pki,  # noqa: F811
) -> None:
    b = served.backend("?retry_budget=2&timeout=1")
    served.proxy.black_hole()
    exc, took = bounded(lambda: b.list("manifest"), 60)
    assert isinstance(exc, StorageUnavailable) and exc.exit_code == 45
    assert 2.0 <= took <= RetryPolicy.from_settings("2", "1").failure_bound_s() + 3.0


@pytest.mark.parametrize("cut_s", [4.0, 30.0])
def test_a_receiver_upload_cut_completes(served: Restartable, cut_s: float) -> None:
    b = served.backend()
    h = Handle("data", "up.dbseal")
    # open connections reset, then refused for cut_s
    digest = write_mib(b, h, 20, {9: lambda: served.proxy.refuse_for(cut_s)})
    assert hashlib.sha256(b.get(h)).digest() == digest.digest()
    assert b.leftovers() == [] and tmp_files(served.repo) == []


def test_an_append_only_receiver_lets_a_client_abort_its_own_upload(
    pki: Pki,  # noqa: F811
    tmp_path: Path,
) -> None:
    r = Restartable(pki, tmp_path / "repo", append_only=True)
    try:
        b = r.backend()
        h = Handle("data", "given-up.dbseal")
        with pytest.raises(RuntimeError), b.writer(h) as fh:
            fh.write(os.urandom(10 * MIB))  # one part is on the receiver
            raise RuntimeError("the dump died")
        assert b.stat(h) is None and b.leftovers() == []
        assert tmp_files(r.repo) == [] and r.receiver.sessions.count() == 0
    finally:
        r.close()


def test_a_receiver_without_part_uploads_gets_one_streaming_put(
    served: Restartable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver from before /v1/uploads answers 400 "not a receiver request" to the start."""
    from dbseal.server import uploads

    def older(handler: Any, rest: list[str], query: dict[str, str]) -> None:
        raise ValueError(f"{handler.command} {handler.path} is not a receiver request")

    monkeypatch.setattr(uploads, "handle_request", older)
    b = served.backend()
    h = Handle("data", "old.dbseal")
    digest = write_mib(b, h, 5, {})
    assert hashlib.sha256(b.get(h)).digest() == digest.digest()
    assert served.receiver.sessions.count() == 0 and tmp_files(served.repo) == []
