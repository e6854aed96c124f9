"""The statistics are taken in the dump's own snapshot: concurrent writes change neither."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import (
    DumpPolicy,
    MysqlClientSink,
    MysqldumpSource,
    RenameFilter,
    compare_stats,
    connect,
    parse_mysql_url,
    table_stats,
)
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


def target(server: MariaDBSandbox, *databases: str) -> MySQLTarget:
    return parse_mysql_url(
        f"mysql://root@127.0.0.1:{server.port}/{','.join(databases)}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )


class Inserter(threading.Thread):
    """Commits one row at a time into ``db.ins`` until stopped."""

    def __init__(self, server: MariaDBSandbox, db: str) -> None:
        super().__init__(daemon=True)
        self.server, self.db = server, db
        self.stop = threading.Event()
        self.committed = 0

    def run(self) -> None:
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute("SET autocommit = 1")
            while not self.stop.is_set():
                cur.execute(f"INSERT INTO `{self.db}`.ins (v) VALUES (%s)", (uuid.uuid4().hex,))
                self.committed += 1


def test_concurrent_inserts_recorded_count_equals_dumped_rows(
    mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox, big_db: str, scratch_dbs: list[str]
) -> None:
    db = f"dbseal_ins_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(db)
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(f"CREATE TABLE `{db}`.ins (id INT PRIMARY KEY AUTO_INCREMENT, v CHAR(32))")
    inserter = Inserter(mariadb, db)
    inserter.start()
    try:
        while inserter.committed < 50:
            time.sleep(0.01)
        # big_db first: its ~24 MB are dumped while the inserts into db.ins go on
        source = MysqldumpSource(
            target(mariadb, big_db, db), Secret(mariadb.root_password.encode())
        )
        with source.start() as run:
            at_start = inserter.committed
            data = bytearray()
            while block := run.read(1 << 20):
                data += block
                time.sleep(0.02)  # a slow consumer: the dump lasts, inserts continue
            result = run.finish()
        at_end = inserter.committed
    finally:
        inserter.stop.set()
        inserter.join()

    assert result.status == "ok", result.reasons
    assert result.snapshot == "shared"
    (recorded,) = [s for s in result.tables if s.database == db]
    assert 50 <= recorded.rows <= at_start + 5 < at_end  # rows kept coming during the dump

    sink = MysqlClientSink(target(mariadb_restore), Secret(mariadb_restore.root_password.encode()))
    only = RenameFilter(None, {db})
    sink.write(only.feed(bytes(data)))
    sink.write(only.flush())
    sink.close()
    with connect(target(mariadb_restore), Secret(mariadb_restore.root_password.encode())) as conn:
        restored = table_stats(conn, [db], 1 << 30)
    assert restored[0].rows == recorded.rows  # what was dumped is exactly what was recorded
    assert compare_stats([recorded], restored) == []


def test_without_a_shared_snapshot_nothing_is_locked(mariadb: MariaDBSandbox, big_db: str) -> None:
    source = MysqldumpSource(
        target(mariadb, big_db),
        Secret(mariadb.root_password.encode()),
        DumpPolicy(shared_snapshot=False),
    )
    with source.start() as run:
        run.read()
        result = run.finish()
    assert result.status == "ok", result.reasons
    assert result.snapshot == "separate"
    assert result.tables[0].rows == 30000


def test_a_long_write_makes_the_lock_give_up_not_hang(
    mariadb: MariaDBSandbox, big_db: str, scratch_dbs: list[str]
) -> None:
    db = f"dbseal_slow_{uuid.uuid4().hex[:8]}"
    scratch_dbs.append(db)
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")
        cur.execute(f"CREATE DATABASE `{db}`")
        cur.execute(f"CREATE TABLE `{db}`.t (x INT)")
        cur.execute(f"INSERT INTO `{db}`.t VALUES (1), (2)")

    def slow_update() -> None:  # a running write: FLUSH TABLES WITH READ LOCK must wait for it
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute("SET autocommit = 1")
            cur.execute(f"UPDATE `{db}`.t SET x = x + SLEEP(1)")

    writer = threading.Thread(target=slow_update, daemon=True)
    writer.start()
    time.sleep(0.2)
    source = MysqldumpSource(
        target(mariadb, big_db),
        Secret(mariadb.root_password.encode()),
        DumpPolicy(lock_wait_timeout=1),
    )
    started = time.monotonic()
    with source.start() as run:
        waited = time.monotonic() - started
        run.read()
        result = run.finish()
    writer.join()
    assert 0.9 < waited < 5  # lock_wait_timeout=1: gave up after about a second
    assert result.status == "warnings"
    assert result.snapshot == "separate"
    assert any("Lock wait timeout" in r and "separate snapshot" in r for r in result.reasons)
