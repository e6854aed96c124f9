"""A restore over several connections gives back exactly the dump, and stops at any lane's error."""

from __future__ import annotations

import os
import uuid

import pytest

from conftest import full_dump, root_password, tls_target
from dbseal.engines.mariadb import RenameFilter, compare_objects, connect, schema_objects
from dbseal.engines.mariadb.deferred_keys import defer_keys
from dbseal.engines.mariadb.parallel_sink import ParallelClientSink
from dbseal.engines.mariadb.redump import redump_digests
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import RestoreFailed

pytestmark = pytest.mark.mariadb


def restore(server: MariaDBSandbox, data: bytes, mapping: dict[str, str], jobs: int) -> list[int]:
    """Restore through a ParallelClientSink in odd-sized blocks; returns each lane's bytes."""
    rename = RenameFilter(mapping)
    sink = ParallelClientSink(tls_target(server), root_password(server), jobs=jobs)
    block = 300_007  # cuts statements and marker lines everywhere
    try:
        for i in range(0, len(data), block):
            sink.write(rename.feed(data[i : i + block]))
        sink.write(rename.flush())
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return sink.lane_bytes


@pytest.fixture
def shop_dbs(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> tuple[str, str]:
    """Two databases; big tables fill several INSERT statements each."""
    tag = uuid.uuid4().hex[:8]
    a, b = f"dbseal_pa_{tag}", f"dbseal_pb_{tag}"
    scratch_dbs += [a, b, f"{a}_new", f"{b}_new"]
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")
        for sql in [
            f"CREATE DATABASE `{a}`",
            f"CREATE DATABASE `{b}`",
            # the child comes before its parent in the dump: FOREIGN_KEY_CHECKS=0 on every lane
            f"CREATE TABLE `{a}`.items (id INT PRIMARY KEY, parent INT, note VARCHAR(200),"
            f" FOREIGN KEY (parent) REFERENCES `{a}`.parents (id))",
            f"CREATE TABLE `{a}`.parents (id INT PRIMARY KEY, name VARCHAR(40))",
            f"CREATE TABLE `{a}`.small (id INT PRIMARY KEY)",
            f"CREATE TABLE `{b}`.log (id INT PRIMARY KEY AUTO_INCREMENT, what TEXT)",
        ]:
            if "items" in sql:
                cur.execute("SET foreign_key_checks = 0")
            cur.execute(sql)
            cur.execute("SET foreign_key_checks = 1")
        cur.execute(f"USE `{a}`")  # the seq_1_to_N tables need a current database
        cur.execute(f"INSERT INTO `{a}`.parents SELECT seq, CONCAT('p', seq) FROM seq_1_to_20000")
        cur.execute(
            f"INSERT INTO `{a}`.items SELECT seq, 1 + seq % 20000, "
            f"CONCAT(REPEAT('x;', seq % 50), ' ', MD5(seq), ' \\'q\\' ;\\n') FROM seq_1_to_40000"
        )
        cur.execute(f"INSERT INTO `{a}`.small VALUES (1), (2)")
        cur.execute(f"INSERT INTO `{b}`.log (what) SELECT REPEAT(MD5(seq), 8) FROM seq_1_to_15000")
        # if this trigger fired during the restore, every restored item would say so
        cur.execute(
            f"CREATE TRIGGER `{a}`.items_bi BEFORE INSERT ON `{a}`.items "
            "FOR EACH ROW SET NEW.note = 'fired during restore'"
        )
        cur.execute(f"CREATE PROCEDURE `{b}`.p() BEGIN\nINSERT INTO `log` VALUES (NULL, 'p');\nEND")
        cur.execute(f"CREATE VIEW `{b}`.v AS SELECT COUNT(*) AS n FROM `{a}`.items")
    return a, b


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_restore_gives_back_every_row_and_object(
    mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, shop_dbs: tuple[str, str], jobs: int
) -> None:
    a, b = shop_dbs
    data, result = full_dump(mariadb, a, b)
    assert data.count(b"INSERT INTO `items` VALUES") >= 3  # several statements
    mapping = {a: f"{a}_new", b: f"{b}_new"}

    lanes = restore(mariadb_restore, data, mapping, jobs)

    assert len(lanes) == jobs and all(n > 1_000_000 for n in lanes[1:]), lanes
    restored = redump_digests(
        tls_target(mariadb_restore), root_password(mariadb_restore), [a, b], mapping
    )
    assert restored.digests == {(t.database, t.table): t.checksum for t in result.tables}
    with connect(tls_target(mariadb_restore), root_password(mariadb_restore)) as conn:
        assert compare_objects(result.objects, schema_objects(conn, [a, b], rename=mapping)) == []
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{a}_new`.items WHERE note LIKE 'fired%'")
            assert cur.fetchone() == (0,)
            cur.execute(f"CALL `{b}_new`.p()")  # the body survived whole
            cur.execute(f"SELECT COUNT(*) FROM `{b}_new`.log")
            assert cur.fetchone() == (15001,)


def test_an_error_on_another_lane_stops_the_restore(
    mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, shop_dbs: tuple[str, str]
) -> None:
    a, _ = shop_dbs
    data, _ = full_dump(mariadb, a)
    head = b"INSERT INTO `items` VALUES\n"
    last = data.rfind(head)  # a late statement of items: dealt to some lane
    broken = data[:last] + head + b"(1,1,'duplicate key'),\n" + data[last + len(head) :]
    sink = ParallelClientSink(tls_target(mariadb_restore), root_password(mariadb_restore), jobs=2)
    pids = sink.pids
    with pytest.raises(RestoreFailed) as info:
        for i in range(0, len(broken), 1 << 20):
            sink.write(RenameFilter({a: f"{a}_new"}).feed(broken[i : i + (1 << 20)]))
        sink.close()
    sink.abort()
    assert "Duplicate entry '1'" in info.value.message and info.value.exit_code == 26
    for pid in pids:  # no client is left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_keys_added_after_the_rows_give_back_the_same_tables(
    mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, scratch_dbs: list[str]
) -> None:
    """Secondary keys and foreign keys are built after the load: SHOW CREATE TABLE, the rows
    and the constraints afterwards are the source's."""
    a = f"dbseal_pk_{uuid.uuid4().hex[:8]}"
    scratch_dbs += [a, f"{a}_new"]
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")
        cur.execute(f"CREATE DATABASE `{a}`")
        cur.execute(f"USE `{a}`")
        cur.execute(
            "CREATE TABLE parents (id INT PRIMARY KEY, code CHAR(8) NOT NULL, city VARCHAR(20),"
            " UNIQUE KEY uq_code (code), KEY k_city (city, id)) ENGINE=InnoDB"
        )
        cur.execute(
            "CREATE TABLE kids (id INT NOT NULL AUTO_INCREMENT, parent INT NOT NULL,"
            " note VARCHAR(300), PRIMARY KEY (id), KEY k_parent (parent), KEY k_note (note(20)),"
            " CONSTRAINT fk_parent FOREIGN KEY (parent) REFERENCES parents (id)"
            " ON DELETE CASCADE) ENGINE=InnoDB"
        )
        cur.execute("INSERT INTO parents SELECT seq, LPAD(seq, 8, '0'), "
                    "ELT(1 + seq % 3, 'Oslo', 'Lyon', NULL) FROM seq_1_to_20000")  # fmt: skip
        cur.execute("INSERT INTO kids (parent, note) SELECT 1 + seq % 20000, "
                    "REPEAT(MD5(seq), 8) FROM seq_1_to_30000")  # fmt: skip
    data, result = full_dump(mariadb, a)
    assert data.count(b"INSERT INTO `kids` VALUES") >= 3
    for table in (b"parents", b"kids"):  # both take the deferred path
        start = data.index(b"CREATE TABLE `" + table + b"`")
        stmt = data[start : data.index(b";\n", start) + 2]
        assert defer_keys(stmt) is not None, stmt
    restore(mariadb_restore, data, {a: f"{a}_new"}, 2)

    def creates(server: MariaDBSandbox, db: str) -> list[str]:
        with server.connect() as conn, conn.cursor() as cur:
            out = []
            for t in ("parents", "kids"):
                cur.execute(f"SHOW CREATE TABLE `{db}`.`{t}`")
                row = cur.fetchone()
                assert row is not None
                out.append(str(row[1]))
            return out

    assert creates(mariadb_restore, f"{a}_new") == creates(mariadb, a)
    restored = redump_digests(
        tls_target(mariadb_restore), root_password(mariadb_restore), [a], {a: f"{a}_new"}
    )
    assert restored.digests == {(t.database, t.table): t.checksum for t in result.tables}
    with mariadb_restore.connect(f"{a}_new") as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")
        with pytest.raises(Exception, match="foreign key constraint fails"):
            cur.execute("INSERT INTO kids (parent, note) VALUES (999999, 'orphan')")
        with pytest.raises(Exception, match="Duplicate entry '00000001'"):
            cur.execute("INSERT INTO parents VALUES (999999, '00000001', NULL)")
        cur.execute("DELETE FROM parents WHERE id = 1")  # ON DELETE CASCADE kept
        cur.execute("SELECT COUNT(*) FROM kids WHERE parent = 1")
        assert cur.fetchone() == (0,)
