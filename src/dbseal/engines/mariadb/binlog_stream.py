"""Reading a server's binary logs as a replication client, into a private scratch directory.

``mariadb-binlog --read-from-remote-server --raw`` asks the server for its logs over the
replication protocol (a binlog dump, the way a replica does; the account needs
REPLICATION SLAVE) and writes them byte for byte as files named like the server's into
``--result-file=DIR/``. With ``--stop-never`` it waits for new events; without it, it
stops at the end of the last log (``--to-last-log``). It does not reconnect after the
connection drops: :mod:`dbseal.ops.archive` starts it again from the last archived
position, which the server accepts only at an event boundary.

The scratch directory is 0700, on ``/dev/shm`` when possible, and the caller removes
what it has sealed; credentials go through the 0600 option file (never argv or env).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import pymysql

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.connect import Conn, connect
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.tools import find_tool
from dbseal.errors import BinlogArchiveError, DbsealError

BINLOG_PROGRAMS = ("mariadb-binlog", "mysqlbinlog")
_PRIVATE_PARENTS = ("/dev/shm",)


@dataclass(frozen=True)
class ServerLogs:
    """What the server says about its binary logs."""

    server_id: int
    files: list[tuple[str, int]]  # SHOW BINARY LOGS: name, size
    gtid_pos: str  # @@gtid_binlog_pos

    def names(self) -> list[str]:
        return [f for f, _ in self.files]

    def size_of(self, name: str) -> int | None:
        return next((s for f, s in self.files if f == name), None)


def server_logs(target: MySQLTarget, password: Secret | None) -> ServerLogs:
    """``SHOW BINARY LOGS`` and the server id; BinlogArchiveError when binlog is off."""
    try:
        conn = connect(target, password)
    except DbsealError as exc:
        raise BinlogArchiveError(f"cannot connect to {target.address()}: {exc.message}") from None
    try:
        return read_server_logs(conn, target.address())
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def read_server_logs(conn: Conn, address: str) -> ServerLogs:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@log_bin, @@server_id, @@gtid_binlog_pos")
            row = cur.fetchone()
            if row is None or not int(row[0]):
                raise BinlogArchiveError(
                    f"the server at {address} has no binary log (log_bin is OFF)",
                    hint="start the server with log_bin (and binlog_format=ROW), then archive",
                )
            cur.execute("SHOW BINARY LOGS")
            files = [(str(r[0]), int(r[1])) for r in cur.fetchall()]
    except pymysql.err.MySQLError as exc:
        msg = exc.args[-1] if exc.args else str(exc)
        raise BinlogArchiveError(f"cannot list the binary logs of {address}: {msg}") from None
    return ServerLogs(int(row[1]), files, str(row[2] or ""))


def scratch_dir(parent: str | None = None) -> Path:
    """A fresh 0700 directory, on /dev/shm unless ``parent`` is given."""
    if parent is None:
        parent = next((p for p in _PRIVATE_PARENTS if os.access(p, os.W_OK | os.X_OK)), None)
    return Path(tempfile.mkdtemp(prefix="dbseal-binlog-", dir=parent))


class BinlogStream:
    """One ``mariadb-binlog`` run, from ``file`` at ``position``, writing into ``directory``."""

    def __init__(
        self,
        target: MySQLTarget,
        password: Secret | None,
        directory: Path,
        file: str,
        position: int,
        follow: bool,
    ) -> None:
        self.directory = directory
        self._tool = find_tool(BINLOG_PROGRAMS)
        self._opts = ClientOptionsFile(target, password, self._tool.flavor)
        self._file, self._position, self._follow = file, max(4, position), follow
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = directory.parent / f".{directory.name}.stderr"

    def __enter__(self) -> Self:
        self._opts.__enter__()
        args = [
            self._tool.path,
            self._opts.argument,
            "--read-from-remote-server",
            "--raw",
            f"--result-file={self.directory}/",
            f"--start-position={self._position}",
            "--stop-never" if self._follow else "--to-last-log",
            self._file,
        ]
        with self._stderr.open("wb") as err:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self._opts.env,
                start_new_session=True,
            )
        return self

    def remove_options(self) -> None:
        """Delete the option file (the child read it when it started)."""
        self._opts.remove()

    def poll(self) -> int | None:
        assert self._proc is not None
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        assert self._proc is not None
        return self._proc.wait(timeout)

    def error_text(self) -> str:
        try:
            text = self._stderr.read_bytes().decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return text.splitlines()[-1] if text else ""

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._opts.remove()
        self._stderr.unlink(missing_ok=True)


def remove_scratch(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
