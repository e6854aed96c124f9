"""A restore from S3 survives the storage going away after its authenticate pass (issue 20).

The authenticate pass spools the sealed data object (still encrypted) locally; the apply
pass reads the spool, so stopping the S3 server right after pass 1 does not stop the
restore, and the restored rows are identical to the source's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from receiverkit import Pki, Serve, pki

from conftest import DbsealUser, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import SpoolNoSpace
from dbseal.ops.spool import SPOOL_MARGIN, Spool

WAIT = 300.0
FIXTURES = (pki,)  # the receiver tests' PKI fixture, used below


def fingerprint(server: MariaDBSandbox, db: str) -> list[tuple[Any, ...]]:
    return fetch(server, f"SELECT COUNT(*), SUM(CRC32(CONCAT(id, ':', pad))) FROM `{db}`.big")


def restore_cut_after_pass_1(
    user: DbsealUser,
    repo: str,
    bid: str,
    server: MariaDBSandbox,
    spool_dir: Path,
    stop_storage: Callable[[], object],
    *extra: object,
) -> tuple[int, str, str]:
    """Run a restore; ``stop_storage()`` as soon as its apply phase starts; its outcome."""
    proc = user.spawn(
        "restore", "--repo", repo, bid, "--json", "--jobs", "1", "--spool-dir", spool_dir,
        "--target", f"mysql://root@127.0.0.1:{server.port}",
        "--target-password-file", user.password_file(server),
        "--target-ssl-ca", server.ca_cert, "-i", user.identity, *extra,
    )  # fmt: skip
    assert proc.stderr is not None
    events = []
    for line in proc.stderr:
        if not line.startswith(b"{"):
            pytest.fail(f"the restore failed first: {line!r} after {events}")
        event = json.loads(line)
        events.append(event)
        if event.get("event") == "restore.phase" and event.get("label") == "restore":
            stop_storage()  # the storage is gone before the apply pass reads anything
            break
    else:
        pytest.fail(f"no apply phase: {events}")
    out, err = proc.communicate(timeout=WAIT)
    return proc.returncode, out.decode(), err.decode("utf-8", "replace")


def check_restored(
    rc: int,
    out: str,
    err: str,
    source: MariaDBSandbox,
    target: MariaDBSandbox,
    db: str,
    spool: Path,
) -> None:
    assert rc == 0, err
    assert json.loads(out)["spooled"] is True
    assert fingerprint(target, db) == fingerprint(source, db)
    assert list(spool.iterdir()) == [], "the spool was not removed"


@pytest.fixture
def spool_dir(tmp_path: Path, mariadb_restore: MariaDBSandbox, big_db: str) -> Iterator[Path]:
    """An empty spool directory; ``big_db`` is absent from the restore server before and after."""
    run_sql(mariadb_restore, f"DROP DATABASE IF EXISTS `{big_db}`")
    spool = tmp_path / "spool"
    spool.mkdir()
    yield spool
    run_sql(mariadb_restore, f"DROP DATABASE IF EXISTS `{big_db}`")


@pytest.mark.mariadb
def test_s3_stopped_after_the_authenticate_pass_the_restore_completes(
    moto_server_factory: Callable[[], contextlib.AbstractContextManager[Any]],
    aws_test_env: None,
    tmp_path: Path,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    big_db: str,
    spool_dir: Path,
) -> None:
    import boto3

    user = DbsealUser(tmp_path / "home")
    with moto_server_factory() as server:
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1").create_bucket(
            Bucket="spooltest"
        )
        repo = f"s3://spooltest/repo?endpoint={server.url}&region=us-east-1&path_style=1"
        user.run("init", repo, "-r", user.recipient).ok()
        bid = user.good_backup(repo, mariadb, big_db)

        def stop() -> None:
            server.proc.kill()
            server.proc.wait()

        got = restore_cut_after_pass_1(user, repo, bid, mariadb_restore, spool_dir, stop)
    check_restored(*got, mariadb, mariadb_restore, big_db, spool_dir)


@pytest.mark.mariadb
def test_receiver_stopped_after_the_authenticate_pass_the_restore_completes(
    pki: Pki,
    tmp_path: Path,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    big_db: str,
    spool_dir: Path,
) -> None:
    user = DbsealUser(tmp_path / "home")
    local = user.init()
    bid = user.good_backup(local, mariadb, big_db)
    with Serve(pki, local) as serve:
        got = restore_cut_after_pass_1(
            user,
            serve.url(),
            bid,
            mariadb_restore,
            spool_dir,
            lambda: serve.stop(signal.SIGKILL),
            *pki.args("alice"),
        )
    check_restored(*got, mariadb, mariadb_restore, big_db, spool_dir)


def test_a_spool_is_private_and_removed(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), 10)
    path = Path(spool.path)
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    spool.close()
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_spool_larger_than_the_free_space_is_refused(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(SpoolNoSpace) as got:
        Spool(str(tmp_path), free)
    assert str(tmp_path) in got.value.message and "nothing was restored" in got.value.message
    assert "--spool-dir" in got.value.hint
    assert list(tmp_path.iterdir()) == []
    assert SPOOL_MARGIN > 0
