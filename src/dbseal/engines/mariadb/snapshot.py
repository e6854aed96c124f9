"""Statistics read in the very snapshot the dump reads.

MySQL cannot hand a snapshot to another session, but two sessions that both run
``START TRANSACTION WITH CONSISTENT SNAPSHOT`` while nothing can commit see the same
data. So, on the statistics connection:

1. ``FLUSH TABLES WITH READ LOCK`` (needs RELOAD; waits at most ``lock_wait_timeout``):
   from now on no transaction can commit;
2. ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` (a global read lock survives it);
3. mariadb-dump starts and opens its own consistent snapshot (``--single-transaction``
   takes no lock of its own, so the global read lock does not block it);
4. as soon as its output shows ``-- Current Database:`` (which it writes only after its
   ``START TRANSACTION``), ``UNLOCK TABLES``: writers continue, both snapshots stay;
5. a thread computes :func:`table_stats` and :func:`schema_objects` in the held
   snapshot while the dump streams, plans the exact FLOAT values
   (:mod:`dbseal.engines.mariadb.exactfloat`) and reads the accounts
   (:mod:`dbseal.engines.mariadb.accounts`) when asked;
6. once the dump's output has ended, :meth:`StatsSnapshot.sections` reads the exact
   FLOAT values in the same snapshot, for the sections dbseal appends to the dump.

The kind is ``shared`` when all of that happened. Without RELOAD, when the lock cannot
be had in time, or when the dump shows no sign of starting within ``start_timeout``,
the statistics come from a snapshot opened just before the dump: kind ``separate``,
which differs from the dump by whatever committed in between. Tables of
non-transactional engines (MyISAM, Aria) are consistent in neither case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from typing import Any, Literal

import pymysql

from dbseal.engines.mariadb.accounts import Account, account_section, read_accounts
from dbseal.engines.mariadb.connect import Conn
from dbseal.engines.mariadb.exactfloat import FloatPlan, fixup_sql, float_plan
from dbseal.engines.mariadb.stats import (
    SchemaObjects,
    TableStat,
    prepare_session,
    schema_objects,
    table_stats,
)

SnapshotKind = Literal["shared", "separate"]


class StatsSnapshot:
    """Owns the statistics connection: lock, snapshot, release, and the stats thread."""

    def __init__(
        self,
        conn: Conn,
        databases: list[str],
        checksum_max_bytes: int,
        exact_floats: bool = True,
        accounts: bool = False,
        skip: frozenset[tuple[str, str]] = frozenset(),
        values_max_bytes: int = 0,
        history: bool = False,
    ) -> None:
        self._skip = skip
        self._values_max_bytes = values_max_bytes
        self._history = history
        self._conn = conn
        self._databases = databases
        self._checksum_max_bytes = checksum_max_bytes
        self._exact_floats = exact_floats
        self._want_accounts = accounts
        self.float_plan = FloatPlan()
        self.accounts: list[Account] | None = None  # None: not read (not asked, or failed)
        self.accounts_error: str | None = None
        self._locked = False
        self.kind: SnapshotKind = "separate"
        self.lock_note: str | None = None
        self.tables: list[TableStat] = []
        self.objects: list[SchemaObjects] = []
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self.binlog: dict[str, Any] | None = None  # the snapshot's binlog coordinates

    def begin(self, shared: bool, lock_wait_timeout: int) -> None:
        """Take the global read lock if ``shared`` (and allowed), then open the snapshot."""
        prepare_session(self._conn)
        with self._conn.cursor() as cur:
            if shared:
                try:
                    cur.execute("SET SESSION lock_wait_timeout = %s", (max(1, lock_wait_timeout),))
                    cur.execute("FLUSH TABLES WITH READ LOCK")
                    self._locked = True
                except pymysql.err.OperationalError as exc:
                    code = exc.args[0] if exc.args else None
                    if code not in (1227, 1044, 1142, 1205):  # no RELOAD, denied, lock wait
                        raise
                    self.lock_note = f"FLUSH TABLES WITH READ LOCK refused: {exc.args[-1]}"
            # idle while a long dump streams, then read again for the sections: a week
            cur.execute("SET SESSION wait_timeout = 604800")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        self.binlog = snapshot_binlog_position(self._conn)

    def release(self, dump_started: bool) -> None:
        """``UNLOCK TABLES``; the snapshot is shared if the dump started while locked."""
        if not self._locked:
            return
        self._locked = False
        with self._conn.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        if dump_started:
            self.kind = "shared"
        else:
            self.lock_note = "the dump did not show that it had started while the lock was held"

    def start_stats(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dbseal-dump-stats", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.tables = table_stats(
                self._conn,
                self._databases,
                self._checksum_max_bytes,
                skip=self._skip,
                values_max_bytes=self._values_max_bytes,
                history=self._history,
            )
            self.objects = schema_objects(self._conn, self._databases, skip=self._skip)
            if self._exact_floats:
                self.float_plan = float_plan(self._conn, self._databases, self._skip)
            # A known-inexact table cannot match its exact values: it is announced instead.
            self.tables = [
                dataclasses.replace(t, values=None) if self._inexact(t) else t for t in self.tables
            ]
        except Exception as exc:  # reported in the dump result, never lost
            self.error = f"{type(exc).__name__}: {exc}"
            return
        if self._want_accounts:
            try:
                self.accounts = read_accounts(self._conn)
            except pymysql.err.MySQLError as exc:
                self.accounts_error = str(exc.args[-1]) if exc.args else str(exc)

    def _inexact(self, t: TableStat) -> bool:
        return (t.database, t.table) in self.float_plan.inexact_tables

    def sections(self) -> Iterator[bytes]:
        """dbseal's own sections after the dump (after :meth:`wait`): nothing if none apply."""
        if self.error is not None:
            return
        if self.accounts:
            yield account_section(self.accounts)
        yield from fixup_sql(self._conn, self.float_plan)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def close(self, abort: bool = False) -> None:
        """Close the connection; with ``abort`` first cut its socket so a query stops now."""
        if abort and self._thread is not None and self._thread.is_alive():
            sock = getattr(self._conn, "_sock", None)
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._thread.join(10)
        if self._locked:
            self._locked = False
            with contextlib.suppress(Exception), self._conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
        with contextlib.suppress(Exception):
            self._conn.close()


def snapshot_binlog_position(conn: Conn) -> dict[str, Any] | None:
    """The binary-log coordinates of this session's consistent snapshot (point-in-time
    recovery starts there): ``Binlog_snapshot_file``/``_position`` and the GTID position
    ``BINLOG_GTID_POS`` gives for them. None without a binary log or the privilege."""
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            file = status.get("binlog_snapshot_file") or ""
            pos = int(status.get("binlog_snapshot_position") or 0)
            if not file or pos < 4:
                return None
            cur.execute("SELECT BINLOG_GTID_POS(%s, %s), @@server_id", (file, pos))
            row = cur.fetchone()
    except (pymysql.err.MySQLError, ValueError):
        return None
    gtid = str(row[0]) if row and row[0] is not None else None
    return {"file": file, "position": pos, "gtid": gtid, "server_id": int(row[1]) if row else None}
