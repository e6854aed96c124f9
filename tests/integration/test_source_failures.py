"""Dumps that go wrong say so: bad login, missing privileges, a dying server or dump program."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import DumpPolicy, DumpResult, MysqldumpSource, parse_mysql_url
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.engines.mariadb.tools import Tool
from dbseal.engines.mariadb.versions import Version
from dbseal.errors import ClientTooOld, DatabaseError

pytestmark = pytest.mark.mariadb


def target(server: MariaDBSandbox, db: str, user: str = "root") -> MySQLTarget:
    return parse_mysql_url(
        f"mysql://{user}@127.0.0.1:{server.port}/{db}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )


def root_source(server: MariaDBSandbox, db: str, **policy: object) -> MysqldumpSource:
    return MysqldumpSource(
        target(server, db),
        Secret(server.root_password.encode()),
        DumpPolicy(**policy),  # type: ignore[arg-type]
    )


def dump(source: MysqldumpSource) -> tuple[bytes, DumpResult]:
    with source.start() as run:
        data = run.read()
        return data, run.finish()


def test_wrong_password_fails_before_dumping(mariadb: MariaDBSandbox, big_db: str) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex
    source = MysqldumpSource(target(mariadb, big_db), Secret(wrong.encode()))
    with pytest.raises(DatabaseError) as info:
        source.start()
    assert info.value.exit_code == 21
    assert "access denied" in info.value.message
    assert wrong not in info.value.one_line()


@pytest.fixture
def limited_users(
    mariadb: MariaDBSandbox, scratch_dbs: list[str]
) -> Iterator[tuple[str, str, str]]:
    """A database with a view and a trigger; users with SELECT only, and with all but TRIGGER."""
    tag = uuid.uuid4().hex[:8]
    db, narrow, almost = f"dbseal_priv_{tag}", f"narrow_{tag}", f"almost_{tag}"
    scratch_dbs.append(db)
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")  # sandbox connections do not autocommit
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1), (2)")
        cur.execute(f"CREATE VIEW `{db}`.v AS SELECT id FROM `{db}`.t")
        cur.execute(f"CREATE TRIGGER `{db}`.tr BEFORE INSERT ON `{db}`.t FOR EACH ROW SET @x = 1")
        cur.execute(f"CREATE PROCEDURE `{db}`.p() SELECT 1")
        for user in (narrow, almost):
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{tag}'")
        cur.execute(f"GRANT SELECT ON `{db}`.* TO '{narrow}'@'%'")
        cur.execute(f"GRANT SELECT, SHOW VIEW, EVENT ON `{db}`.* TO '{almost}'@'%'")
    yield db, narrow, almost
    with mariadb.connect() as conn, conn.cursor() as cur:
        for user in (narrow, almost):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_missing_show_view_is_an_error_line_and_a_failed_dump(
    mariadb: MariaDBSandbox, limited_users: tuple[str, str, str]
) -> None:
    db, narrow, _ = limited_users
    pw = Secret(f"pw-{narrow.split('_')[1]}".encode())
    _, result = dump(MysqldumpSource(target(mariadb, db, narrow), pw))
    assert result.status == "failed"
    assert result.exit_code == 2
    assert any("exited with status 2" in r for r in result.reasons)
    assert any("SHOW VIEW command denied" in r and "(1142)" in r for r in result.reasons)
    assert any("completion marker" in r for r in result.reasons)
    assert result.messages.errors == 1
    assert b"SHOW VIEW command denied" in result.stderr
    assert result.tables == ()  # statistics of a failed dump are not kept


def test_missing_trigger_privilege_is_silent_in_mariadb_dump_but_not_here(
    mariadb: MariaDBSandbox, limited_users: tuple[str, str, str]
) -> None:
    db, _, almost = limited_users
    pw = Secret(f"pw-{almost.split('_')[1]}".encode())
    data, result = dump(MysqldumpSource(target(mariadb, db, almost), pw))
    # mariadb-dump itself: exit 0, no message, completion marker, and no trigger, no routine
    assert result.exit_code == 0 and result.stderr == b""
    assert data.rstrip().rsplit(b"\n", 1)[-1].startswith(b"-- Dump completed")
    assert b"TRIGGER" not in data and b"PROCEDURE" not in data
    # dbseal: a backup with warnings that say what is missing and why
    assert result.status == "warnings"
    assert any("TRIGGER privilege" in r and db in r for r in result.reasons)
    assert any("routine definitions" in r for r in result.reasons)
    assert result.snapshot == "separate"  # no RELOAD either: said so too
    assert any("separate snapshot" in r for r in result.reasons)

    _, strict = dump(MysqldumpSource(target(mariadb, db, almost), pw, DumpPolicy(warnings="fail")))
    assert strict.status == "failed"
    assert any("warnings=fail" in r for r in strict.reasons)


def test_dump_program_killed_mid_stream(mariadb: MariaDBSandbox, big_db: str) -> None:
    with root_source(mariadb, big_db).start() as run:
        first = run.read(1 << 20)
        assert len(first) == 1 << 20
        os.kill(run.pid, signal.SIGKILL)
        rest = run.read()
        result = run.finish()
    assert result.status == "failed"
    assert result.exit_code == -signal.SIGKILL
    assert any("killed by signal SIGKILL" in r for r in result.reasons)
    assert any("completion marker" in r for r in result.reasons)
    assert result.raw_bytes == len(first) + len(rest) < 24_000_000


def test_server_killed_mid_dump(mariadb_binaries: tuple[str, str], tmp_path: Path) -> None:
    with MariaDBSandbox(parent_dir=tmp_path) as server:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("SET autocommit = 1")  # sandbox connections do not autocommit
            cur.execute("CREATE DATABASE doomed")
            cur.execute("CREATE TABLE doomed.big (id INT PRIMARY KEY, pad VARCHAR(1000))")
            cur.execute(
                "INSERT INTO doomed.big SELECT seq, REPEAT(MD5(seq), 31) FROM doomed.seq_1_to_50000"
            )
        with root_source(server, "doomed").start() as run:
            assert run.read(1 << 20)
            server.kill()
            rest = run.read()
            result = run.finish()
    assert result.status == "failed"
    # over TLS: "Error 2026: TLS/SSL error: unexpected eof ... when dumping table `big` at row: N"
    assert result.exit_code == 3
    assert any("exited with status 3" in r for r in result.reasons)
    assert any("when dumping table `big` at row" in r for r in result.reasons), result.reasons
    assert any("completion marker" in r for r in result.reasons)
    assert result.raw_bytes < 40_000_000 and not rest.rstrip().endswith(b"-- Dump completed")


def test_older_client_is_refused_before_dumping(mariadb: MariaDBSandbox, big_db: str) -> None:
    source = root_source(mariadb, big_db, client_older="refuse")
    real = source.tool()
    source._tool = Tool(
        real.path, "mariadb-dump from 10.5.1-MariaDB", Version("mariadb", (10, 5, 1))
    )
    with pytest.raises(ClientTooOld, match="older than the server") as info:
        source.start()
    assert info.value.exit_code == 24

    source = root_source(mariadb, big_db)  # the default policy only warns
    source._tool = Tool(
        real.path, "mariadb-dump from 10.5.1-MariaDB", Version("mariadb", (10, 5, 1))
    )
    with source.start() as run:
        run.abort()


def test_unknown_database_fails_before_dumping(mariadb: MariaDBSandbox) -> None:
    with pytest.raises(DatabaseError, match="has no database no_such_db"):
        root_source(mariadb, "no_such_db").start()
