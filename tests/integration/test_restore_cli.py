"""`dbseal restore` refuses what it cannot trust, and applies nothing before it knows.

A failed backup is refused unless --allow-failed; a damaged data object, a missing key
envelope or the wrong identity stop the restore before the target server sees a single
statement (the target database is never created). --no-verify-first restores a good
backup in one pass. Database names given to --database and --rename-db must exist in
the backup.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    DbsealUser,
    databases_on,
    fetch,
    manifest_stats,
    run_sql,
    server_stats,
)
from dbseal.engines.mariadb import compare_objects, compare_stats
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


@dataclass(frozen=True)
class Backups:
    """A repository with a good backup and two failed ones, all of database ``db``."""

    user: DbsealUser
    repo: Path
    db: str
    good: str
    failed_empty: str  # wrong password: nothing dumped
    failed_repo: Path  # policy dump_warnings=fail
    failed_complete: str  # a complete dump with warnings, failed under that policy


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDBSandbox) -> Iterator[Backups]:
    tag = uuid.uuid4().hex[:8]
    db, account, password = f"dbseal_rs_{tag}", f"notrig_{tag}", f"pw-{tag}"
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20), b LONGBLOB)",
        (f"INSERT INTO `{db}`.t VALUES (1, 'one', %s), (2, 'two', NULL)", (os.urandom(1 << 20),)),
        f"CREATE TRIGGER `{db}`.t_bi BEFORE INSERT ON `{db}`.t FOR EACH ROW SET NEW.v = 'trig'",
        f"CREATE USER '{account}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT, SHOW VIEW, EVENT ON `{db}`.* TO '{account}'@'%'",  # no TRIGGER
    )
    try:
        user = DbsealUser(tmp_path_factory.mktemp("restore-user"))
        repo = user.init()
        good = user.good_backup(repo, mariadb, db)
        wrong = user.secret_file("wrong.pw", "not-the-password")
        user.backup(repo, mariadb, db, password_file=wrong).error(21)
        (failed_empty,) = [b["id"] for b in user.listing(repo)["backups"] if b["id"] != good]

        strict = user.init("strict", "--policy", "dump_warnings=fail")
        pw = user.secret_file("notrig.pw", password)
        line = user.backup(strict, mariadb, db, user=account, password_file=pw).error(25)
        assert "TRIGGER privilege" in line and "warnings=fail" in line
        (failed_complete,) = [b["id"] for b in user.listing(strict)["backups"]]
        yield Backups(user, repo, db, good, failed_empty, strict, failed_complete)
    finally:
        run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`", f"DROP USER IF EXISTS '{account}'@'%'")


@pytest.fixture
def target_db(scratch_dbs: list[str]) -> str:
    """A fresh name to restore under (--rename-db), dropped afterwards."""
    name = f"dbseal_restored_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(name)
    return name


def copy_repo(backups: Backups, tmp_path: Path) -> Path:
    """A copy of the repository to damage."""
    return Path(shutil.copytree(backups.repo, tmp_path / "repo-copy"))


def test_failed_backups_are_refused_unless_allowed(
    backups: Backups, mariadb_restore: MariaDBSandbox, target_db: str
) -> None:
    user, repo, strict = backups.user, backups.repo, backups.failed_repo
    rename = ("--rename-db", f"{backups.db}={target_db}")

    line = user.restore(strict, backups.failed_complete, mariadb_restore, *rename).error(16)
    assert "recorded as failed" in line and "--allow-failed" in line
    assert target_db not in databases_on(mariadb_restore)

    user.restore(strict, backups.failed_complete, mariadb_restore, *rename, "--allow-failed").ok()
    assert fetch(mariadb_restore, f"SELECT id, v FROM `{target_db}`.t ORDER BY id") == [
        (1, "one"),
        (2, "two"),
    ]

    # a failed backup that holds no dump at all stays unrestorable, and applies nothing
    run_sql(mariadb_restore, f"DROP DATABASE `{target_db}`")
    user.restore(repo, backups.failed_empty, mariadb_restore, *rename).error(16)
    res = user.restore(repo, backups.failed_empty, mariadb_restore, *rename, "--allow-failed")
    assert "nothing to restore" in res.error(16)  # a failed backup's partial dump is removed
    assert target_db not in databases_on(mariadb_restore)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_found_before_anything_is_applied(
    backups: Backups, mariadb_restore: MariaDBSandbox, target_db: str, tmp_path: Path
) -> None:
    repo = copy_repo(backups, tmp_path)
    data = repo / "data" / f"{backups.good}.dbseal"
    flip_byte(data, data.stat().st_size // 2)

    res = backups.user.restore(
        repo, backups.good, mariadb_restore, "--rename-db", f"{backups.db}={target_db}"
    )
    line = res.error(6)
    assert "failed authentication" in line
    assert target_db not in databases_on(mariadb_restore)
    # in one pass the damage is still reported (after part of the dump may have been applied)
    res = backups.user.restore(
        repo,
        backups.good,
        mariadb_restore,
        "--rename-db",
        f"{backups.db}={target_db}",
        "--no-verify-first",
    )
    res.error(6)


def test_a_deleted_key_envelope(
    backups: Backups, mariadb_restore: MariaDBSandbox, target_db: str, tmp_path: Path
) -> None:
    repo = copy_repo(backups, tmp_path)
    (repo / "envelopes" / f"{backups.good}.env").unlink()
    res = backups.user.restore(
        repo, backups.good, mariadb_restore, "--rename-db", f"{backups.db}={target_db}"
    )
    line = res.error(14)
    assert f"envelope '{backups.good}.env' not found" in line
    assert target_db not in databases_on(mariadb_restore)
    # a backup that can no longer be opened is never `latest`
    latest = backups.user.restore(
        repo, "latest", mariadb_restore, "--rename-db", f"{backups.db}={target_db}"
    )
    assert latest.rc != 0 and backups.good not in latest.stderr.split("no successful")[0]
    assert target_db not in databases_on(mariadb_restore)


def test_the_wrong_identity(
    backups: Backups, mariadb_restore: MariaDBSandbox, target_db: str, tmp_path: Path
) -> None:
    other = DbsealUser(tmp_path / "other")
    res = other.run(
        "restore", "--repo", backups.repo, "latest",
        "--target", f"mysql://root@127.0.0.1:{mariadb_restore.port}",
        "--target-password-file", other.password_file(mariadb_restore),
        "--target-ssl-ca", mariadb_restore.ca_cert,
        "-i", other.identity, "--rename-db", f"{backups.db}={target_db}",
    )  # fmt: skip
    line = res.error(5)
    assert "x25519" in line
    assert target_db not in databases_on(mariadb_restore)


def test_no_verify_first_restores_a_good_backup(
    backups: Backups, mariadb_restore: MariaDBSandbox, target_db: str
) -> None:
    res = backups.user.restore(
        backups.repo,
        backups.good,
        mariadb_restore,
        "--rename-db",
        f"{backups.db}={target_db}",
        "--no-verify-first",
    ).ok()
    assert res.stdout.startswith(f"restored backup {backups.good}: ")
    want_tables, want_objects = manifest_stats(
        backups.user.show(backups.repo, backups.good)["manifest"]
    )
    got_tables, got_objects = server_stats(mariadb_restore, [backups.db], {backups.db: target_db})
    assert compare_stats(want_tables, got_tables) == []
    assert compare_objects(want_objects, got_objects) == []
    assert len(got_tables) == 1 and got_objects[0].triggers == ("t_bi",)


def test_database_not_in_the_backup_is_an_error(
    backups: Backups, mariadb_restore: MariaDBSandbox
) -> None:
    res = backups.user.restore(backups.repo, backups.good, mariadb_restore, "--database", "nosuch")
    line = res.error(2)
    assert "nosuch" in line and backups.db in line


def test_rename_of_a_database_not_in_the_backup_is_an_error(
    backups: Backups, mariadb: MariaDBSandbox, target_db: str
) -> None:
    """A typo in --rename-db must not turn a restore into a copy into production."""
    run_sql(mariadb, f"INSERT INTO `{backups.db}`.t (id) VALUES (3)")  # written after the backup
    try:
        res = backups.user.restore(
            backups.repo, backups.good, mariadb, "--rename-db", f"{backups.db}_typo={target_db}"
        )
        rows = fetch(mariadb, f"SELECT id FROM `{backups.db}`.t ORDER BY id")
        assert rows == [(1,), (2,), (3,)], "the original database was overwritten"
        res.error(2)
    finally:
        run_sql(mariadb, f"DELETE FROM `{backups.db}`.t WHERE id = 3")
