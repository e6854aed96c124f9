"""``MysqldumpSource``: a logical dump with mariadb-dump (or mysqldump), streamed and checked.

The dump runs as::

    mariadb-dump --defaults-file=F --single-transaction --quick --routines --triggers
        --events --hex-blob --default-character-set=utf8mb4 --no-tablespaces --comments
        --dump-date --tz-utc --max-allowed-packet=1G --databases -- DB...

* ``--single-transaction``: one consistent InnoDB snapshot; no table locks (and so no
  LOCK TABLES privilege), no FLUSH; it turns ``--lock-tables`` off.
* ``--quick``: rows stream to stdout instead of being buffered per table in the client.
* ``--routines --triggers --events``: the whole database, not just its tables.
* ``--hex-blob``: binary columns as hex literals, immune to any character-set handling.
* ``--default-character-set=utf8mb4``: every character survives (emoji included).
* ``--no-tablespaces``: tablespaces only matter for NDB, and listing them needs PROCESS.
* ``--comments --dump-date``: the ``-- Current Database:`` lines that show the dump has
  started, and the final ``-- Dump completed on ...`` line that shows it finished.
* ``--tz-utc``: TIMESTAMP values written in UTC, right whatever the restoring session's zone.
* ``--max-allowed-packet=1G``: rows of any size the server allows.
* ``--databases``: each database gets ``CREATE DATABASE IF NOT EXISTS`` and ``USE``, which
  :class:`~dbseal.engines.mariadb.rename.RenameFilter` rewrites to restore under other names.
  No ``--add-drop-database``: a restore must never drop a database by surprise.
  Tables get ``DROP TABLE IF EXISTS`` (the default); a restore still refuses a target
  database that is not empty unless ``--replace`` (:mod:`dbseal.ops.restore`).
* Not used: ``--force`` (the first error must stop the dump), ``--master-data``/``--gtid``
  (they need more privileges; binary-log positions are not recorded), ``--all-databases``
  (it would dump the ``mysql`` system database; accounts are dbseal's own section).
* ``--dump-history`` (MariaDB 10.11+ clients): system-versioned tables with every
  history row and its ``row_start``/``row_end``; the restore loads them with
  ``system_versioning_insert_history`` (MariaDB 10.11+ servers).

After the program's own completion line, dbseal may append sections of its own: the
exact FLOAT values (:mod:`dbseal.engines.mariadb.exactfloat`) and, when asked, the accounts
as inert comments (:mod:`dbseal.engines.mariadb.accounts`).

The password reaches the child only through the option file
(:mod:`dbseal.engines.mariadb.defaults_file`), which is removed as soon as the child has shown
output, and in every case when the run ends.

Before dumping, :meth:`MysqldumpSource.start` connects with PyMySQL (same TLS rules)
to learn the server version, the negotiated TLS, the databases, and the privileges whose
absence would make mariadb-dump silently leave objects out. Statistics are taken in the
dump's own snapshot (:mod:`dbseal.engines.mariadb.snapshot`).
"""

from __future__ import annotations

from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.connect import (
    Conn,
    connect,
    missing_databases,
    server_version,
    session_tls,
    user_databases,
)
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile, client_enforces_tls
from dbseal.engines.mariadb.dumprun import DumpPolicy, DumpResult, DumpRun, Preflight, spawn_dump
from dbseal.engines.mariadb.exclude import resolve as resolve_exclusions
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.privileges import missing_privilege_warnings
from dbseal.engines.mariadb.snapshot import StatsSnapshot
from dbseal.engines.mariadb.tools import (
    DUMP_PROGRAMS,
    HISTORY_OPTIONS,
    Tool,
    dumps_history,
    find_tool,
)
from dbseal.engines.mariadb.versions import compare_versions, parse_server_version
from dbseal.errors import ClientTooOld, DatabaseError, DbsealError, UsageError

DUMP_OPTIONS: tuple[str, ...] = (
    "--single-transaction",
    "--quick",
    "--routines",
    "--triggers",
    "--events",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    "--no-tablespaces",
    "--comments",
    "--dump-date",
    "--tz-utc",
    "--max-allowed-packet=1G",
)

__all__ = [
    "DUMP_OPTIONS",
    "HISTORY_OPTIONS",
    "DumpPolicy",
    "DumpResult",
    "DumpRun",
    "MysqldumpSource",
    "Preflight",
]


class MysqldumpSource:
    """Dumps ``target`` with mariadb-dump; see the module documentation."""

    kind = "mysqldump"

    def __init__(
        self, target: MySQLTarget, password: Secret | None, policy: DumpPolicy | None = None
    ) -> None:
        self.target = target
        self._password = password
        self.policy = policy or DumpPolicy()
        self._tool: Tool | None = None

    def __repr__(self) -> str:
        return f"MysqldumpSource({self.target.address()!r})"

    def tool(self) -> Tool:
        if self._tool is None:
            self._tool = find_tool(DUMP_PROGRAMS)
        return self._tool

    def describe(self) -> dict[str, Any]:
        """Public facts about the source, for labels and manifests; never a secret."""
        t = self.target
        facts: dict[str, Any] = {
            "kind": self.kind,
            "address": t.address(),
            "user": t.user,
            "host": t.host,
            "port": t.port if t.host is not None else None,
            "socket": t.socket if t.host is None else None,
            "databases": list(t.databases),
            "ssl_mode": t.ssl_mode,
            "dump_options": list(DUMP_OPTIONS),
            "accounts": self.wants_accounts(),
        }
        try:
            tool = self.tool()
        except DbsealError:
            facts["tool"] = None
        else:
            facts["tool"] = tool.path
            facts["client_version"] = tool.version_line
            facts["tls_enforced_by_client"] = client_enforces_tls(t, tool.flavor)
            facts["dump_history"] = dumps_history(tool)
        return facts

    def wants_accounts(self) -> bool:
        """Accounts are backed up when asked, and by default for a whole server."""
        if self.policy.accounts is not None:
            return self.policy.accounts
        return not self.target.databases

    def preflight(self, conn: Conn) -> Preflight:
        """Versions, TLS, databases and privileges; raises before anything is dumped."""
        tool = self.tool()
        version = server_version(conn)
        verdict = compare_versions(
            tool.version, parse_server_version(version), self.policy.client_older
        )
        if verdict.refuse:
            raise ClientTooOld(verdict.refuse)
        if self.target.databases:
            missing = missing_databases(conn, list(self.target.databases))
            if missing:
                raise DatabaseError(
                    f"{self.target.address()} has no database {', '.join(missing)} "
                    "(or the account cannot see it)"
                )
            databases = tuple(self.target.databases)
        else:
            databases = tuple(user_databases(conn))
            if not databases:
                raise UsageError(f"{self.target.address()} has no user database to dump")
        warnings = list(verdict.warnings)
        if not client_enforces_tls(self.target, tool.flavor) and self.target.ssl_mode in (
            "required",
            "verify-ca",
        ):
            warnings.append(
                f"{tool.name} cannot be made to refuse plaintext in ssl mode "
                f"{self.target.ssl_mode!r}; TLS was checked on dbseal's own connection only"
            )
        databases, exclusions = resolve_exclusions(
            conn, databases, self.policy.exclude_databases, self.policy.exclude_tables
        )
        warnings += missing_privilege_warnings(conn, databases)
        return Preflight(tool, version, session_tls(conn), databases, tuple(warnings), exclusions)

    def start(self) -> DumpRun:
        """Check everything, then start the dump; raises (and cleans up) before dumping."""
        conn = connect(self.target, self._password)
        snapshot: StatsSnapshot | None = None
        options: ClientOptionsFile | None = None
        try:
            pre = self.preflight(conn)
            options = ClientOptionsFile(self.target, self._password, pre.tool.flavor).__enter__()
            history = dumps_history(pre.tool)
            args = [
                *DUMP_OPTIONS,
                *(HISTORY_OPTIONS if history else ()),
                *pre.exclusions.dump_options(),
                *_flavor_options(pre, version_is_mariadb="MariaDB" in pre.server_version),
            ]
            server_checksums = self.policy.table_checksum == "server"
            snapshot = StatsSnapshot(
                conn,
                list(pre.databases),
                self.policy.checksum_max_bytes if server_checksums else 0,
                exact_floats=self.policy.exact_floats,
                accounts=self.wants_accounts(),
                skip=pre.exclusions.tables,
                values_max_bytes=self.policy.values_max_bytes(),
                history=history,
            )
            # From here until wait_for_start() releases it, no commit can happen server-wide.
            snapshot.begin(self.policy.shared_snapshot, self.policy.lock_wait_timeout)
            proc = spawn_dump(pre.tool.path, options, args, pre.databases)
        except BaseException:
            if options is not None:
                options.remove()
            if snapshot is not None:
                snapshot.close(abort=True)
            else:
                conn.close()
            raise
        contents = {
            "history": history,
            "whole_server": not self.target.databases,
            **pre.exclusions.manifest(),
        }
        run = DumpRun(proc, options, snapshot, pre, self.policy, self._password, contents)
        run.wait_for_start(self.policy.start_timeout)
        return run


def _flavor_options(pre: Preflight, version_is_mariadb: bool) -> list[str]:
    """MySQL 8's mysqldump asks a MariaDB server for column statistics it does not have."""
    version = pre.tool.version
    if version and version.flavor == "mysql" and version.number >= (8, 0, 0) and version_is_mariadb:
        return ["--column-statistics=0"]
    return []
