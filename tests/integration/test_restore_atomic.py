"""Restores are all-or-nothing (issue 20): whatever stops one mid-apply, the target is as it was.

Each test starts a real restore of ``big_db`` (about 24 MB, 30,000 rows) into the restore
server under the database's own name (the disaster-recovery case), waits until rows are
arriving (in whatever database the restore writes them to), and then breaks it: the server
kills the client's connection, or `dbseal` gets SIGTERM or SIGKILL. Afterwards the target
database does not exist (or, with --replace, holds its old rows row for row), and no
staging database is left, except after SIGKILL, where the next restore says so and
--replace cleans up.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from conftest import DbsealUser, backed_up, databases_on, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.engines.mariadb.staging import MARKER_TABLE

pytestmark = pytest.mark.mariadb

WAIT = 120.0  # bounded waits, never a timing assertion
OLD_ROWS = [(1, "old one"), (2, "old two")]


@dataclass(frozen=True)
class BigBackup:
    user: DbsealUser
    repo: Path
    db: str
    backup: str
    rows: int


@pytest.fixture(scope="module")
def big_backup(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDBSandbox, big_db: str
) -> BigBackup:
    user = DbsealUser(tmp_path_factory.mktemp("atomic-user"))
    repo = user.init()
    bid = user.good_backup(repo, mariadb, big_db)
    rows = int(fetch(mariadb, f"SELECT COUNT(*) FROM `{big_db}`.big")[0][0])
    return BigBackup(user, repo, big_db, bid, rows)


@pytest.fixture
def clean_target(mariadb_restore: MariaDBSandbox, big_backup: BigBackup) -> Iterator[None]:
    """The target database and every staging database are gone before and after."""

    def clean() -> None:
        names = [big_backup.db, *leftover_databases(mariadb_restore)]
        run_sql(mariadb_restore, *(f"DROP DATABASE IF EXISTS `{n}`" for n in names))

    clean()
    yield
    clean()


def leftover_databases(server: MariaDBSandbox) -> list[str]:
    return sorted(
        n for n in databases_on(server) if n.startswith(("dbseal_stage_", "dbseal_restore_"))
    )


def rows_arriving(server: MariaDBSandbox) -> bool:
    """Some rows of ``big`` are in, in any database (the target or a staging one)."""
    for (schema,) in fetch(
        server, "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME = 'big'"
    ):
        if fetch(server, f"SELECT 1 FROM `{schema}`.big LIMIT 1"):
            return True
    return False


def wait_for(what: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while not what():
        assert proc.poll() is None, f"the restore ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "no rows arrived"
        time.sleep(0.02)


def spawn_restore(b: BigBackup, server: MariaDBSandbox, *extra: object) -> subprocess.Popen[bytes]:
    return b.user.spawn(
        "restore",
        "--repo",
        b.repo,
        b.backup,
        "--target",
        f"mysql://root@127.0.0.1:{server.port}",
        "--target-password-file",
        b.user.password_file(server),
        "--target-ssl-ca",
        server.ca_cert,
        "-i",
        b.user.identity,
        *extra,
    )


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=WAIT)
    return proc.returncode, err.decode("utf-8", "replace")


def kill_restore_connections(server: MariaDBSandbox) -> int:
    """``KILL`` every connection that is loading rows of ``big``; returns how many."""
    ids = [
        int(r[0])
        for r in fetch(
            server,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO `big`%%'",
        )
    ]
    for cid in ids:
        with contextlib.suppress(pymysql.err.MySQLError):  # it may have finished meanwhile
            run_sql(server, f"KILL {cid}")
    return len(ids)


def occupy(server: MariaDBSandbox, db: str) -> None:
    run_sql(
        server,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY, pad VARCHAR(1000))",
        f"INSERT INTO `{db}`.big VALUES (1, 'old one'), (2, 'old two')",
        f"CREATE TABLE `{db}`.extra (x INT)",
        f"INSERT INTO `{db}`.extra VALUES (42)",
        f"CREATE VIEW `{db}`.v AS SELECT id FROM `{db}`.big",
    )


def old_state(server: MariaDBSandbox, db: str) -> dict[str, Any]:
    return {
        "tables": sorted(str(r[0]) for r in fetch(server, f"SHOW FULL TABLES FROM `{db}`")),
        "big": fetch(server, f"SELECT * FROM `{db}`.big ORDER BY id"),
        "extra": fetch(server, f"SELECT * FROM `{db}`.extra"),
        "v": fetch(server, f"SELECT * FROM `{db}`.v ORDER BY id"),
    }


def restored_ok(b: BigBackup, server: MariaDBSandbox) -> None:
    assert fetch(server, f"SELECT COUNT(*) FROM `{b.db}`.big") == [(b.rows,)]
    assert leftover_databases(server) == []


@pytest.mark.usefixtures("clean_target")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_server_killing_the_connection_leaves_no_database(
    big_backup: BigBackup, mariadb_restore: MariaDBSandbox, jobs: str
) -> None:
    proc = spawn_restore(big_backup, mariadb_restore, "--jobs", jobs)
    wait_for(lambda: kill_restore_connections(mariadb_restore) > 0, proc)
    rc, err = finish(proc)
    assert rc == 26, err
    assert "target untouched" in err and f"not created: {big_backup.db}" in err
    assert big_backup.db not in databases_on(mariadb_restore), "a half-restored database"
    assert leftover_databases(mariadb_restore) == []


@pytest.mark.usefixtures("clean_target")
def test_replace_cut_mid_apply_keeps_the_old_data(
    big_backup: BigBackup, mariadb_restore: MariaDBSandbox
) -> None:
    occupy(mariadb_restore, big_backup.db)
    before = old_state(mariadb_restore, big_backup.db)
    assert before["big"] == OLD_ROWS
    proc = spawn_restore(big_backup, mariadb_restore, "--replace")
    wait_for(lambda: kill_restore_connections(mariadb_restore) > 0, proc)
    rc, err = finish(proc)
    assert rc == 26, err
    assert f"old contents kept: {big_backup.db}" in err
    assert old_state(mariadb_restore, big_backup.db) == before
    assert leftover_databases(mariadb_restore) == []


@pytest.mark.usefixtures("clean_target")
def test_sigterm_mid_apply_leaves_no_database(
    big_backup: BigBackup, mariadb_restore: MariaDBSandbox
) -> None:
    proc = spawn_restore(big_backup, mariadb_restore)
    wait_for(lambda: rows_arriving(mariadb_restore), proc)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 130, err
    assert "target untouched" in err, err
    assert big_backup.db not in databases_on(mariadb_restore)
    assert leftover_databases(mariadb_restore) == []


@pytest.mark.usefixtures("clean_target")
def test_sigkill_mid_apply_is_reported_and_replace_cleans_up(
    big_backup: BigBackup, mariadb_restore: MariaDBSandbox
) -> None:
    proc = spawn_restore(big_backup, mariadb_restore)
    wait_for(lambda: rows_arriving(mariadb_restore), proc)
    proc.kill()
    finish(proc)
    assert big_backup.db not in databases_on(mariadb_restore), "a half-restored database"
    res = big_backup.user.restore(big_backup.repo, big_backup.backup, mariadb_restore)
    line = res.error(43)
    assert f"incomplete restore of {big_backup.backup}" in line and "--replace" in line
    assert big_backup.db not in databases_on(mariadb_restore)
    big_backup.user.restore(big_backup.repo, big_backup.backup, mariadb_restore, "--replace").ok()
    restored_ok(big_backup, mariadb_restore)


def test_replace_moves_every_kind_of_object_and_drops_the_old_ones(
    tmp_path: Path, mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    """The swap recreates triggers, views, routines and events in the target, and nothing
    of the old contents (a table, a view, a procedure the backup lacks) survives."""
    db = f"dbseal_objs_{uuid.uuid4().hex[:8]}"
    other = f"{db}_b"  # a view of db uses a view of this one
    with backed_up(
        tmp_path,
        mariadb,
        [db, other],
        f"CREATE DATABASE `{other}`",
        f"CREATE TABLE `{other}`.bt (x INT)",
        f"INSERT INTO `{other}`.bt VALUES (7)",
        f"CREATE VIEW `{other}`.bv AS SELECT x FROM `{other}`.bt",
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)",
        f"CREATE TABLE `{db}`.log (id INT)",
        f"CREATE TABLE `{db}`.child (id INT, FOREIGN KEY (id) REFERENCES `{db}`.t (id))",
        f"CREATE TRIGGER `{db}`.tr AFTER INSERT ON `{db}`.t FOR EACH ROW "
        f"INSERT INTO `{db}`.log VALUES (NEW.id)",
        f"INSERT INTO `{db}`.t VALUES (1, 10), (2, 20)",
        f"CREATE VIEW `{db}`.doubled AS SELECT id, v * 2 AS v2 FROM `{db}`.t",
        f"CREATE VIEW `{db}`.top AS SELECT MAX(v2) AS m FROM `{db}`.doubled",
        f"CREATE FUNCTION `{db}`.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
        f"CREATE PROCEDURE `{db}`.p() SELECT COUNT(*) FROM t",
        f"CREATE EVENT `{db}`.e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM `{db}`.log",
        f"CREATE VIEW `{db}`.cross_db AS SELECT x FROM `{other}`.bv",
    ) as (user, repo, bid):
        try:
            run_sql(
                mariadb_restore,
                f"CREATE DATABASE `{db}`",
                f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)",
                f"CREATE TABLE `{db}`.gone (x INT)",
                f"CREATE VIEW `{db}`.oldview AS SELECT 1 AS one",
                f"CREATE VIEW `{db}`.log AS SELECT 1 AS one",  # the backup's log is a table
                f"CREATE PROCEDURE `{db}`.oldproc() SELECT 1",
            )
            user.restore(repo, bid, mariadb_restore, "--replace").ok()
            tables = {str(r[0]) for r in fetch(mariadb_restore, f"SHOW FULL TABLES FROM `{db}`")}
            assert tables == {"t", "log", "child", "doubled", "top", "cross_db"}
            assert fetch(mariadb_restore, f"SELECT x FROM `{db}`.cross_db") == [(7,)]
            fks = fetch(
                mariadb_restore,
                "SELECT UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME FROM "
                "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s",
                db,
            )
            assert fks == [(db, "t")], "the foreign key does not point into the target"
            run_sql(mariadb_restore, f"INSERT INTO `{db}`.t VALUES (3, 30)")  # the trigger fires
            assert fetch(mariadb_restore, f"SELECT id FROM `{db}`.log ORDER BY id") == [
                (1,),
                (2,),
                (3,),
            ]
            assert fetch(mariadb_restore, f"SELECT m FROM `{db}`.top") == [(60,)]
            assert fetch(mariadb_restore, f"SELECT `{db}`.twice(21)") == [(42,)]
            routines = fetch(
                mariadb_restore,
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
                "ORDER BY 1",
                db,
            )
            assert routines == [("p",), ("twice",)]
            events = fetch(
                mariadb_restore,
                "SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
                db,
            )
            assert events == [("e", "DISABLED")]
            views = fetch(
                mariadb_restore,
                "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s",
                db,
            )
            assert views and not any("dbseal_stage_" in str(v[0]) for v in views)
            assert leftover_databases(mariadb_restore) == []
        finally:
            run_sql(
                mariadb_restore,
                f"DROP DATABASE IF EXISTS `{db}`",
                f"DROP DATABASE IF EXISTS `{other}`",
            )


@pytest.mark.usefixtures("clean_target")
def test_a_target_marked_by_an_unfinished_swap_is_reported_and_replaced(
    big_backup: BigBackup, mariadb_restore: MariaDBSandbox
) -> None:
    """What a crash inside the swap's last step leaves: the new tables and the marker."""
    occupy(mariadb_restore, big_backup.db)
    run_sql(
        mariadb_restore,
        f"CREATE TABLE `{big_backup.db}`.{MARKER_TABLE} (backup VARCHAR(255))",
        (f"INSERT INTO `{big_backup.db}`.{MARKER_TABLE} VALUES (%s)", ["20260101T000000Z-cut"]),
    )
    line = big_backup.user.restore(big_backup.repo, big_backup.backup, mariadb_restore).error(43)
    assert (
        f"database {big_backup.db} was left by an incomplete restore of 20260101T000000Z-cut"
        in line
    )
    assert "--replace" in line
    big_backup.user.restore(big_backup.repo, big_backup.backup, mariadb_restore, "--replace").ok()
    restored_ok(big_backup, mariadb_restore)
    tables = {str(r[0]) for r in fetch(mariadb_restore, f"SHOW FULL TABLES FROM `{big_backup.db}`")}
    assert tables == {"big"}, "the marker or an old object survived --replace"
