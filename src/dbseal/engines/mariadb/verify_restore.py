"""The restore level of `dbseal verify`: restore somewhere disposable and compare.

Two places to restore into:

* :func:`throwaway_check` starts a private MariaDB server tuned for a scratch load
  (:mod:`dbseal.engines.mariadb.scratch_tuning`: temporary datadir, on tmpfs when it fits,
  private socket, free loopback port, its own credentials) and removes it
  afterwards, whatever happens;
* :func:`scratch_check` uses a server the user names: dbseal creates its own
  uniquely named databases there (``dbsv_<random>_<name>``), and drops exactly
  those afterwards, touching nothing else.

Both restore every database of the backup, then compare each table's row count
and checksum, and the views/routines/triggers/events, with the manifest. Checksums of
method ``dump-sha256`` are compared by dumping the restored tables again
(:mod:`dbseal.engines.mariadb.redump`) when the dump client and server versions match the
backup's (major.minor); otherwise only row counts are compared and each table's
report says why. Each table's *values* checksum (exact stored values, taken in the
backup's snapshot, :func:`dbseal.engines.mariadb.stats.values_sql`) is recomputed on the
restored copy and compared too: it catches values the dump text hides (a FLOAT
restored rounded).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dbseal.catalog.repository import Repository
from dbseal.crypto.recipients import Identity
from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import tabledigest
from dbseal.engines.mariadb.connect import connect, server_version
from dbseal.engines.mariadb.mysql_sink import RenameFilter
from dbseal.engines.mariadb.mysql_url import MySQLTarget, parse_mysql_url
from dbseal.engines.mariadb.parallel_sink import client_sink
from dbseal.engines.mariadb.redump import redump_digests
from dbseal.engines.mariadb.stats import (
    SchemaObjects,
    TableStat,
    compare_objects,
    compare_stats,
    schema_objects,
    table_stats,
)
from dbseal.engines.mariadb.tools import DUMP_PROGRAMS, find_tool
from dbseal.errors import CheckNotRun, DatabaseError, DataMismatch, RestoreFailed, SandboxError
from dbseal.monitoring.reporter import Reporter
from dbseal.ops.restore import apply_backup

if TYPE_CHECKING:
    from dbseal.engines.mariadb.sandbox import MariaDBSandbox

RestoreOutcome = tuple[float, list[str], list[dict[str, Any]]]
INEXACT_NOTE = (
    "the backup holds FLOAT values of this table with 6 significant digits only "
    "(see `dbseal show`: inexact); its stored values were not compared"
)


def _expected(manifest: dict[str, Any]) -> tuple[list[TableStat], list[SchemaObjects]]:
    tables = [TableStat(**t) for t in manifest.get("tables") or []]
    objects = []
    for o in manifest.get("objects") or []:
        kinds = {k: tuple(v) for k, v in o.items() if k != "database" and isinstance(v, list)}
        objects.append(SchemaObjects(str(o["database"]), **kinds))
    return tables, objects


def _report(
    expected: list[TableStat],
    found: list[TableStat],
    note: str | None = None,
    inexact: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    have = {(t.database, t.table): t for t in found}
    rows = []
    for want in expected:
        got = have.get((want.database, want.table))
        ok = (
            got is not None
            and got.rows == want.rows
            and (want.values is None or got.values is None or want.values == got.values)
            and (
                want.checksum is None
                or got.checksum is None
                or want.method != got.method
                or want.checksum == got.checksum
            )
        )
        rows.append(
            {
                "database": want.database,
                "table": want.table,
                "expected_rows": want.rows,
                "found_rows": got.rows if got else None,
                "expected_checksum": want.checksum,
                "found_checksum": got.checksum if got else None,
                "method": want.method,
                "expected_values": want.values,
                "found_values": got.values if got else None,
                "ok": ok,
                **({"note": note} if note and want.method == tabledigest.METHOD else {}),
                **({"note": INEXACT_NOTE} if f"{want.database}.{want.table}" in inexact else {}),
            }
        )
    return rows


def _restore_and_compare(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    manifest: dict[str, Any],
    reporter: Reporter,
    target: MySQLTarget,
    password: Secret | None,
    rename: dict[str, str] | None,
) -> RestoreOutcome:
    databases = list(manifest.get("databases") or [])
    if not databases:
        raise CheckNotRun(f"backup {bid}'s manifest lists no databases to compare")
    # a throwaway copy: old names left in bodies do not matter, its events must not run
    byte_filter = RenameFilter(rename, allow_old_references=True) if rename else None
    reporter.event(
        "restore.phase",
        label=f"restore test {bid}",
        expected_bytes=manifest.get("sizes", {}).get("raw"),
    )
    t0 = time.monotonic()
    try:
        apply_backup(
            repo,
            bid,
            identities,
            client_sink(target, password),
            byte_filter,
            reporter,
            manifest,
        )
    except RestoreFailed as exc:
        raise DataMismatch(f"backup {bid} does not restore: {exc.message}") from None
    restore_s = round(time.monotonic() - t0, 3)
    expected_tables, expected_objects = _expected(manifest)
    conn = connect(target, password)
    try:
        server_sums = any(t.method == "md5-sum64" for t in expected_tables)
        checksum_max = repo.config.policy.checksum_max_bytes if server_sums else 0
        found_tables = table_stats(
            conn,
            databases,
            checksum_max,
            rename,
            history=bool((manifest.get("contents") or {}).get("history")),
            values_of={(t.database, t.table) for t in expected_tables if t.values is not None},
        )
        found_objects = schema_objects(conn, databases, rename)
        restored_server = server_version(conn)
    finally:
        conn.close()
    note = None
    if any(t.method == tabledigest.METHOD for t in expected_tables):
        found_tables, note = _with_digests(
            manifest, found_tables, target, password, databases, rename, restored_server
        )
    problems = compare_stats(expected_tables, found_tables) + compare_objects(
        expected_objects, found_objects
    )
    inexact = frozenset((manifest.get("contents") or {}).get("inexact_tables") or ())
    return restore_s, problems, _report(expected_tables, found_tables, note, inexact)


def _with_digests(
    manifest: dict[str, Any],
    found: list[TableStat],
    target: MySQLTarget,
    password: Secret | None,
    databases: list[str],
    rename: dict[str, str] | None,
    restored_server: str,
) -> tuple[list[TableStat], str | None]:
    """The restored tables' row counts with their dump digests, when comparable."""
    local_client = find_tool(DUMP_PROGRAMS).version_line
    note = tabledigest.comparable(
        manifest.get("client_version") or manifest.get("source", {}).get("client_version"),
        manifest.get("server_version"),
        local_client,
        restored_server,
    )
    if note is not None:
        return found, note
    digests = redump_digests(target, password, databases, rename).digests
    return tabledigest.with_digests(found, digests), None


def _start_throwaway(manifest: dict[str, Any]) -> MariaDBSandbox:
    from dbseal.engines.mariadb.sandbox import MariaDBSandbox, find_binaries
    from dbseal.engines.mariadb.scratch_tuning import scratch_plan

    try:
        raw = manifest.get("sizes", {}).get("raw")
        tuning = scratch_plan(raw if isinstance(raw, int) else None, find_binaries()[1])
        return MariaDBSandbox(
            tls=False, extra_args=tuning.args, parent_dir=tuning.parent_dir
        ).start()
    except SandboxError as exc:
        raise CheckNotRun(
            f"the throwaway MariaDB server could not be started: {exc.message}", hint=exc.hint
        ) from None


class ThrowawayCheck:
    """The restore check on a private throwaway server, one server per backup checked.

    :meth:`prepare` starts that server in a background thread, so that it comes up while
    verify's decrypt pass authenticates the backup (nothing is restored before that pass
    ends); :meth:`release` stops a server that was prepared but not used. Calling the
    check without :meth:`prepare` starts the server then.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="throwaway")
        self._pending: dict[str, Future[MariaDBSandbox]] = {}

    def prepare(self, bid: str, manifest: dict[str, Any]) -> None:
        if bid not in self._pending:
            self._pending[bid] = self._pool.submit(_start_throwaway, manifest)

    def release(self, bid: str) -> None:
        future = self._pending.pop(bid, None)
        if future is not None:
            with contextlib.suppress(Exception):
                future.result().stop()

    def __call__(
        self,
        repo: Repository,
        bid: str,
        identities: Sequence[Identity],
        manifest: dict[str, Any],
        reporter: Reporter,
    ) -> RestoreOutcome:
        future = self._pending.pop(bid, None)
        server = future.result() if future is not None else _start_throwaway(manifest)
        try:
            target = parse_mysql_url(
                "mysql://root@localhost", socket=str(server.socket_path), ssl_mode="disabled"
            )
            return _restore_and_compare(
                repo,
                bid,
                identities,
                manifest,
                reporter,
                target,
                Secret(server.root_password.encode()),
                None,
            )
        finally:
            server.stop()


def throwaway_check(
    repo: Repository,
    bid: str,
    identities: Sequence[Identity],
    manifest: dict[str, Any],
    reporter: Reporter,
) -> RestoreOutcome:
    """The restore check on a throwaway server started now (see :class:`ThrowawayCheck`)."""
    return ThrowawayCheck()(repo, bid, identities, manifest, reporter)


def scratch_check(target: MySQLTarget, password: Secret | None) -> Any:
    """A restore check on a user-named scratch server (only dbseal's own databases are touched)."""

    def check(
        repo: Repository,
        bid: str,
        identities: Sequence[Identity],
        manifest: dict[str, Any],
        reporter: Reporter,
    ) -> RestoreOutcome:
        token = os.urandom(4).hex()
        rename = {db: f"dbsv_{token}_{db}"[:64] for db in manifest.get("databases") or []}
        try:
            conn = connect(target, password)
        except DatabaseError as exc:
            raise CheckNotRun(
                f"cannot connect to the scratch server: {exc.message}", hint=exc.hint
            ) from None
        try:
            with conn.cursor() as cur:
                for new in rename.values():
                    cur.execute("SHOW DATABASES LIKE %s", (new,))
                    if cur.fetchall():
                        raise CheckNotRun(
                            f"scratch database {new} already exists; refusing to touch it"
                        )
            return _restore_and_compare(
                repo, bid, identities, manifest, reporter, target, password, rename
            )
        finally:
            try:
                with conn.cursor() as cur:
                    for new in rename.values():
                        cur.execute(f"DROP DATABASE IF EXISTS `{new}`")
            finally:
                conn.close()

    return check
