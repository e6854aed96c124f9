"""A physical backup of a local MariaDB server with ``mariadb-backup --stream=mbstream``.

``start()`` connects, runs every preflight check (:mod:`.preflight`: locality, tool
version, privileges, scratch directory) and lists the tables with their engines, then
starts::

    mariadb-backup --defaults-extra-file=TMP0600 --backup --stream=mbstream
                   --target-dir=SCRATCH --datadir=DATADIR [--incremental-lsn=N]

``--defaults-extra-file`` comes first (mariadb-backup ignores it elsewhere) and is the
only place the password is written: a 0600 file removed once the stream has begun. It
is an *extra* file on purpose: mariadb-backup also reads the server's own option files
(``[mysqld]``, ``[mariadb-backup]``) for the InnoDB settings it copies with.

An incremental starts at ``incremental_lsn``, the parent's ``to_lsn`` that the caller
read from the parent's authenticated manifest in the repository (never from a local
directory that may be gone or stale).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.connect import Conn, connect, server_version
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.physical import preflight as pf
from dbseal.engines.mariadb.physical.run import MariabackupRun, RunContext, spawn_backup
from dbseal.errors import UsageError

SYSTEM_SCHEMAS = ("information_schema", "performance_schema")
_TABLES_SQL = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES "
    "WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE') "
    "AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema') "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME"
)


@dataclass(frozen=True)
class PhysicalOptions:
    """``parent``/``incremental_lsn``: an incremental on top of backup ``parent``."""

    parent: str | None = None
    incremental_lsn: int | None = None
    scratch_dir: str | None = None
    extra_args: tuple[str, ...] = ()  # e.g. --parallel=2


class ExtraDefaultsFile(ClientOptionsFile):
    """The login file, given as ``--defaults-extra-file`` (the server's own files still count)."""

    @property
    def argument(self) -> str:
        return f"--defaults-extra-file={self.path}"


def list_tables(conn: Conn) -> list[dict[str, str]]:
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        return [
            {"database": str(d), "table": str(t), "engine": str(e or "")}
            for d, t, e in cur.fetchall()
        ]


def _datadir(conn: Conn) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT @@datadir")
        row = cur.fetchone()
    return str(row[0]) if row else ""


class MariabackupSource:
    """Backs up ``target`` (on this machine) with mariadb-backup; see the module text."""

    kind = "mariadb-backup"

    def __init__(
        self, target: MySQLTarget, password: Secret | None, options: PhysicalOptions | None = None
    ) -> None:
        if target.databases:
            raise UsageError(
                f"a physical backup copies the whole server; {target.address()} names "
                f"database(s) {', '.join(target.databases)}",
                hint="drop the databases from the URL, or use --method logical",
            )
        self.target = target
        self._password = password
        self.options = options or PhysicalOptions()
        if (self.options.parent is None) != (self.options.incremental_lsn is None):
            raise ValueError("an incremental needs both parent and incremental_lsn")

    def __repr__(self) -> str:
        return f"MariabackupSource({self.target.address()!r})"

    def describe(self) -> dict[str, Any]:
        """Public facts about the source, for labels and manifests; never a secret."""
        t = self.target
        return {
            "kind": self.kind,
            "method": "physical",
            "address": t.address(),
            "user": t.user,
            "host": t.host,
            "port": t.port if t.host is not None else None,
            "socket": t.socket if t.host is None else None,
            "databases": [],
            "ssl_mode": t.ssl_mode,
            "incremental_of": self.options.parent,
            "incremental_lsn": self.options.incremental_lsn,
        }

    def start(self) -> MariabackupRun:
        """Check everything, then start mariadb-backup; raises before any data moves."""
        pf.check_local(self.target, None)  # a remote host is refused before connecting
        conn = connect(self.target, self._password)
        options: ExtraDefaultsFile | None = None
        scratch: Path | None = None
        try:
            version = server_version(conn)
            datadir = _datadir(conn)
            pf.check_local(self.target, datadir)
            tool = pf.find_backup_tool()
            pf.check_tool_version(tool, version)
            pf.check_privileges(conn, self.target, version)
            scratch = pf.make_scratch(self.options.scratch_dir)
            before = list_tables(conn)
            options = ExtraDefaultsFile(self.target, self._password, "mariadb").__enter__()
            args = [
                "--backup",
                "--stream=mbstream",
                f"--target-dir={scratch}",
                f"--datadir={datadir}",
                *(
                    [f"--incremental-lsn={self.options.incremental_lsn}"]
                    if self.options.incremental_lsn is not None
                    else []
                ),
                *self.options.extra_args,
            ]
            proc = spawn_backup(tool.path, options, args)
        except BaseException:
            if options is not None:
                options.remove()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        finally:
            conn.close()
        ctx = RunContext(
            tool=tool,
            server_version=version,
            parent=self.options.parent,
            incremental_lsn=self.options.incremental_lsn,
            scratch=scratch,
            password=self._password,
            tables_before=before,
            tables_after=self._tables_now,
        )
        return MariabackupRun(proc, options, ctx)

    def _tables_now(self) -> list[dict[str, str]]:
        conn = connect(self.target, self._password)
        try:
            return list_tables(conn)
        finally:
            conn.close()


__all__ = ["ExtraDefaultsFile", "MariabackupSource", "PhysicalOptions", "list_tables"]
