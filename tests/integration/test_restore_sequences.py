"""Sequences restore with one client and with several, also under another name (issue 12).

mariadb-dump writes ``LOCK TABLES t WRITE`` around a table's rows; when a column of ``t``
defaults to ``nextval()`` of a sequence, ``mariadb`` stops there with ``ERROR 1100 ... was
not locked with LOCK TABLES``. The column default names the sequence with its database,
so a copy made with --rename-db must point at its own sequence, not the original's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import DbsealUser, backed_up, databases_on, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def seq_backup(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDBSandbox
) -> Iterator[tuple[DbsealUser, Path, str, str]]:
    db = f"dbseal_seq_{uuid.uuid4().hex[:8]}"
    with backed_up(
        tmp_path_factory.mktemp("seq-user"),
        mariadb,
        [db],
        f"CREATE DATABASE `{db}`",
        f"CREATE SEQUENCE `{db}`.ids START WITH 100 CACHE 0",
        f"CREATE SEQUENCE `{db}`.plain START WITH 1 INCREMENT BY 5 CACHE 0",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY DEFAULT nextval(`{db}`.ids), v INT)",
        f"INSERT INTO `{db}`.t (v) VALUES (1), (2), (3)",
        f"SELECT nextval(`{db}`.plain), nextval(`{db}`.plain)",
    ) as (user, repo, bid):
        yield user, repo, db, bid


@pytest.mark.parametrize(("jobs", "renamed"), [("1", False), ("1", True), ("2", True)])
def test_a_sequence_and_a_nextval_default_restore(
    seq_backup: tuple[DbsealUser, Path, str, str],
    mariadb_restore: MariaDBSandbox,
    jobs: str,
    renamed: bool,
) -> None:
    user, repo, db, bid = seq_backup
    name = f"{db}_copy{jobs}" if renamed else db
    rename = ("--rename-db", f"{db}={name}") if renamed else ()
    try:
        user.restore(repo, bid, mariadb_restore, "--jobs", jobs, *rename).ok()
        assert fetch(mariadb_restore, f"SELECT id, v FROM `{name}`.t ORDER BY id") == [
            (100, 1),
            (101, 2),
            (102, 3),
        ]
        # the restored table draws from the restored sequence (and no other database is needed)
        assert db not in databases_on(mariadb_restore) or not renamed
        run_sql(mariadb_restore, f"INSERT INTO `{name}`.t (v) VALUES (4)")
        assert fetch(mariadb_restore, f"SELECT id FROM `{name}`.t WHERE v = 4") == [(103,)]
        assert fetch(mariadb_restore, f"SELECT nextval(`{name}`.plain)") == [(11,)]
    finally:
        run_sql(mariadb_restore, f"DROP DATABASE IF EXISTS `{name}`")


def test_verify_restore_level_on_a_scratch_server_with_a_sequence(
    seq_backup: tuple[DbsealUser, Path, str, str], mariadb_restore: MariaDBSandbox
) -> None:
    """verify --scratch restores under dbsv_* names: the nextval() default must follow."""
    user, repo, _, bid = seq_backup
    server = mariadb_restore
    before = databases_on(server)
    res = user.run(
        "verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity, "--json",
        "--scratch", f"mysql://root@127.0.0.1:{server.port}",
        "--scratch-password-file", user.password_file(server),
        "--scratch-ssl-ca", server.ca_cert,
    )  # fmt: skip
    assert res.rc == 0, res.stdout + res.stderr
    (report,) = json.loads(res.stdout)
    assert report["result"] == "ok", report
    assert {(t["table"], t["found_rows"]) for t in report["tables"]} == {("t", 3)}
    assert databases_on(server) == before
