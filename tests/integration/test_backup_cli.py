"""`dbseal backup` and `dbseal restore` as a user runs them, against real MariaDB servers.

keygen -> init -> backup -> list/show -> DROP DATABASE -> restore, then the restored
database is compared with what the backup's manifest recorded (row counts and checksums
table by table, views, triggers and routines), and the objects are used. Also: several
databases restored under other names or one at a time, a password sealed in the
repository, dbseal.toml, concurrent backups into one repository, and --json.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    DbsealUser,
    databases_on,
    fetch,
    manifest_stats,
    redump,
    run_sql,
    server_stats,
)
from dbseal.engines.mariadb import compare_objects, compare_stats
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb

EMOJI_TEXT = "Grüße 🦭 👩‍👩‍👧 «ok» 'single' \"double\" back\\slash\ttab\nnewline"
BLOB = b"\x00\x01\x02\n\r\n\x1a\\'\"\xff\x00end"
LARGE = os.urandom(2_000_000)  # one row of ~2 MB, incompressible


def tag() -> str:
    return uuid.uuid4().hex[:8]


def create_typed_db(server: MariaDBSandbox, db: str) -> None:
    """Every common column type, NULLs, empty values, a 2 MB row, and each kind of object."""
    run_sql(
        server,
        f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4",
        f"""CREATE TABLE `{db}`.kinds (
            id INT PRIMARY KEY, i INT, big BIGINT, dec_v DECIMAL(20, 6), dbl DOUBLE,
            d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL,
            txt TEXT CHARACTER SET utf8mb4, bin BLOB)""",
        (
            f"INSERT INTO `{db}`.kinds VALUES (1, -2147483648, 9223372036854775807, "
            "-12345678901234.123456, 3.141592653589793, '1000-01-01', "
            "'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', %s, %s)",
            (EMOJI_TEXT, BLOB),
        ),
        f"INSERT INTO `{db}`.kinds (id) VALUES (2)",  # NULL everywhere else
        f"INSERT INTO `{db}`.kinds VALUES (3, 0, 0, 0, -1.7976931348623157e308, "
        "'2024-02-29', '2024-02-29 12:00:00', '1970-01-01 00:00:01', '', '')",
        f"CREATE TABLE `{db}`.large (id INT PRIMARY KEY, note VARCHAR(20), payload LONGBLOB)",
        (f"INSERT INTO `{db}`.large VALUES (1, 'two megabytes', %s)", (LARGE,)),
        f"CREATE VIEW `{db}`.kinds_v AS SELECT id, txt FROM `{db}`.kinds WHERE id < 100",
        f"CREATE TRIGGER `{db}`.kinds_bi BEFORE INSERT ON `{db}`.kinds FOR EACH ROW "
        "SET NEW.txt = COALESCE(NEW.txt, 'set by trigger')",
        f"CREATE PROCEDURE `{db}`.kinds_count() SELECT COUNT(*) FROM `{db}`.kinds",
        f"CREATE FUNCTION `{db}`.add_tax(x DECIMAL(10, 2)) RETURNS DECIMAL(10, 2) "
        "DETERMINISTIC RETURN x * 1.2",
    )


def contents(server: MariaDBSandbox, db: str) -> dict[str, Any]:
    """What a user would look at: every value of kinds, the big row's hash, the view."""
    return {
        "kinds": fetch(server, f"SELECT * FROM `{db}`.kinds ORDER BY id"),
        "large": fetch(server, f"SELECT id, note, SHA2(payload, 256) FROM `{db}`.large"),
        "view": fetch(server, f"SELECT * FROM `{db}`.kinds_v ORDER BY id"),
    }


def test_round_trip_keeps_every_value_and_object(
    user: DbsealUser, mariadb: MariaDBSandbox, scratch_dbs: list[str]
) -> None:
    db = f"dbseal_rt_{tag()}"
    scratch_dbs.append(db)
    create_typed_db(mariadb, db)
    before = contents(mariadb, db)
    assert before["kinds"][0][8] == EMOJI_TEXT and before["kinds"][0][9] == BLOB
    assert before["large"][0][2] == hashlib.sha256(LARGE).hexdigest()
    repo = user.init()

    res = user.backup(repo, mariadb, db).ok()
    bid = res.stdout.split()[1]
    assert res.stdout.startswith(f"backup {bid} ok: ") and res.stderr == ""

    listing = user.listing(repo)
    assert listing["latest"] == bid
    (row,) = listing["backups"]
    assert row["id"] == bid and row["status"] == "ok" and row["databases"] == [db]

    shown = user.show(repo, "latest")
    m = shown["manifest"]
    assert m["id"] == bid and m["status"] == "ok" and m["reasons"] == []
    assert m["server_version"] == mariadb.version
    assert m["tls"]["cipher"] and m["tls"]["version"].startswith("TLS")
    assert m["source"]["address"] == f"root@127.0.0.1:{mariadb.port}"
    assert m["sizes"]["raw"] > 2 * len(LARGE)  # --hex-blob doubles the big row
    assert 0 < m["sizes"]["compressed"] <= m["sizes"]["stored"] < m["sizes"]["raw"]
    assert [k["recipient"] for k in m["keys"]] == [user.recipient]
    assert {t["table"]: t["rows"] for t in m["tables"]} == {"kinds": 3, "large": 1}
    assert all(t["method"] == "dump-sha256" and t["checksum"] is not None for t in m["tables"])
    (objects,) = m["objects"]
    assert objects["views"] == ["kinds_v"] and objects["triggers"] == ["kinds_bi"]
    assert objects["procedures"] == ["kinds_count"] and objects["functions"] == ["add_tax"]
    assert shown["log"]["reasons"] == []
    want_tables, want_objects = manifest_stats(m)
    source_tables, source_objects = server_stats(mariadb, [db])
    assert compare_stats(want_tables, source_tables) == []
    assert compare_objects(want_objects, source_objects) == []

    run_sql(mariadb, f"DROP DATABASE `{db}`")
    assert db not in databases_on(mariadb)
    res = user.restore(repo, "latest", mariadb).ok()
    assert res.stdout.startswith(f"restored backup {bid}: ")

    got_tables, got_objects = server_stats(mariadb, [db])
    assert {(t.table, t.rows) for t in got_tables} == {(t.table, t.rows) for t in want_tables}
    assert redump(mariadb, [db]) == {(t.database, t.table): t.checksum for t in want_tables}
    assert compare_objects(want_objects, got_objects) == []
    assert contents(mariadb, db) == before
    # the objects work, not only exist
    assert fetch(mariadb, f"SELECT `{db}`.add_tax(10)") == [(decimal.Decimal("12.00"),)]
    assert fetch(mariadb, f"CALL `{db}`.kinds_count()") == [(3,)]
    run_sql(mariadb, f"INSERT INTO `{db}`.kinds (id) VALUES (100)")
    assert fetch(mariadb, f"SELECT txt FROM `{db}`.kinds WHERE id = 100") == [("set by trigger",)]


def create_pair(server: MariaDBSandbox, db1: str, db2: str) -> None:
    run_sql(
        server,
        f"CREATE DATABASE `{db1}`",
        f"CREATE DATABASE `{db2}`",
        f"CREATE TABLE `{db1}`.a (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db1}`.a VALUES (1, 'one'), (2, 'two')",
        f"CREATE VIEW `{db1}`.a_v AS SELECT v FROM `{db1}`.a",
        f"CREATE TABLE `{db2}`.b (x INT)",
        f"INSERT INTO `{db2}`.b VALUES (10), (20), (30)",
        f"CREATE TRIGGER `{db2}`.b_bi BEFORE INSERT ON `{db2}`.b FOR EACH ROW SET NEW.x = NEW.x + 1",
    )


def test_several_databases_restored_under_new_names_or_one_at_a_time(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    scratch_dbs: list[str],
) -> None:
    t = tag()
    db1, db2, x1, x2 = f"dbseal_m1_{t}", f"dbseal_m2_{t}", f"dbseal_x1_{t}", f"dbseal_x2_{t}"
    scratch_dbs += [db1, db2, x1, x2]
    create_pair(mariadb, db1, db2)
    repo = user.init()
    bid = user.good_backup(repo, mariadb, db1, db2)
    m = user.show(repo, bid)["manifest"]
    assert m["databases"] == [db1, db2]
    want_tables, want_objects = manifest_stats(m)

    user.restore(
        repo, bid, mariadb_restore, "--rename-db", f"{db1}={x1}", "--rename-db", f"{db2}={x2}"
    ).ok()
    present = databases_on(mariadb_restore)
    assert {x1, x2} <= present and not {db1, db2} & present
    rename = {db1: x1, db2: x2}
    got_tables, got_objects = server_stats(mariadb_restore, [db1, db2], rename)
    assert compare_stats(want_tables, got_tables) == []
    assert compare_objects(want_objects, got_objects) == []
    assert fetch(mariadb_restore, f"SELECT * FROM `{x1}`.a_v ORDER BY v") == [("one",), ("two",)]
    run_sql(mariadb_restore, f"INSERT INTO `{x2}`.b VALUES (1)")  # the trigger lives in x2
    assert fetch(mariadb_restore, f"SELECT COUNT(*) FROM `{x2}`.b WHERE x = 2") == [(1,)]

    user.restore(repo, bid, mariadb_restore, "--database", db2).ok()
    present = databases_on(mariadb_restore)
    assert db2 in present and db1 not in present
    got_tables, got_objects = server_stats(mariadb_restore, [db2])
    assert compare_stats([s for s in want_tables if s.database == db2], got_tables) == []
    assert compare_objects([o for o in want_objects if o.database == db2], got_objects) == []


@pytest.fixture
def small_db(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> str:
    db = f"dbseal_small_{tag()}"
    scratch_dbs.append(db)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db}`.t VALUES (1, 'a'), (2, NULL), (3, 'c')",
    )
    return db


def test_password_sealed_in_the_repository(
    user: DbsealUser, mariadb: MariaDBSandbox, small_db: str
) -> None:
    repo = user.init()
    res = user.run(
        "secret", "set", "--repo", repo, "dbpw", "--value-file", user.password_file(mariadb)
    ).ok()
    assert "dbpw" in res.stdout and mariadb.root_password not in res.stdout + res.stderr
    assert user.run("secret", "list", "--repo", repo).ok().stdout.split() == ["dbpw"]
    password = mariadb.root_password.encode()
    assert not any(password in p.read_bytes() for p in repo.rglob("*") if p.is_file())

    source = [
        "backup", "--repo", repo, "--source", f"mysql://root@127.0.0.1:{mariadb.port}/{small_db}",
        "--ssl-ca", mariadb.ca_cert, "--password-secret", "dbpw",
    ]  # fmt: skip
    # without the identity the sealed password cannot be opened; nothing is recorded
    line = user.run(*source).error(5)
    assert mariadb.root_password not in line
    assert user.listing(repo)["backups"] == []

    res = user.run(*source, "-i", user.identity).ok()
    bid = res.stdout.split()[1]
    assert user.listing(repo)["latest"] == bid
    assert user.show(repo, bid)["manifest"]["status"] == "ok"


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_named_source_from_dbseal_toml(
    user: DbsealUser, mariadb: MariaDBSandbox, small_db: str, tmp_path: Path
) -> None:
    repo = user.init()
    user.run(
        "secret", "set", "--repo", repo, "prod-db", "--value-file", user.password_file(mariadb)
    ).ok()
    config = write_config(
        user.home / "dbseal.toml",
        f"""\
repository = "{repo}"
identity_files = ["{user.identity}"]

[sources.prod]
url = "mysql://root@127.0.0.1:{mariadb.port}/{small_db}"
password_secret = "prod-db"
ssl_ca = "{mariadb.ca_cert}"
ssl_mode = "verify-identity"
""",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    first = user.run("backup", "prod", "--config", config, cwd=elsewhere).ok()
    second = user.run("backup", "prod", cwd=user.home).ok()  # ./dbseal.toml
    ids = {first.stdout.split()[1], second.stdout.split()[1]}

    listing = user.run("list", "--json", cwd=user.home).ok().json()  # repository from the file
    assert {b["id"] for b in listing["backups"]} == ids
    assert {(b["name"], b["status"]) for b in listing["backups"]} == {("prod", "ok")}
    assert listing["latest"] == second.stdout.split()[1]

    line = user.run("backup", "staging", cwd=user.home).error(2)
    assert "no source 'staging'" in line and "prod" in line


def test_a_password_in_dbseal_toml_is_refused(
    user: DbsealUser, mariadb: MariaDBSandbox, small_db: str
) -> None:
    repo = user.init()
    config = write_config(
        user.home / "bad.toml",
        f"""\
repository = "{repo}"

[sources.prod]
url = "mysql://root@127.0.0.1:{mariadb.port}/{small_db}"
password = "{mariadb.root_password}"
""",
    )
    line = user.run("backup", "prod", "--config", config).error(29)  # ConfigError
    assert "sources.prod.password" in line and mariadb.root_password not in line
    assert user.listing(repo)["backups"] == []


def test_concurrent_backups_into_one_repository(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    small_db: str,
    scratch_dbs: list[str],
) -> None:
    repo = user.init()
    args = user.backup_args(repo, mariadb, small_db)
    procs = [user.spawn(*args) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
    ids = [out.decode().split()[1] for out, _ in outputs]
    assert len(set(ids)) == 4

    listing = user.listing(repo)
    assert sorted(b["id"] for b in listing["backups"]) == sorted(ids)
    assert {b["status"] for b in listing["backups"]} == {"ok"}
    assert listing["latest"] in ids

    chosen = sorted(ids)[1]
    copy = f"{small_db}_c"
    scratch_dbs.append(copy)
    user.restore(repo, chosen, mariadb_restore, "--rename-db", f"{small_db}={copy}").ok()
    want_tables, _ = manifest_stats(user.show(repo, chosen)["manifest"])
    got_tables, _ = server_stats(mariadb_restore, [small_db], {small_db: copy})
    assert len(got_tables) == 1 and compare_stats(want_tables, got_tables) == []


def test_json_output(user: DbsealUser, mariadb: MariaDBSandbox, small_db: str) -> None:
    repo = user.init()
    res = user.backup(repo, mariadb, small_db, extra=["--json"]).ok()
    result = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert result == {"id": result["id"], "status": "ok", "reasons": [], "storage_retries": 0}
    events = [json.loads(line) for line in res.stderr.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "backup.start" and kinds[-1] == "backup.end" and "progress" in kinds
    assert all("time" in e for e in events)
    assert events[0]["id"] == events[-1]["id"] == result["id"]
    assert events[-1]["status"] == "ok"
    assert user.listing(repo)["latest"] == result["id"]


def test_a_passphrase_given_to_backup_is_used_or_refused(
    user: DbsealUser, mariadb: MariaDBSandbox, small_db: str, scratch_dbs: list[str]
) -> None:
    repo = user.init()
    passphrase = user.secret_file("backup.pass", f"correct horse {tag()}")
    res = user.backup(repo, mariadb, small_db, extra=["--passphrase-file", passphrase])
    if res.rc != 0:  # refusing the option is fine, and then nothing may be recorded
        res.error(2)
        assert user.listing(repo)["backups"] == []
        return
    copy = f"{small_db}_pp"
    scratch_dbs.append(copy)
    user.run(
        "restore", "--repo", repo, "latest",
        "--target", f"mysql://root@127.0.0.1:{mariadb.port}",
        "--target-password-file", user.password_file(mariadb),
        "--target-ssl-ca", mariadb.ca_cert,
        "--passphrase-file", passphrase, "--rename-db", f"{small_db}={copy}",
    ).ok()  # fmt: skip
