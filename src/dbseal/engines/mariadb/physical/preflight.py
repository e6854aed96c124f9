"""What a physical backup checks before any data moves; each failure is a clear error.

- :func:`find_backup_tool`: ``mariadb-backup`` (or ``mariabackup``) is installed, and
  :func:`check_tool_version`: of the server's own major.minor (a 10.6 tool cannot copy a
  10.11 datadir correctly; the seed's "5.1 tool against a 5.5 server").
- :func:`check_local`: the server runs on this machine and its datadir is readable here
  (mariadb-backup copies the files itself; a remote host is refused, with what to do).
- :func:`missing_privileges`: RELOAD, PROCESS, LOCK TABLES and BINLOG MONITOR (REPLICATION
  CLIENT before 10.5), read from information_schema.USER_PRIVILEGES.
- :func:`make_scratch`: a private scratch directory (``--target-dir``) that is writable
  and has room for mariadb-backup's metadata files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dbseal.engines.mariadb.connect import Conn
from dbseal.engines.mariadb.defaults_file import child_env
from dbseal.engines.mariadb.mysql_url import MySQLTarget, is_local_host
from dbseal.engines.mariadb.privileges import _grantees
from dbseal.errors import (
    BackupToolMismatch,
    MissingPrivileges,
    PhysicalNeedsLocalServer,
    ScratchUnusable,
)

BACKUP_PROGRAMS = ("mariadb-backup", "mariabackup")
SEARCH_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin")
SCRATCH_ROOM = 64 << 20  # metadata files and mariadb-backup's temporary files
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class BackupTool:
    path: str
    version_line: str
    version: tuple[int, int, int]

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def find_backup_tool() -> BackupTool:
    """The first of :data:`BACKUP_PROGRAMS` in PATH (then :data:`SEARCH_DIRS`), with its version."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SEARCH_DIRS])
    for name in BACKUP_PROGRAMS:
        path = shutil.which(name, path=search)
        if path is not None:
            return _with_version(path)
    raise BackupToolMismatch(
        f"{' or '.join(BACKUP_PROGRAMS)} not found in PATH or {', '.join(SEARCH_DIRS)}: "
        "a physical backup needs it"
    )


def _with_version(path: str) -> BackupTool:
    try:
        proc = subprocess.run(
            [path, "--version"],
            capture_output=True,
            timeout=30,
            check=False,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupToolMismatch(f"cannot run {path} --version: {exc}") from None
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    line = next((ln for ln in text.splitlines() if _VERSION.search(ln)), "")
    m = _VERSION.search(line)
    if proc.returncode != 0 or m is None:
        raise BackupToolMismatch(
            f"{path} --version failed or printed no version (status {proc.returncode}): "
            f"{text[:200] or 'no output'}"
        )
    major, minor, patch = (int(g) for g in m.groups())
    return BackupTool(path, line, (major, minor, patch))


def server_number(version: str) -> tuple[int, int, int] | None:
    m = _VERSION.search(version)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def check_tool_version(tool: BackupTool, server_version: str) -> None:
    """Refuse a tool whose major.minor differs from the server's."""
    server = server_number(server_version)
    if "MariaDB" not in server_version or server is None:
        raise BackupToolMismatch(
            f"the server reports version {server_version!r}: mariadb-backup backs up MariaDB only",
            hint="use --method logical for this server",
        )
    if tool.version[:2] != server[:2]:
        raise BackupToolMismatch(
            f"{tool.name} is version {tool.version_text} and the server is "
            f"{'.'.join(map(str, server))}: mariadb-backup must be of the server's major.minor "
            f"({server[0]}.{server[1]}); nothing was backed up"
        )


def check_local(target: MySQLTarget, datadir: str | None) -> None:
    """Refuse a server that is not on this machine, or (``datadir`` given, from the
    server) whose datadir cannot be read here."""
    how = (
        "run dbseal on the database host (connect over its socket or 127.0.0.1) and send "
        "the backup to a remote repository (s3://, a dbseal+tls:// receiver), or use --method logical"
    )
    if not is_local_host(target.host):
        raise PhysicalNeedsLocalServer(
            f"{target.address()} is a remote host: mariadb-backup copies the server's data "
            "files itself, so a physical backup runs on the database host",
            hint=how,
        )
    if datadir is None:
        return
    path = Path(datadir)
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        raise PhysicalNeedsLocalServer(
            f"the server at {target.address()} has its datadir at {datadir}, which this "
            "machine cannot read (is the server in a container, another machine behind a "
            "tunnel, or run by another user?): mariadb-backup copies the data files itself",
            hint=f"{how}; or run dbseal as a user who can read {datadir}",
        )


def needed_privileges(server: tuple[int, int, int] | None) -> tuple[str, ...]:
    binlog = "BINLOG MONITOR" if server is None or server[:2] >= (10, 5) else "REPLICATION CLIENT"
    return ("RELOAD", "PROCESS", "LOCK TABLES", binlog)


def missing_privileges(conn: Conn, server_version: str) -> list[str]:
    """The global privileges mariadb-backup needs that the account does not have."""
    grantees = _grantees(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
        have = {str(p).upper() for g, p in cur.fetchall() if str(g) in grantees}
    if "SUPER" in have:  # before 10.5.2 SUPER covered BINLOG MONITOR's statements
        have.add("REPLICATION CLIENT")
    if "REPLICATION CLIENT" in have:  # an alias of BINLOG MONITOR since 10.5
        have.add("BINLOG MONITOR")
    return [p for p in needed_privileges(server_number(server_version)) if p not in have]


def check_privileges(conn: Conn, target: MySQLTarget, server_version: str) -> None:
    missing = missing_privileges(conn, server_version)
    if missing:
        raise MissingPrivileges(
            f"the account {target.user} on {target.address()} lacks {', '.join(missing)}, "
            "which mariadb-backup needs; nothing was backed up",
            hint=f"GRANT {', '.join(missing)} ON *.* TO the backup account",
        )


def make_scratch(parent: str | None) -> Path:
    """A fresh private directory for ``--target-dir``, checked for writes and free space."""
    base = parent or tempfile.gettempdir()
    try:
        free = shutil.disk_usage(base).free
        path = Path(tempfile.mkdtemp(prefix="dbseal-physical-", dir=base))
    except OSError as exc:
        raise ScratchUnusable(
            f"cannot create a scratch directory in {base}: {exc.strerror or exc}"
        ) from None
    if free < SCRATCH_ROOM:
        shutil.rmtree(path, ignore_errors=True)
        raise ScratchUnusable(
            f"the scratch directory {base} has {free >> 20} MiB free; mariadb-backup needs "
            f"{SCRATCH_ROOM >> 20} MiB there"
        )
    return path


__all__ = [
    "BackupTool",
    "check_local",
    "check_privileges",
    "check_tool_version",
    "find_backup_tool",
    "make_scratch",
    "missing_privileges",
    "server_number",
]
