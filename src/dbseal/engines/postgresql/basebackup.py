"""A physical base backup of a whole PostgreSQL cluster: ``pg_basebackup --format=tar
--wal-method=fetch -D -`` streamed straight into the seal pipeline.

The data object is pg_basebackup's own tar (``base.tar``): the data files, the WAL needed
to make them consistent (``pg_wal/``), ``backup_label`` and the server's ``backup_manifest``
(every file's size and checksum), so a restore unpacks it into an empty data directory and
checks it with ``pg_verifybackup``. While it streams, a follower
(:class:`~dbseal.engines.postgresql.container.TarScanner`) reads the tar headers in line:
the backup is complete only if the tar ends with its end-of-archive block and holds
``backup_label`` and ``backup_manifest``; pg_basebackup's exit status alone is not trusted.
Start/stop LSN and timeline come from its ``--verbose`` output, and the label is recorded in
the manifest. Only the default tablespaces (a tar on stdout cannot hold others); WAL
archiving and point-in-time recovery are a later issue (``source.kind`` leaves room).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql.container import TarScanner
from dbseal.engines.postgresql.passfile import child_env, passfile
from dbseal.engines.postgresql.preflight import check_client, server_facts
from dbseal.engines.postgresql.psql import Session
from dbseal.engines.postgresql.tools import tool, widen_pipe
from dbseal.engines.postgresql.url import PGTarget
from dbseal.errors import MissingPrivileges, UsageError

READ_BLOCK = 1 << 20
_POINT = re.compile(
    r"write-ahead log (start|end) point: ([0-9A-F]+/[0-9A-F]+)(?: on timeline (\d+))?"
)


@dataclass
class BaseBackupResult:
    status: str
    reasons: tuple[str, ...]
    stderr: bytes
    exit_code: int | None
    tool: str
    client_version: str
    server_version: str
    tls: dict[str, Any] | None
    databases: tuple[str, ...]
    contents: dict[str, Any]
    complete: bool = False


def _manifest_files(data: bytes | None) -> int | None:
    """How many files the server's backup_manifest lists (None: missing or unreadable)."""
    if data is None:
        return None
    try:
        return len(json.loads(data).get("Files", []))
    except (ValueError, AttributeError):
        return None


class PgBaseBackupSource:
    kind = "postgresql-physical"

    def __init__(self, target: PGTarget, password: Secret | None) -> None:
        self.target = target
        self.password = password

    def describe(self) -> dict[str, Any]:
        t = self.target
        return {
            "kind": self.kind,
            "engine": "postgresql",
            "address": t.describe(),
            "user": t.user,
            "host": t.host,
            "port": t.port if t.host is not None else None,
            "socket": t.socket if t.host is None else None,
            "databases": [],
            "ssl_mode": t.ssl_mode if t.host is not None else None,
            "format": "tar",
            "wal_method": "fetch",
        }

    def start(self) -> PgBaseBackupRun:
        with Session(self.target, self.password, "postgres") as s:
            version, num, tls = server_facts(s)
            client = check_client(num, version).replace("pg_dump", "pg_basebackup")
            allowed = s.run(
                "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            if not allowed or allowed[0][0] != "t":
                raise MissingPrivileges(
                    f"role {self.target.user} may not take a base backup; nothing was copied",
                    hint=f"ALTER ROLE {self.target.user} REPLICATION (and allow it in pg_hba.conf "
                    "for the replication pseudo-database)",
                )
            spaces = s.run(
                "SELECT spcname FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')"
            )
            if spaces:
                raise UsageError(
                    f"the cluster has tablespaces ({', '.join(str(r[0]) for r in spaces)}): a "
                    "streamed base backup holds only the default ones; nothing was copied",
                    hint="use the logical method (the default) for this server",
                )
            dbs = tuple(
                str(r[0])
                for r in s.run("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
            )
        return PgBaseBackupRun(self, version, client, tls, dbs)


class PgBaseBackupRun:
    def __init__(
        self,
        source: PgBaseBackupSource,
        server_version: str,
        client: str,
        tls: dict[str, Any] | None,
        databases: tuple[str, ...],
    ) -> None:
        self._source = source
        self._facts = (server_version, client, tls, databases)
        self._stack = contextlib.ExitStack()
        pgpass = self._stack.enter_context(passfile(source.password))
        self._err = self._stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                tool("pg_basebackup"),
                "-D",
                "-",
                "--format=tar",
                "--wal-method=fetch",
                "--checkpoint=fast",
                "--label=dbseal",
                "--verbose",
                "--no-password",
                "-d",
                source.target.conninfo("postgres"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=child_env(pgpass),
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        widen_pipe(self._proc.stdout.fileno())
        self._scan = TarScanner(frozenset({"backup_label", "backup_manifest"}))

    def __enter__(self) -> PgBaseBackupRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._stack.close()

    def read(self, n: int = -1) -> bytes:
        assert self._proc.stdout is not None
        if n < 0:
            parts = []
            while chunk := self.read(READ_BLOCK):
                parts.append(chunk)
            return b"".join(parts)
        chunk = os.read(self._proc.stdout.fileno(), min(n, READ_BLOCK))
        self._scan.feed(chunk)
        return chunk

    def finish(self) -> BaseBackupResult:
        rc = self._proc.wait()
        self._err.seek(0)
        stderr = self._err.read()
        text = stderr.decode("utf-8", "replace")
        f = self._scan
        label_bytes = f.captured.get("backup_label")
        manifest_files = _manifest_files(f.captured.get("backup_manifest"))
        reasons = []
        if rc != 0:
            why = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exit {rc}"
            errors = [ln for ln in text.splitlines() if "error" in ln.lower()]
            reasons.append(f"pg_basebackup failed ({why}): {errors[0] if errors else 'no message'}")
        if f.error is not None or not f.ended:
            reasons.append(f"the base backup is not a whole tar: {f.error or 'it stopped early'}")
        elif label_bytes is None or manifest_files is None:
            reasons.append("the base backup holds no backup_label or no readable backup_manifest")
        points = {m.group(1): (m.group(2), m.group(3)) for m in _POINT.finditer(text)}
        server_version, client, tls, dbs = self._facts
        label = (label_bytes or b"").decode("utf-8", "replace")
        return BaseBackupResult(
            status="failed" if reasons else "ok",
            reasons=tuple(reasons),
            stderr=stderr,
            exit_code=rc,
            tool=tool("pg_basebackup"),
            client_version=client,
            server_version=server_version,
            tls=tls,
            databases=dbs,
            contents={
                "container": "pg_basebackup-tar",
                "wal_method": "fetch",
                "start_lsn": points.get("start", (None, None))[0],
                "stop_lsn": points.get("end", (None, None))[0],
                "timeline": int(points["start"][1])
                if points.get("start", (None, None))[1]
                else None,
                "backup_label": label,
                "manifest_files": manifest_files,
                "members": f.members,
            },
            complete=not reasons,
        )


__all__ = ["BaseBackupResult", "PgBaseBackupRun", "PgBaseBackupSource"]
