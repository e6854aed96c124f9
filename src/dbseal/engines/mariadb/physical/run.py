"""One running mariadb-backup: its mbstream as ``read(n)``, and the verdict at the end.

The exit status is never trusted alone. The backup is ``failed`` when mariadb-backup
exits non-zero or by a signal, when its standard error does not end with
``completed OK!``, when it printed a known fatal message (:data:`FATAL`), when the
mbstream is not whole (:class:`~.mbstream.MbstreamScanner`), or when the output was not
read to its end.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.messages import Kind, MessageSummary, StderrCollector
from dbseal.engines.mariadb.physical import facts
from dbseal.engines.mariadb.physical.mbstream import MbstreamScanner
from dbseal.engines.mariadb.physical.preflight import BackupTool

Status = Literal["ok", "warnings", "failed"]
READ_BLOCK = 1 << 20
_EXIT_WAIT = 60.0
COMPLETED = b"completed OK!"
# Known fatal messages (MariaDB 10.x-11.x); any of them fails the backup whatever the exit.
FATAL = re.compile(
    rb"log block numbers mismatch|InnoDB log has wrapped around|log (?:was|has been) "
    rb"overwritten|Was only able to copy log|Unable to obtain lock|\[ERROR\]|\berror:|"
    rb"\bFATAL\b|fatal signal|got signal|Assertion failure|Failed to |failed to |"
    rb"Access denied|Can't connect|Cannot connect|Operating system error",
    re.IGNORECASE,
)
_FILE_LINE = re.compile(rb"^\[\d+\] [\d-]+ [\d:]+ +(?:Streaming|Copying|\.\.\.done|DDL tracking)")
_WARNING = re.compile(rb"\[Warning\]|\bwarning:", re.IGNORECASE)


class BackupMessages:
    """Classifies mariadb-backup's stderr lines; remembers the last one."""

    def __init__(self) -> None:
        self.last = b""

    def __call__(self, line: bytes) -> Kind | None:
        line = line.strip()
        if not line:
            return None
        self.last = line[-200:]
        if _FILE_LINE.match(line):
            return None
        if FATAL.search(line):
            return "error"
        if _WARNING.search(line):
            return "warning"
        return None


@dataclass(frozen=True)
class PhysicalResult:
    """Everything known about a finished physical backup; ``reasons`` explain a non-ok status."""

    status: Status
    reasons: tuple[str, ...]
    exit_code: int | None
    stderr: bytes
    messages: MessageSummary
    tool: str
    client_version: str
    server_version: str
    databases: tuple[str, ...]
    raw_bytes: int
    started: datetime.datetime
    ended: datetime.datetime
    physical: dict[str, Any] = field(default_factory=dict)
    complete: bool = False

    def manifest_fields(self) -> dict[str, Any]:
        """Top-level manifest fields (see :mod:`dbseal.catalog.chains`) and the details."""
        p = self.physical
        return {
            "method": "physical",
            "type": p.get("type", "full"),
            "parent": p.get("parent"),
            "from_lsn": p.get("from_lsn"),
            "to_lsn": p.get("to_lsn"),
            "tool_version": p.get("tool_version"),
            "table_engines": p.get("table_engines", []),
            "physical": {
                k: v for k, v in p.items() if k not in ("type", "parent", "table_engines")
            },
        }


@dataclass
class RunContext:
    """What the source hands the run: the tool, facts from the preflight, the scratch dir."""

    tool: BackupTool
    server_version: str
    parent: str | None
    incremental_lsn: int | None
    scratch: Path
    password: Secret | None
    tables_before: list[dict[str, str]]
    tables_after: Callable[[], list[dict[str, str]]]


def spawn_backup(tool: str, options: ClientOptionsFile, args: list[str]) -> subprocess.Popen[bytes]:
    """Start mariadb-backup; the option file first, the password nowhere on argv or env."""
    proc = subprocess.Popen(
        [tool, options.argument, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=options.env,
        start_new_session=True,  # a Ctrl-C reaches dbseal, which then stops the child
    )
    assert proc.stdout is not None
    with contextlib.suppress(OSError):
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, READ_BLOCK)
    return proc


class MariabackupRun:
    """A started mariadb-backup: ``read(n)`` until ``b""``, then :meth:`finish`."""

    def __init__(
        self, proc: subprocess.Popen[bytes], options: ClientOptionsFile, ctx: RunContext
    ) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        self._fd = proc.stdout.fileno()
        self._options = options
        self._ctx = ctx
        self._started = datetime.datetime.now(datetime.UTC)
        self._messages = BackupMessages()
        self._stderr = StderrCollector(proc.stderr, "dbseal-backup-stderr", self._messages)
        self._scan = MbstreamScanner()
        self._eof = False
        self._bytes = 0
        self._notes: list[str] = []
        self._result: PhysicalResult | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the mbstream (``n`` unless it ends first; all the rest if
        ``n < 0``); ``b""`` at the end."""
        if n < 0:
            pieces = []
            while piece := self.read(READ_BLOCK):
                pieces.append(piece)
            return b"".join(pieces)
        chunks: list[bytes] = []
        got = 0
        while got < n and not self._eof:
            chunk = os.read(self._fd, min(n - got, READ_BLOCK))
            self._eof = not chunk
            chunks.append(chunk)
            got += len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if data:
            self._options.remove()  # the child read its options before streaming anything
            self._scan.feed(data)
            self._bytes += len(data)
        return data

    def finish(self) -> PhysicalResult:
        """Wait for mariadb-backup; the verdict. Idempotent."""
        if self._result is not None:
            return self._result
        if not self._eof:
            self._notes.append("the backup stream was not read to its end")
            while self.read(READ_BLOCK):
                pass
        try:
            rc = self._proc.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            rc = self._proc.wait()
            self._notes.append(
                f"mariadb-backup did not exit {_EXIT_WAIT:.0f} s after its output ended"
            )
        stderr, summary = self._stderr.finish()
        self._options.remove()
        self._result = self._verdict(rc, stderr, summary)
        self._cleanup()
        return self._result

    def abort(self) -> None:
        """Stop mariadb-backup now (SIGKILL), reap it, remove the option file and scratch."""
        try:
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            self._stderr.finish(timeout=5)
        finally:
            self._options.remove()
            self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self._ctx.scratch, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    # -- the verdict -----------------------------------------------------------------

    def _verdict(self, rc: int, stderr: bytes, summary: MessageSummary) -> PhysicalResult:
        ctx = self._ctx
        name = ctx.tool.name
        failures = list(self._notes)
        warnings: list[str] = []
        if rc < 0:
            failures.append(f"{name} was killed by signal {signal.Signals(-rc).name}")
        elif rc > 0:
            failures.append(f"{name} exited with status {rc}")
        if summary.errors:
            failures.append(
                f"{name} reported {summary.errors} error(s), the first: {summary.first_errors[0]}"
            )
        if COMPLETED not in self._messages.last:
            last = self._messages.last.decode("utf-8", "replace") or "nothing"
            failures.append(f"{name}'s messages do not end with 'completed OK!' (the last: {last})")
        failures += self._scan.problems()
        if summary.warnings:
            warnings.append(
                f"{name} printed {summary.warnings} warning(s), the first: {summary.first_warnings[0]}"
            )
        physical = facts.from_stream(self._scan, ctx.tool, ctx.server_version, ctx.parent)
        if not failures:
            failures += facts.check_lsns(physical, ctx.incremental_lsn)
        after: list[dict[str, str]] = []
        if not failures:
            try:
                after = ctx.tables_after()
            except Exception as exc:  # the backup is whole; only the table list is missing
                warnings.append(f"the tables could not be listed after the backup: {exc}")
                after = ctx.tables_before
            warnings += facts.table_changes(ctx.tables_before, after)
        physical["table_engines"] = after
        status: Status = "failed" if failures else "warnings" if warnings else "ok"
        reasons = [self._redact(r) for r in failures + warnings]
        return PhysicalResult(
            status=status,
            reasons=tuple(reasons),
            exit_code=rc,
            stderr=self._redact_bytes(stderr),
            messages=summary,
            tool=ctx.tool.path,
            client_version=ctx.tool.version_line,
            server_version=ctx.server_version,
            databases=tuple(sorted({t["database"] for t in after})),
            raw_bytes=self._bytes,
            started=self._started,
            ended=datetime.datetime.now(datetime.UTC),
            physical=physical,
            complete=not failures,
        )

    def _redact_bytes(self, data: bytes) -> bytes:
        pw = self._ctx.password
        if pw is not None and len(pw.reveal()) >= 4:
            return data.replace(pw.reveal(), b"***")
        return data

    def _redact(self, text: str) -> str:
        return self._redact_bytes(text.encode()).decode("utf-8", "replace")


__all__ = ["FATAL", "MariabackupRun", "PhysicalResult", "RunContext", "spawn_backup"]
