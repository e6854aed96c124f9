"""`dbseal restore` never replaces data unless told (--replace).

A database the restore would write into that exists and holds anything is refused with
exit 27 before any byte is applied, for every database of the backup (narrowed by
--database, under its --rename-db name); the target stays exactly as it was. An existing
empty database is used as it is. --replace drops each existing target database and lets the
dump create it again, so nothing old survives and the backup's character set is kept.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    DbsealUser,
    backed_up,
    databases_on,
    fetch,
    full_dump,
    root_password,
    run_sql,
    tls_target,
)
from dbseal.engines.mariadb import RenameFilter
from dbseal.engines.mariadb.parallel_sink import client_sink
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import RestoreFailed

pytestmark = pytest.mark.mariadb


@dataclass(frozen=True)
class Shop:
    """A repository with one backup of two databases ``a`` and ``b`` on ``mariadb``."""

    user: DbsealUser
    repo: Path
    a: str
    b: str
    backup: str


A_ROWS = [(1, "one"), (2, "two"), (3, "three")]
B_ROWS = [(10,), (20,)]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDBSandbox) -> Iterator[Shop]:
    tag = uuid.uuid4().hex[:8]
    a, b = f"dbseal_sa_{tag}", f"dbseal_sb_{tag}"
    with backed_up(
        tmp_path_factory.mktemp("safety-user"),
        mariadb,
        [a, b],
        f"CREATE DATABASE `{a}` CHARACTER SET latin1 COLLATE latin1_swedish_ci",
        f"CREATE TABLE `{a}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{a}`.t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        f"CREATE DATABASE `{b}`",
        f"CREATE TABLE `{b}`.n (id INT PRIMARY KEY)",
        f"INSERT INTO `{b}`.n VALUES (10), (20)",
    ) as (user, repo, bid):
        yield Shop(user, repo, a, b, bid)


@pytest.fixture
def on_target(mariadb_restore: MariaDBSandbox) -> Iterator[list[str]]:
    """Database names to drop from the restore server afterwards (only there)."""
    names: list[str] = []
    yield names
    run_sql(mariadb_restore, *(f"DROP DATABASE IF EXISTS `{n}`" for n in names))


def state(server: MariaDBSandbox, db: str) -> dict[str, Any]:
    """What a user would look at: tables and their rows, and the database's collation."""
    tables = [str(r[0]) for r in fetch(server, f"SHOW FULL TABLES FROM `{db}`")]
    return {
        "tables": sorted(tables),
        "rows": {t: fetch(server, f"SELECT * FROM `{db}`.`{t}` ORDER BY 1") for t in tables},
        "collation": fetch(
            server,
            "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            db,
        ),
    }


def occupy(server: MariaDBSandbox, db: str) -> None:
    """``db`` with other rows in ``t`` and a table the backup does not have."""
    run_sql(
        server,
        f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db}`.t VALUES (9, 'old')",
        f"CREATE TABLE `{db}`.extra (x INT)",
        f"INSERT INTO `{db}`.extra VALUES (42)",
    )


def test_restore_over_the_live_source_database_is_refused(
    shop: Shop, mariadb: MariaDBSandbox
) -> None:
    """Restoring a backup to the server it came from, without --rename-db, changes nothing."""
    run_sql(
        mariadb,
        f"INSERT INTO `{shop.a}`.t VALUES (4, 'after')",  # written after the backup
        f"CREATE TABLE `{shop.a}`.later (x INT)",
    )
    try:
        before = state(mariadb, shop.a), state(mariadb, shop.b)
        line = shop.user.restore(shop.repo, shop.backup, mariadb).error(27)
        assert shop.a in line and shop.b in line and "not empty" in line
        assert "--rename-db" in line and "--replace" in line and "nothing was restored" in line
        assert (state(mariadb, shop.a), state(mariadb, shop.b)) == before
        assert (4, "after") in before[0]["rows"]["t"] and "later" in before[0]["tables"]
    finally:
        run_sql(
            mariadb,
            f"DELETE FROM `{shop.a}`.t WHERE id = 4",
            f"DROP TABLE IF EXISTS `{shop.a}`.later",
        )


def test_only_the_second_database_exists_nothing_is_created(
    shop: Shop, mariadb_restore: MariaDBSandbox, on_target: list[str]
) -> None:
    on_target += [shop.a, shop.b]
    run_sql(
        mariadb_restore,
        f"CREATE DATABASE `{shop.b}`",
        f"CREATE TABLE `{shop.b}`.mine (x INT)",
        f"INSERT INTO `{shop.b}`.mine VALUES (7)",
    )
    before = state(mariadb_restore, shop.b)
    for extra in (("--jobs", "1"), ("--jobs", "2"), ("--no-verify-first",)):
        line = shop.user.restore(shop.repo, shop.backup, mariadb_restore, *extra).error(27)
        assert shop.b in line and shop.a not in line
        assert shop.a not in databases_on(mariadb_restore), "the first database was created"
        assert state(mariadb_restore, shop.b) == before


def test_rename_into_an_existing_database_is_refused(
    shop: Shop, mariadb_restore: MariaDBSandbox, on_target: list[str]
) -> None:
    copy = f"{shop.a}_copy"
    on_target += [copy, shop.a, shop.b]
    occupy(mariadb_restore, copy)
    before = state(mariadb_restore, copy)
    res = shop.user.restore(
        shop.repo, shop.backup, mariadb_restore, "--rename-db", f"{shop.a}={copy}"
    )
    assert copy in res.error(27)
    assert state(mariadb_restore, copy) == before
    assert not {shop.a, shop.b} & databases_on(mariadb_restore)


def test_an_existing_empty_database_is_used(
    shop: Shop, mariadb_restore: MariaDBSandbox, on_target: list[str]
) -> None:
    on_target += [shop.a, shop.b]
    run_sql(mariadb_restore, f"CREATE DATABASE `{shop.a}`")
    doc = shop.user.restore(shop.repo, shop.backup, mariadb_restore, "--json").ok().json()
    assert doc["databases"] == [shop.a, shop.b]
    assert doc["existing_empty"] == [shop.a]
    assert doc["created"] == [shop.b] and doc["replaced"] == []
    assert fetch(mariadb_restore, f"SELECT * FROM `{shop.a}`.t ORDER BY id") == A_ROWS
    assert fetch(mariadb_restore, f"SELECT * FROM `{shop.b}`.n ORDER BY id") == B_ROWS


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_replace_gives_exactly_the_backup(
    shop: Shop, mariadb_restore: MariaDBSandbox, on_target: list[str], jobs: str
) -> None:
    on_target += [shop.a, shop.b]
    occupy(mariadb_restore, shop.a)
    res = shop.user.restore(
        shop.repo, shop.backup, mariadb_restore, "--replace", "--jobs", jobs
    ).ok()
    assert f"replaced (old contents dropped): {shop.a}" in res.stdout
    assert f"created: {shop.b}" in res.stdout
    got = state(mariadb_restore, shop.a)
    assert got["tables"] == ["t"], "a table that is not in the backup survived"
    assert got["rows"]["t"] == A_ROWS
    assert got["collation"] == [("latin1_swedish_ci",)]  # the backup's CREATE DATABASE
    assert fetch(mariadb_restore, f"SELECT * FROM `{shop.b}`.n ORDER BY id") == B_ROWS


def test_replace_with_rename_and_database_touches_only_the_selected_target(
    shop: Shop, mariadb_restore: MariaDBSandbox, on_target: list[str]
) -> None:
    copy = f"{shop.a}_copy"
    on_target += [copy, shop.b]
    occupy(mariadb_restore, copy)
    occupy(mariadb_restore, shop.b)  # not selected: neither refused nor dropped
    other = state(mariadb_restore, shop.b)
    res = shop.user.restore(
        shop.repo, shop.backup, mariadb_restore,
        "--database", shop.a, "--rename-db", f"{shop.a}={copy}", "--replace", "--json",
    )  # fmt: skip
    doc = res.ok().json()
    assert doc["replaced"] == [copy] and doc["created"] == [] and doc["databases"] == [copy]
    got = state(mariadb_restore, copy)
    assert got["tables"] == ["t"] and got["rows"]["t"] == A_ROWS
    assert state(mariadb_restore, shop.b) == other
    assert shop.a not in databases_on(mariadb_restore)


def test_replace_drops_nothing_when_the_backup_fails_authentication(
    shop: Shop, mariadb_restore: MariaDBSandbox, on_target: list[str], tmp_path: Path
) -> None:
    on_target += [shop.a, shop.b]
    occupy(mariadb_restore, shop.a)
    before = state(mariadb_restore, shop.a)
    repo = Path(shutil.copytree(shop.repo, tmp_path / "damaged"))
    data = repo / "data" / f"{shop.backup}.dbseal"
    damaged = bytearray(data.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    data.write_bytes(bytes(damaged))
    res = shop.user.restore(repo, shop.backup, mariadb_restore, "--replace")
    assert "failed authentication" in res.error(6)
    assert state(mariadb_restore, shop.a) == before, "--replace dropped data before pass 1 ended"
    assert shop.b not in databases_on(mariadb_restore)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_database_that_appears_after_the_check_stops_the_restore(
    shop: Shop,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    on_target: list[str],
    jobs: int,
) -> None:
    """The dump's CREATE DATABASE of a name found free is strict: a late newcomer is refused."""
    on_target.append(shop.a)
    data, _ = full_dump(mariadb, shop.a)
    occupy(mariadb_restore, shop.a)  # created by someone else after restore's check
    before = state(mariadb_restore, shop.a)
    rename = RenameFilter(fresh={shop.a})
    sink = client_sink(tls_target(mariadb_restore), root_password(mariadb_restore), jobs)
    with pytest.raises(RestoreFailed) as info:
        sink.write(rename.feed(data))
        sink.write(rename.flush())
        sink.close()
    sink.abort()
    assert "database exists" in info.value.message
    assert state(mariadb_restore, shop.a) == before


def test_the_help_says_replace_destroys(shop: Shop) -> None:
    text = " ".join(shop.user.run("restore", "--help").ok().stdout.split())
    assert "--replace DESTROYS the current contents" in text
