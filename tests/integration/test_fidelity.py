"""Restore fidelity: every object of an awkward schema comes back exactly.

The schema (:mod:`awkward_schema`) is backed up with `dbseal backup` from the session
`mariadb` server and restored with `dbseal restore` into the fresh `mariadb_restore`
server under the same name; then the two are compared object by object, with exact
values (FLOAT bits, history rows, sequence and AUTO_INCREMENT counters, definers...).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from awkward_schema import accounts, create_awkward, describe, differences, drop_awkward
from test_verify import reseal

from conftest import DbsealUser, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


@dataclass(frozen=True)
class Awkward:
    db: str
    owner: str


@pytest.fixture(scope="module")
def awkward(mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox) -> Iterator[Awkward]:
    tag = uuid.uuid4().hex[:8]
    schema = Awkward(f"dbseal_awk_{tag}", f"awk_{tag}")
    create_awkward(mariadb, schema.db, schema.owner)
    try:
        yield schema
    finally:
        for server in (mariadb, mariadb_restore):
            drop_awkward(server, schema.db, schema.owner)


def _assert_same(source: MariaDBSandbox, restored: MariaDBSandbox, db: str) -> None:
    diffs = differences(describe(source, db), describe(restored, db))
    assert not diffs, "\n".join(diffs)


def _fresh(server: MariaDBSandbox, schema: Awkward) -> None:
    drop_awkward(server, schema.db, schema.owner)


def test_every_object_comes_back_exactly(
    user: DbsealUser, mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, awkward: Awkward
) -> None:
    _fresh(mariadb_restore, awkward)
    repo = user.init()
    bid = user.good_backup(repo, mariadb, awkward.db)
    user.restore(repo, bid, mariadb_restore).ok()
    _assert_same(mariadb, mariadb_restore, awkward.db)


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_history_rows_come_back_with_any_jobs(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    awkward: Awkward,
    jobs: str,
) -> None:
    _fresh(mariadb_restore, awkward)
    repo = user.init()
    bid = user.good_backup(repo, mariadb, awkward.db)
    user.restore(repo, bid, mariadb_restore, "--jobs", jobs).ok()
    want, got = describe(mariadb, awkward.db), describe(mariadb_restore, awkward.db)
    assert got["table history"]["rows_all_time"] == 5
    assert got["table history"] == want["table history"]
    assert got["table history_big"]["rows_all_time"] == 24000
    assert got["table history_big"] == want["table history_big"]


def test_whole_server_backup_keeps_accounts_restored_only_when_asked(
    user: DbsealUser, mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, awkward: Awkward
) -> None:
    _fresh(mariadb_restore, awkward)
    repo = user.init()
    bid = user.good_backup(repo, mariadb)  # no database in the URL: the whole server
    manifest = user.show(repo, bid)["manifest"]
    assert manifest["contents"]["accounts"] is True
    shown = user.run("show", "--repo", repo, bid).ok().stdout
    assert "accounts (users, roles, grants): yes" in shown

    user.restore(repo, bid, mariadb_restore, "--database", awkward.db).ok()
    assert accounts(mariadb_restore, awkward.owner, awkward.db) == {}  # never applied unasked
    with pytest.raises(pymysql.err.OperationalError) as no_definer:
        fetch(mariadb_restore, f"SELECT COUNT(*) FROM `{awkward.db}`.v_nums")
    assert no_definer.value.args[0] == 1449  # the definer does not exist

    run_sql(mariadb_restore, f"DROP DATABASE `{awkward.db}`")
    res = user.restore(repo, bid, mariadb_restore, "--database", awkward.db, "--accounts").ok()
    assert f"'{awkward.owner}'@'%'" in res.stdout
    assert accounts(mariadb_restore, awkward.owner, awkward.db) == accounts(
        mariadb, awkward.owner, awkward.db
    )
    assert fetch(mariadb_restore, f"SELECT COUNT(*) FROM `{awkward.db}`.v_nums") == [(3,)]
    assert accounts(mariadb, awkward.owner, awkward.db).keys() == {
        f"'{awkward.owner}'@'%'",
        f"'{awkward.owner}_role'",
        "PUBLIC",
    }  # the comparison compared something
    _assert_same(mariadb, mariadb_restore, awkward.db)


def test_database_backup_has_no_accounts_unless_asked(
    user: DbsealUser, mariadb: MariaDBSandbox, awkward: Awkward
) -> None:
    repo = user.init()
    plain = user.good_backup(repo, mariadb, awkward.db)
    assert user.show(repo, plain)["manifest"]["contents"]["accounts"] is False
    user.backup(repo, mariadb, awkward.db, extra=["--accounts"]).ok()
    (asked,) = [b["id"] for b in user.listing(repo)["backups"] if b["id"] != plain]
    assert user.show(repo, asked)["manifest"]["contents"]["accounts"] is True


def test_excluded_tables_and_databases_are_left_out_and_recorded(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    awkward: Awkward,
    scratch_dbs: list[str],
) -> None:
    _fresh(mariadb_restore, awkward)
    db = awkward.db
    repo = user.init()
    excludes = ["--exclude-table", f"{db}.history*", "--exclude-table", f"{db}.v_inv"]
    user.backup(repo, mariadb, db, extra=excludes).ok()
    (bid,) = [b["id"] for b in user.listing(repo)["backups"]]
    contents = user.show(repo, bid)["manifest"]["contents"]
    assert contents["excluded_tables"] == [f"{db}.history", f"{db}.history_big", f"{db}.v_inv"]
    assert f"excluded tables: {db}.history" in user.run("show", "--repo", repo, bid).ok().stdout
    user.restore(repo, bid, mariadb_restore).ok()
    want = describe(mariadb, db)
    got = describe(mariadb_restore, db)
    assert {"table history", "table history_big", "view v_inv"} <= want.keys()
    for key in ("table history", "table history_big", "view v_inv"):
        del want[key]
    assert differences(want, got) == []

    line = user.backup(repo, mariadb, db, extra=["--exclude-table", f"{db}.nothing_*"]).error(2)
    assert "match nothing" in line

    other = f"dbseal_keep_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(other)
    run_sql(mariadb, f"CREATE DATABASE `{other}`", f"CREATE TABLE `{other}`.t (i INT)")
    res = user.backup(repo, mariadb, extra=["--exclude-database", "dbseal_awk_*", "--json"]).ok()
    manifest = user.show(repo, res.json()["id"])["manifest"]
    assert db in manifest["contents"]["excluded_databases"]
    assert other in manifest["databases"] and db not in manifest["databases"]


def _without_exact_floats(plaintext: bytes) -> bytes:
    """The dump exactly as mariadb-dump printed it: dbseal's FLOAT section cut out."""
    start = plaintext.index(b"--\n-- dbseal: exact FLOAT values")
    last = plaintext.rindex(b"\n-- Dump completed")
    return plaintext[:start] + plaintext[last + 1 :]


def test_verify_sees_stored_values_the_dump_text_hides(
    user: DbsealUser, mariadb: MariaDBSandbox, awkward: Awkward, tmp_path: Path
) -> None:
    repo = user.init()
    bid = user.good_backup(repo, mariadb, awkward.db)
    verify = ("verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity)
    user.run(*verify).ok()
    # Restored without the exact values, FLOAT 1.0000001 comes back as 1: the dump text
    # (and so every dump digest) is the same, the stored values are not.
    reseal(repo, bid, user.identity, _without_exact_floats)
    res = user.run(*verify, "--json", timeout=300)
    assert res.rc == 31, res.stdout + res.stderr
    assert f"table {awkward.db}.nums has other stored values" in res.stdout
    text = user.run(*verify, timeout=300).stdout
    assert re.search(
        rf"{awkward.db}\.nums: 4 rows \(expected 4, .*stored values !=\) MISMATCH", text
    )


def test_float_values_it_cannot_fix_are_announced_never_silent(
    user: DbsealUser, mariadb: MariaDBSandbox, scratch_dbs: list[str]
) -> None:
    db = f"dbseal_nokey_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(db)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.loose (f FLOAT, note VARCHAR(10))",  # no key to address rows
        f"INSERT INTO `{db}`.loose VALUES (1.0000001, 'a'), (1.0000001, 'a')",
    )
    repo = user.init()
    res = user.backup(repo, mariadb, db).ok()
    assert "warning: inexact values: FLOAT columns" in res.stdout
    assert f"{db}.loose (f)" in res.stdout and "no primary or NOT NULL unique key" in res.stdout
    (bid,) = [b["id"] for b in user.listing(repo)["backups"]]
    manifest = user.show(repo, bid)["manifest"]
    assert manifest["status"] == "warnings"
    assert manifest["contents"]["inexact_tables"] == [f"{db}.loose"]
    assert "inexact: FLOAT columns" in user.run("show", "--repo", repo, bid).ok().stdout
    verify = ("verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity)
    out = user.run(*verify, timeout=300).ok().stdout
    assert "6 significant digits only" in out


def test_accounts_can_be_asked_for_in_the_config_file(
    user: DbsealUser, mariadb: MariaDBSandbox, awkward: Awkward
) -> None:
    repo = user.init()
    config = user.home / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n\n[sources.awk]\n'
        f'url = "mysql://root@127.0.0.1:{mariadb.port}/{awkward.db}"\n'
        f'password_file = "{user.password_file(mariadb)}"\n'
        f'ssl_ca = "{mariadb.ca_cert}"\nssl_mode = "verify-identity"\naccounts = true\n'
    )
    first = user.run("backup", "awk", "--config", config, "--json").ok().json()["id"]
    second = user.run("backup", "awk", "--config", config, "--no-accounts", "--json").ok()
    second = second.json()["id"]
    assert user.show(repo, first)["manifest"]["contents"]["accounts"] is True
    assert user.show(repo, second)["manifest"]["contents"]["accounts"] is False


def test_the_accounts_section_is_read_back_whatever_the_block_boundaries() -> None:
    from dbseal.engines.mariadb.accounts import Account, AccountsTap, account_section

    accounts = [
        Account("'r'", True, "CREATE ROLE 'r'", ("GRANT SELECT ON `d`.* TO `r`",)),
        Account("'a\\'b'@'%'", False, "CREATE USER `a'b`@`%`", ("GRANT `r` TO `a'b`@`%`",)),
    ]
    stream = b"-- Dump completed on x\n" + account_section(accounts) + b"-- Dump completed\n"
    for size in (1, 7, 64, len(stream)):
        tap = AccountsTap()
        out = b"".join(tap.feed(stream[i : i + size]) for i in range(0, len(stream), size))
        assert out + tap.flush() == stream
        assert tap.accounts == accounts, size


def test_exact_values_follow_a_renamed_database_and_a_scratch_verify(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    awkward: Awkward,
    scratch_dbs: list[str],
) -> None:
    renamed = f"{awkward.db}_copy"
    scratch_dbs.append(renamed)
    repo = user.init()
    bid = user.good_backup(repo, mariadb, awkward.db)
    user.restore(repo, bid, mariadb_restore, "--rename-db", f"{awkward.db}={renamed}").ok()
    want, got = describe(mariadb, awkward.db), describe(mariadb_restore, renamed)
    for table in ("table nums", "table strs", "table history", "table temporal"):
        assert got[table] == want[table], table
    scratch = f"mysql://root@127.0.0.1:{mariadb_restore.port}"
    user.run(
        "verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity,
        "--scratch", scratch, "--scratch-password-file", user.password_file(mariadb_restore),
        "--scratch-ssl-ca", mariadb_restore.ca_cert, timeout=300,
    ).ok()  # fmt: skip


def test_a_whole_server_backup_that_cannot_read_accounts_says_so(
    user: DbsealUser, mariadb: MariaDBSandbox, awkward: Awkward
) -> None:
    reader = f"reader_{uuid.uuid4().hex[:8]}"
    run_sql(
        mariadb,
        f"CREATE USER '{reader}'@'%' IDENTIFIED BY 'pw-{reader}'",
        f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, EXECUTE ON `{awkward.db}`.* TO '{reader}'@'%'",
        f"GRANT SELECT ON mysql.proc TO '{reader}'@'%'",  # routines, but not the accounts
    )
    try:
        repo = user.init()
        pw = user.secret_file("reader.pw", f"pw-{reader}")
        res = user.backup(repo, mariadb, user=reader, password_file=pw, extra=["--json"]).ok()
        doc = res.json()
        assert doc["status"] == "warnings"
        assert any(r.startswith("accounts were not backed up: ") for r in doc["reasons"])
        assert user.show(repo, doc["id"])["manifest"]["contents"]["accounts"] is False
    finally:
        run_sql(mariadb, f"DROP USER IF EXISTS '{reader}'@'%'")
