"""A real dump of every kind of column and object, restored on another server, checks out equal."""

from __future__ import annotations

import uuid

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import (
    DumpResult,
    MysqlClientSink,
    MysqldumpSource,
    TableStat,
    compare_objects,
    connect,
    parse_mysql_url,
    schema_objects,
    table_stats,
    tabledigest,
)
from dbseal.engines.mariadb.connect import Conn
from dbseal.engines.mariadb.dumprun import DumpPolicy
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.redump import redump_digests
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb

BIG_ROW = 6 << 20

SCHEMA = [
    """CREATE TABLE kinds (
        id INT PRIMARY KEY AUTO_INCREMENT,
        i INT, bi BIGINT, ubi BIGINT UNSIGNED, de DECIMAL(30,10), dbl DOUBLE, flt FLOAT,
        d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, vc VARCHAR(100) CHARACTER SET utf8mb4,
        la VARCHAR(20) CHARACTER SET latin1, bl LONGBLOB, bt BIT(12), js JSON,
        en ENUM('a','b'), g INT AS (i * 2) VIRTUAL, gs VARCHAR(10) AS (UPPER(la)) STORED
    ) ENGINE=InnoDB""",
    """INSERT INTO kinds (i, bi, ubi, de, dbl, flt, d, dt, ts, vc, la, bl, bt, js, en) VALUES
        (-2147483648, -9223372036854775808, 18446744073709551615, 12345678901234567890.0123456789,
         1e308, 1.1, '1000-01-01', '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999',
         'héllo 😀 世界', 'caf\xe9', X'000A0D2722005C1A0A', b'101010101010', '{"k": [1, "😀"]}', 'b'),
        (0, 0, 0, 0, 1/3, 1/3, '2024-01-01', '2024-01-01 00:00:00', '1970-01-01 00:00:01',
         '', '', X'', b'0', 'null', 'a'),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (7, 7, 7, -0.5, -0.0, 3.4e38, '9999-12-31', '9999-12-31 23:59:59', NULL,
         'line1\\nline2\\r\\n\\ttab \\\\ back', 'x', REPEAT(X'00FF0A', 10), b'1', '[]', NULL)""",
    f"INSERT INTO kinds (i, bl) VALUES (99, RANDOM_BYTES(1024)), (100, REPEAT(X'00', {BIG_ROW}))",
    "CREATE TABLE nopk (a INT, b VARCHAR(10))",
    "INSERT INTO nopk VALUES (1, 'x'), (1, 'x'), (2, NULL), (NULL, '')",
    "CREATE TABLE empty_t (a INT PRIMARY KEY) ENGINE=InnoDB",
    "CREATE TABLE aria_t (a INT, `we``ird col` TEXT) ENGINE=Aria",
    "INSERT INTO aria_t VALUES (1, 'é'), (2, NULL)",
    "CREATE VIEW v_kinds AS SELECT id, vc FROM kinds WHERE i IS NOT NULL",
    "CREATE TRIGGER tr_kinds BEFORE INSERT ON kinds FOR EACH ROW SET NEW.en = COALESCE(NEW.en, 'a')",
    "CREATE PROCEDURE p_count(OUT n INT) BEGIN\n  -- count the rows\n  SELECT COUNT(*) INTO n FROM kinds;\nEND",
    "CREATE FUNCTION f_twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE EVENT e_daily ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM nopk WHERE a < 0",
    "CREATE SEQUENCE s_ids START WITH 100",
]


def target(server: MariaDBSandbox, *databases: str) -> MySQLTarget:
    return parse_mysql_url(
        f"mysql://root@127.0.0.1:{server.port}/{','.join(databases)}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )


def password(server: MariaDBSandbox) -> Secret:
    return Secret(server.root_password.encode())


def full_dump(source: MysqldumpSource) -> tuple[bytes, DumpResult]:
    with source.start() as run:
        data = run.read()
        return data, run.finish()


@pytest.fixture
def kinds_db(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> str:
    name = f"dbseal_kinds_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(name)
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")  # sandbox connections do not autocommit
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        for sql in SCHEMA:
            cur.execute(sql)
    return name


def _recomputed(server: MariaDBSandbox, db: str, method: str) -> list[TableStat]:
    """What a restore check computes on ``server``: counts, and the checksums of ``method``."""
    with connect(target(server), password(server)) as conn:
        counted = table_stats(
            conn, [db], 1 << 30 if method == "md5-sum64" else 0, values_max_bytes=1 << 30
        )
    if method != tabledigest.METHOD:
        return counted
    digests = redump_digests(target(server), password(server), [db]).digests
    return tabledigest.with_digests(counted, digests)


@pytest.mark.parametrize("checksum", ["dump", "server"])
def test_dump_of_every_kind_restores_equal_on_another_server(
    mariadb: MariaDBSandbox,
    mariadb_restore: MariaDBSandbox,
    kinds_db: str,
    scratch_dbs: list[str],
    checksum: str,
) -> None:
    policy = DumpPolicy(table_checksum=checksum)  # type: ignore[arg-type]
    method = tabledigest.METHOD if checksum == "dump" else "md5-sum64"
    source = MysqldumpSource(target(mariadb, kinds_db), password(mariadb), policy)
    data, result = full_dump(source)

    assert result.status == "ok", result.reasons
    assert result.exit_code == 0 and result.reasons == ()
    assert data.rstrip(b"\n").rsplit(b"\n", 1)[-1].startswith(b"-- Dump completed on ")
    assert result.raw_bytes == len(data) > 2 * BIG_ROW  # --hex-blob doubles the big row
    assert result.snapshot == "shared"
    assert result.tls is not None and result.tls.version.startswith("TLSv1.")
    assert result.server_version == mariadb.version
    assert "MariaDB" in result.client_version and result.databases == (kinds_db,)
    stats = {s.table: s for s in result.tables}
    assert sorted(stats) == ["aria_t", "empty_t", "kinds", "nopk"]
    assert (stats["kinds"].rows, stats["nopk"].rows, stats["empty_t"].rows) == (6, 4, 0)
    assert all(s.method == method and s.checksum is not None for s in stats.values())
    assert stats["empty_t"].checksum == (tabledigest.EMPTY if checksum == "dump" else 0)
    assert len({s.checksum for s in stats.values()}) == 4
    (objects,) = result.objects
    assert objects.views == ("v_kinds",) and objects.triggers == ("tr_kinds",)
    assert objects.procedures == ("p_count",) and objects.functions == ("f_twice",)
    assert objects.events == ("e_daily",) and objects.sequences == ("s_ids",)

    assert _recomputed(mariadb, kinds_db, method) == list(result.tables)  # recomputed: the same

    copy = f"{kinds_db}_copy"
    scratch_dbs.append(copy)
    sink = MysqlClientSink(target(mariadb_restore), password(mariadb_restore))
    for i in range(0, len(data), 1 << 20):
        sink.write(data[i : i + (1 << 20)])
    restored = sink.close()
    assert restored.exit_code == 0 and restored.messages.errors == 0

    assert _recomputed(mariadb_restore, kinds_db, method) == list(result.tables)
    with connect(target(mariadb_restore), password(mariadb_restore)) as conn:
        assert compare_objects(result.objects, schema_objects(conn, [kinds_db])) == []
        with conn.cursor() as cur:
            cur.execute(f"SELECT LENGTH(bl), vc FROM `{kinds_db}`.kinds ORDER BY id")
            rows = cur.fetchall()
    assert rows[-1][0] == BIG_ROW and rows[0][1] == "héllo 😀 世界"


def _xor_checksum(conn: Conn, db: str) -> int:
    """pt-table-checksum's BIT_XOR variant, for comparison."""
    row_hash = (
        "CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', a, b, CONCAT(ISNULL(a), ISNULL(b)))), 1, 16), 16, 10)"
        " AS UNSIGNED)"
    )
    with conn.cursor() as cur:
        cur.execute(f"SELECT BIT_XOR({row_hash}) FROM `{db}`.nopk")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def test_checksum_sees_a_changed_value_and_duplicates_that_xor_cancels(
    mariadb: MariaDBSandbox, kinds_db: str
) -> None:
    with connect(target(mariadb), password(mariadb)) as conn:
        before = {s.table: s for s in table_stats(conn, [kinds_db], 1 << 30)}
        xor_before = _xor_checksum(conn, kinds_db)
        with conn.cursor() as cur:
            # {A, A, B, C} -> {B, B, B, C}: same count, and XOR of the row hashes cannot tell
            cur.execute(f"UPDATE `{kinds_db}`.nopk SET a = 2, b = NULL WHERE a = 1")
            cur.execute(f"UPDATE `{kinds_db}`.kinds SET flt = 1.2 WHERE id = 1")
        after = {s.table: s for s in table_stats(conn, [kinds_db], 1 << 30)}
        assert _xor_checksum(conn, kinds_db) == xor_before
    assert after["nopk"].rows == before["nopk"].rows
    assert after["nopk"].checksum != before["nopk"].checksum
    assert after["kinds"].checksum != before["kinds"].checksum
    assert after["aria_t"] == before["aria_t"]


def test_large_tables_get_counted_only(mariadb: MariaDBSandbox, kinds_db: str) -> None:
    with connect(target(mariadb), password(mariadb)) as conn:
        with conn.cursor() as cur:  # information_schema sizes are estimates: refresh them
            cur.execute(f"ANALYZE TABLE `{kinds_db}`.kinds")
        small = table_stats(conn, [kinds_db], 100_000)
        never = table_stats(conn, [kinds_db], 0)
    assert {s.table: s.method for s in small}["kinds"] == "count"
    assert {s.table: s.method for s in small}["nopk"] == "md5-sum64"
    assert {s.method for s in never} == {"count"} and all(s.checksum is None for s in never)


def test_all_user_databases_when_none_named(mariadb: MariaDBSandbox, kinds_db: str) -> None:
    source = MysqldumpSource(target(mariadb), password(mariadb))
    data, result = full_dump(source)
    assert result.status == "ok", result.reasons
    assert kinds_db in result.databases
    assert not {"mysql", "information_schema", "performance_schema", "sys"} & set(result.databases)
    assert f"-- Current Database: `{kinds_db}`".encode() in data
