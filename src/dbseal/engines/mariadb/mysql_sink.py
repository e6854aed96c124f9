"""``MysqlClientSink``: feed a dump to the ``mariadb`` (or ``mysql``) client, stop at the first error.

The client runs as::

    mariadb --defaults-file=F --batch --binary-mode --comments --skip-reconnect
        --local-infile=0 --default-character-set=utf8mb4 --max-allowed-packet=1G

* no ``--force``: the first failing statement ends the restore with a non-zero status;
* ``--skip-reconnect``: a dropped connection must not silently continue with the rest of
  the dump in a fresh session (the first part would be missing);
* ``--binary-mode``: data is data; client commands (``\\!`` runs a shell, ``system``,
  ``source``...) are not interpreted, so a dump cannot run anything on this machine
  (checked: ``\\! touch FILE`` stops the restore with "Unknown command");
* ``--comments``: routine, trigger and event bodies keep their comments;
* ``--local-infile=0``: a dump cannot make the client send a local file to the server;
* the option file (:mod:`dbseal.engines.mariadb.defaults_file`) carries login and TLS.

The constructor checks the connection with PyMySQL first (same TLS rules as the source),
so a wrong password or a TLS problem is reported before any byte is sent.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import subprocess
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Self

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.connect import connect
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.messages import MessageSummary, StderrCollector
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.rename import RenameFilter
from dbseal.engines.mariadb.tools import CLIENT_PROGRAMS, Tool, find_tool
from dbseal.errors import RestoreFailed

__all__ = ["CLIENT_OPTIONS", "MysqlClientSink", "RenameFilter", "SinkResult"]

CLIENT_OPTIONS: tuple[str, ...] = (
    "--batch",
    "--binary-mode",
    "--comments",
    "--skip-reconnect",
    "--local-infile=0",
    "--default-character-set=utf8mb4",
    "--max-allowed-packet=1G",
)
_EXIT_WAIT = 600.0


class _SyncMarks:
    """Reads a client's standard output for the tokens :meth:`MysqlClientSink.sync` sends."""

    def __init__(self, pipe: IO[bytes] | None) -> None:
        assert pipe is not None
        self._pipe = pipe
        self._prefix = f"dbseal-sync-{os.urandom(6).hex()}-"
        self._count = 0
        self._seen = 0
        self._closed = False
        self._cond = threading.Condition()
        threading.Thread(target=self._run, name="dbseal-restore-stdout", daemon=True).start()

    def next_token(self) -> tuple[int, str]:
        """A new token: its number (to :meth:`wait` for) and its text (to send)."""
        self._count += 1
        return self._count, f"{self._prefix}{self._count}"

    def _run(self) -> None:
        mark = self._prefix.encode()
        try:
            for line in self._pipe:
                at = line.find(mark)
                if at >= 0:
                    n = int(line[at + len(mark) :].strip() or b"0")
                    with self._cond:
                        self._seen = max(self._seen, n)
                        self._cond.notify_all()
        except (OSError, ValueError):
            pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, n: int) -> bool:
        """True once token ``n`` came back; False if the client's output ended first."""
        with self._cond:
            self._cond.wait_for(lambda: self._seen >= n or self._closed)
            return self._seen >= n


@dataclass(frozen=True)
class SinkResult:
    tool: str
    exit_code: int
    bytes_written: int
    stderr: bytes
    messages: MessageSummary
    started: datetime.datetime
    ended: datetime.datetime


class MysqlClientSink:
    """Write a dump with :meth:`write`, then :meth:`close` (raises RestoreFailed) or :meth:`abort`."""

    def __init__(
        self,
        target: MySQLTarget,
        password: Secret | None,
        byte_filter: RenameFilter | None = None,
        syncable: bool = False,
        checked: bool = False,
    ) -> None:
        self.target = target
        self._password = password
        self._filter = byte_filter
        self._bytes = 0
        self._started = datetime.datetime.now(datetime.UTC)
        self._result: SinkResult | None = None
        self.tool: Tool = find_tool(CLIENT_PROGRAMS)
        if not checked:
            connect(target, password).close()  # login and TLS problems surface here, clearly
        self._options = ClientOptionsFile(target, password, self.tool.flavor).__enter__()
        extra = ["--unbuffered"] if syncable else []
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = self._proc = subprocess.Popen(
                [self.tool.path, self._options.argument, *CLIENT_OPTIONS, *extra],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE if syncable else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self._options.env,
                start_new_session=True,
            )
            assert proc.stderr is not None
            self._stderr = StderrCollector(proc.stderr, name="dbseal-restore-stderr")
            self._marks = _SyncMarks(proc.stdout) if syncable else None
        except BaseException:  # also Ctrl-C/SIGTERM right after the start: no client, no file left
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
            self._options.remove()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def bytes_written(self) -> int:
        return self._bytes

    def write(self, data: bytes) -> None:
        """Send bytes to the client; raises RestoreFailed as soon as it has stopped."""
        if self._filter is not None:
            data = self._filter.feed(data)
        self._send(data)

    def _send(self, data: bytes) -> None:
        if not data:
            return
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, ValueError):
            self._fail_now()
        self._bytes += len(data)

    def sync(self) -> None:
        """Wait until the client has executed everything written so far (``syncable`` only)."""
        assert self._marks is not None, "sync() needs syncable=True"
        n, token = self._marks.next_token()
        self._send(f"SELECT '{token}' AS dbseal_sync;\n".encode())
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.flush()  # the pipe is buffered: the statement must reach the client
        except (BrokenPipeError, ValueError):
            self._fail_now()
        if not self._marks.wait(n):
            self._fail_now()

    def close(self) -> SinkResult:
        """End of input: wait for the client and check its status and messages."""
        if self._result is not None:
            return self._result
        if self._filter is not None:
            self._send(self._filter.flush())
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        try:
            rc = self._proc.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self.abort()
            raise RestoreFailed(
                f"{self.tool.name} did not finish {_EXIT_WAIT:.0f} s after the end of input"
            ) from None
        result = self._finish(rc)
        if rc != 0 or result.messages.errors:
            raise RestoreFailed(self._failure_text(result))
        self._result = result
        return result

    def abort(self) -> None:
        """Stop the client now (SIGKILL) and remove the option file."""
        try:
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
            self._proc.wait()
            self._stderr.finish(timeout=5)
        finally:
            self._options.remove()
            if self._proc.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._proc.stdin.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._result is None:
            self.abort()

    def _finish(self, rc: int) -> SinkResult:
        stderr, summary = self._stderr.finish()
        self._options.remove()
        if self._password is not None and len(self._password) >= 4:
            stderr = stderr.replace(self._password.reveal(), b"***")
        return SinkResult(
            tool=self.tool.path,
            exit_code=rc,
            bytes_written=self._bytes,
            stderr=stderr,
            messages=summary,
            started=self._started,
            ended=datetime.datetime.now(datetime.UTC),
        )

    def _fail_now(self) -> None:
        """The client closed its input: it stopped on an error. Report that error."""
        try:
            rc = self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self.abort()
            raise RestoreFailed(f"{self.tool.name} stopped reading its input") from None
        raise RestoreFailed(self._failure_text(self._finish(rc)))

    def _failure_text(self, result: SinkResult) -> str:
        first = result.messages.first_errors[0] if result.messages.first_errors else None
        if first is None:
            tail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            first = tail[-1] if tail else "no message"
        status = (
            f"was killed by signal {-result.exit_code}"
            if result.exit_code < 0
            else f"exited with status {result.exit_code}"
        )
        text = f"restore into {self.target.address()} failed: {self.tool.name} {status}: {first}"
        if self._password is not None and len(self._password) >= 4:
            text = text.replace(self._password.reveal().decode("utf-8", "replace"), "***")
        return text
