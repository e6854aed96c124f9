"""Restoring through the mariadb client: renamed and selected databases, and the first error stops it."""

from __future__ import annotations

import os
import uuid

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import (
    DumpResult,
    MysqlClientSink,
    MysqldumpSource,
    RenameFilter,
    compare_objects,
    compare_stats,
    connect,
    parse_mysql_url,
    schema_objects,
    table_stats,
)
from dbseal.engines.mariadb.connect import Conn
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import RestoreFailed

pytestmark = pytest.mark.mariadb


def target(server: MariaDBSandbox, *databases: str) -> MySQLTarget:
    return parse_mysql_url(
        f"mysql://root@127.0.0.1:{server.port}/{','.join(databases)}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )


def password(server: MariaDBSandbox) -> Secret:
    return Secret(server.root_password.encode())


def full_dump(server: MariaDBSandbox, *databases: str) -> tuple[bytes, DumpResult]:
    with MysqldumpSource(target(server, *databases), password(server)).start() as run:
        data = run.read()
        result = run.finish()
    assert result.status == "ok", result.reasons
    return data, result


def restore(server: MariaDBSandbox, data: bytes, byte_filter: RenameFilter | None) -> None:
    sink = MysqlClientSink(target(server), password(server))
    block = 4096  # small blocks: many block boundaries inside the filtered lines
    for i in range(0, len(data), block):
        piece = data[i : i + block]
        sink.write(byte_filter.feed(piece) if byte_filter else piece)
    if byte_filter:
        sink.write(byte_filter.flush())
    sink.close()


def query(conn: Conn, sql: str, *args: object) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


@pytest.fixture
def two_dbs(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> tuple[str, str]:
    """Databases a and b with objects that name their database in every way a dump keeps."""
    tag = uuid.uuid4().hex[:8]
    a, b = f"dbseal_a_{tag}", f"dbseal_b_{tag}"
    scratch_dbs += [a, b, f"{a}_new", f"{b}_new"]
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")  # sandbox connections do not autocommit
        for sql in [
            f"CREATE DATABASE `{a}` CHARACTER SET utf8mb4",
            f"CREATE DATABASE `{b}` CHARACTER SET latin1",
            f"CREATE TABLE `{a}`.t (id INT PRIMARY KEY, note VARCHAR(40))",
            f"INSERT INTO `{a}`.t VALUES (1, 'USE `{a}`;'), (2, 'x')",
            f"CREATE TABLE `{b}`.u (x INT)",
            f"INSERT INTO `{b}`.u VALUES (1), (2), (3)",
            f"USE `{b}`",  # objects of a created from b: their text names a explicitly
            f"CREATE TRIGGER `{a}`.tr_q BEFORE INSERT ON `{a}`.t FOR EACH ROW SET NEW.note = 'q'",
            f"CREATE TRIGGER {a}.tr_plain AFTER UPDATE ON {a}.t FOR EACH ROW SET @n = 1",
            f"CREATE PROCEDURE `{a}`.p() SELECT COUNT(*) FROM t",
            f"CREATE FUNCTION `{a}`.f() RETURNS INT DETERMINISTIC RETURN 1",
            f"CREATE EVENT `{a}`.e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM t WHERE id < 0",
            f"CREATE VIEW `{a}`.v AS SELECT id FROM `{a}`.t",
            f"CREATE VIEW `{b}`.vx AS SELECT t.id, u.x FROM `{a}`.t JOIN `{b}`.u ON u.x = t.id",
            f"ALTER DATABASE `{a}` CHARACTER SET latin1",  # routines then carry ALTER DATABASE
        ]:
            cur.execute(sql)
    return a, b


def test_renamed_restore_creates_everything_in_the_new_databases_and_nothing_in_the_old(
    mariadb: MariaDBSandbox, two_dbs: tuple[str, str]
) -> None:
    a, b = two_dbs
    data, result = full_dump(mariadb, a, b)
    assert f"ALTER DATABASE `{a}`".encode() in data and f"TRIGGER {a}.tr_plain".encode() in data
    mapping = {a: f"{a}_new", b: f"{b}_new"}
    with connect(target(mariadb), password(mariadb)) as conn:
        old_objects = schema_objects(conn, [a, b])
        old_stats = table_stats(conn, [a, b], 1 << 30)

        restore(mariadb, data, RenameFilter(mapping))

        assert schema_objects(conn, [a, b]) == old_objects  # the originals are untouched
        assert table_stats(conn, [a, b], 1 << 30) == old_stats
        assert compare_objects(result.objects, schema_objects(conn, [a, b], rename=mapping)) == []
        assert (
            compare_stats(result.tables, table_stats(conn, [a, b], 1 << 30, rename=mapping)) == []
        )
        triggers = query(
            conn,
            "SELECT TRIGGER_NAME, EVENT_OBJECT_SCHEMA FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = %s ORDER BY 1",
            f"{a}_new",
        )
        assert triggers == [("tr_plain", f"{a}_new"), ("tr_q", f"{a}_new")]
        (definition,) = query(
            conn,
            "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s",
            f"{b}_new",
        )[0]
        assert f"`{a}_new`.`t`" in str(definition) and f"`{b}_new`.`u`" in str(definition)
        assert f"`{a}`." not in str(definition) and f"`{b}`." not in str(definition)
        # routines were created under the database collation they were dumped with
        assert query(
            conn,
            "SELECT DATABASE_COLLATION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s",
            f"{a}_new",
        ) == [("utf8mb4_general_ci",), ("utf8mb4_general_ci",)]


def test_only_one_database_of_a_dump(
    mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, two_dbs: tuple[str, str]
) -> None:
    a, b = two_dbs
    data, result = full_dump(mariadb, a, b)
    restore(mariadb_restore, data, RenameFilter({a: f"{a}_new"}, {a}))
    with connect(target(mariadb_restore), password(mariadb_restore)) as conn:
        names = {str(r[0]) for r in query(conn, "SHOW DATABASES")}
        assert f"{a}_new" in names and not {a, b, f"{b}_new"} & names
        restored = table_stats(conn, [a], 1 << 30, rename={a: f"{a}_new"})
        assert compare_stats([s for s in result.tables if s.database == a], restored) == []
        assert (
            compare_objects(
                [o for o in result.objects if o.database == a],
                schema_objects(conn, [a], rename={a: f"{a}_new"}),
            )
            == []
        )
    # b's view reads a table of a: restoring b alone stops there, naming what is missing
    with pytest.raises(RestoreFailed, match=f"Table '{a}.t' doesn't exist"):
        restore(mariadb_restore, data, RenameFilter({b: f"{b}_new"}, {b}))


def test_first_error_stops_the_restore_and_is_reported(
    mariadb_restore: MariaDBSandbox, scratch_dbs: list[str]
) -> None:
    name = f"dbseal_err_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(name)
    script = (
        f"CREATE DATABASE `{name}`;\nUSE `{name}`;\nCREATE TABLE before_error (a INT);\n"
        "INSERT INTO no_such_table VALUES (1);\nCREATE TABLE after_error (a INT);\n"
    ).encode()
    sink = MysqlClientSink(target(mariadb_restore), password(mariadb_restore))
    with pytest.raises(RestoreFailed) as info:
        sink.write(script)
        sink.close()
    message = info.value.message
    assert "exited with status 1" in message
    assert "ERROR 1146" in message and "no_such_table" in message and "at line 4" in message
    assert info.value.exit_code == 26
    with connect(target(mariadb_restore), password(mariadb_restore)) as conn:
        tables = {str(r[0]) for r in query(conn, f"SHOW TABLES FROM `{name}`")}
    assert tables == {"before_error"}


def test_a_shell_escape_in_a_dump_is_not_run(mariadb_restore: MariaDBSandbox) -> None:
    marker = f"/tmp/dbseal-shell-{uuid.uuid4().hex}"
    sink = MysqlClientSink(target(mariadb_restore), password(mariadb_restore))
    with pytest.raises(RestoreFailed, match="Unknown command"):
        sink.write(f"SELECT 1;\n\\! touch {marker}\nSELECT 2;\n".encode())
        sink.close()
    assert not os.path.exists(marker)
