"""One running dump: its output as a file-like ``read(n)``, and the verdict at the end.

:class:`DumpRun` never trusts the exit status alone. The dump is ``failed`` when the
program exits non-zero or by a signal, when its standard error holds an error line, when
the output does not end with ``-- Dump completed``, or when the output was not read to
its end; it has ``warnings`` for warning lines, preflight warnings and missing
statistics (and is ``failed`` for them under the policy ``warnings="fail"``).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import tabledigest
from dbseal.engines.mariadb.connect import TLSInfo
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.dumppolicy import DumpPolicy
from dbseal.engines.mariadb.exclude import Exclusions
from dbseal.engines.mariadb.messages import MessageSummary, StderrCollector
from dbseal.engines.mariadb.snapshot import SnapshotKind, StatsSnapshot
from dbseal.engines.mariadb.stats import SchemaObjects, TableStat
from dbseal.engines.mariadb.tools import Tool
from dbseal.pipeline import ThreadedWriter

Status = Literal["ok", "warnings", "failed"]
__all__ = ["DumpPolicy", "DumpResult", "DumpRun", "Preflight", "spawn_dump"]
READ_BLOCK = 1 << 20
TAIL_KEEP = 4096
START_MARK = b"-- Current Database: "
_END_MARK = re.compile(rb"(?:\A|\n)-- Dump completed(?: on [^\n]*)?\n?\Z")
SECTIONS_END = b" (then dbseal's sections)\n"  # appended to the dump's own completion line
_PREFIX_LIMIT = 1 << 20
_EXIT_WAIT = 60.0


@dataclass(frozen=True)
class Preflight:
    """What the source learned before dumping (no secret)."""

    tool: Tool
    server_version: str
    tls: TLSInfo | None
    databases: tuple[str, ...]
    warnings: tuple[str, ...]
    exclusions: Exclusions = field(default_factory=Exclusions)


@dataclass(frozen=True)
class DumpResult:
    """Everything known about a finished dump; ``reasons`` explain a non-``ok`` status."""

    status: Status
    reasons: tuple[str, ...]
    exit_code: int | None
    stderr: bytes
    messages: MessageSummary
    tool: str
    client_version: str
    server_version: str
    tls: TLSInfo | None
    databases: tuple[str, ...]
    tables: tuple[TableStat, ...]
    objects: tuple[SchemaObjects, ...]
    snapshot: SnapshotKind
    contents: dict[str, Any]
    raw_bytes: int
    started: datetime.datetime
    ended: datetime.datetime
    # the output is a whole dump (it may still be "failed" by policy: warnings=fail)
    complete: bool = False
    # binlog coordinates of the dump's snapshot (point-in-time recovery starts there);
    # only when the snapshot is shared with the dump's (snapshot.py), else None
    binlog: dict[str, Any] | None = None


def spawn_dump(
    tool: str, options: ClientOptionsFile, args: list[str], databases: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    """Start the dump program; ``--defaults-file`` first, the password nowhere on argv."""
    cmd = [tool, options.argument, *args, "--databases", "--", *databases]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=options.env,
        start_new_session=True,  # a Ctrl-C reaches dbseal, which then stops the dump itself
    )
    assert proc.stdout is not None
    with contextlib.suppress(OSError):  # a 1 MiB pipe: fewer, larger reads
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, READ_BLOCK)
    return proc


class DumpRun:
    """A started dump: ``read(n)`` until ``b""``, then :meth:`finish`; always closed on exit."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        options: ClientOptionsFile,
        snapshot: StatsSnapshot,
        preflight: Preflight,
        policy: DumpPolicy,
        password: Secret | None,
        contents: dict[str, Any] | None = None,
    ) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._contents = dict(contents or {})
        self._proc = proc
        self._fd = proc.stdout.fileno()
        self._options = options
        self._snapshot = snapshot
        self._pre = preflight
        self._policy = policy
        self._password = password
        self._started = datetime.datetime.now(datetime.UTC)
        self._stderr = StderrCollector(proc.stderr, name="dbseal-dump-stderr")
        self._ahead = bytearray()
        self._eof = False
        self._bytes = 0
        self._tail = b""
        self._result: DumpResult | None = None
        self._notes: list[str] = []
        self._digester: tabledigest.TableDigester | None = None
        self._digesting: ThreadedWriter[bytes] | None = None
        self._sections: Iterator[bytes] | None = None
        self._extra = bytearray()
        if policy.table_checksum == "dump":
            self._digester = tabledigest.TableDigester()
            self._digesting = ThreadedWriter([self._digester.feed], depth=16)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def databases(self) -> tuple[str, ...]:
        return self._pre.databases

    def wait_for_start(self, timeout: float) -> None:
        """Read ahead until the dump shows it has begun, then release the global read lock."""
        try:
            deadline = time.monotonic() + timeout
            while START_MARK not in self._ahead and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0 or len(self._ahead) > _PREFIX_LIMIT:
                    break
                ready, _, _ = select.select([self._fd], [], [], left)
                if ready:
                    chunk = os.read(self._fd, 1 << 16)
                    self._eof = not chunk
                    self._ahead += chunk
            self._snapshot.release(dump_started=START_MARK in self._ahead or self._eof)
            if self._ahead:
                self._options.remove()  # the child read its options before writing anything
            self._snapshot.start_stats()
        except BaseException:
            self.abort()
            raise

    # -- the stream ------------------------------------------------------------------

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the dump (all the rest if ``n < 0``); ``b""`` at the end.

        With ``n >= 0`` it returns ``n`` bytes unless the dump ends first (full blocks keep
        the per-block work of the stages behind it small). After the program's output
        come dbseal's own sections (:meth:`_sections`), if any.
        """
        if n < 0:
            pieces = []
            while piece := self.read(READ_BLOCK):
                pieces.append(piece)
            return b"".join(pieces)
        if n == 0:
            return b""
        data = self._read_dump(n)
        if len(data) < n and self._eof:
            data += self._read_sections(n - len(data))
        if data:
            self._bytes += len(data)
        return data

    def _read_dump(self, n: int) -> bytes:
        chunks: list[bytes] = []
        if self._ahead:
            chunks.append(bytes(self._ahead[:n]))
            del self._ahead[:n]
        got = len(chunks[0]) if chunks else 0
        while got < n and not self._eof:
            chunk = os.read(self._fd, min(n - got, READ_BLOCK))
            self._eof = not chunk
            chunks.append(chunk)
            got += len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if data:
            self._options.remove()
            self._tail = (self._tail + data[-TAIL_KEEP:])[-TAIL_KEEP:]
            if self._digesting is not None:
                self._digesting.write(data)
        return data

    def _read_sections(self, n: int) -> bytes:
        if self._sections is None:
            self._sections = self._section_blocks()
        while len(self._extra) < n:
            block = next(self._sections, None)
            if block is None:
                break
            self._extra += block
        data = bytes(self._extra[:n])
        del self._extra[:n]
        return data

    def _section_blocks(self) -> Iterator[bytes]:
        """dbseal's sections, only after a complete dump, ending with the dump's completion
        line again (with :data:`SECTIONS_END`), so a cut-off section is seen as incomplete."""
        if not _END_MARK.search(self._tail) or self._proc.poll() not in (None, 0):
            return
        self._snapshot.wait()
        wrote = False
        try:
            for block in self._snapshot.sections():
                wrote = True
                yield block
        except Exception as exc:
            self._notes.append(f"dbseal's sections after the dump could not be written: {exc}")
            return
        if wrote:  # the last line is again a completion line, now for the sections too
            last = self._tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
            yield b"\n" + last + SECTIONS_END

    def readable(self) -> bool:
        return True

    # -- the end ---------------------------------------------------------------------

    def finish(self) -> DumpResult:
        """Wait for the program and the statistics; the verdict. Idempotent."""
        if self._result is not None:
            return self._result
        if not self._eof:
            self._notes.append("the dump output was not read to its end")
            while self.read(READ_BLOCK):
                pass
        try:
            rc = self._proc.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            rc = self._proc.wait()
            self._notes.append(
                f"the dump program did not exit {_EXIT_WAIT:.0f} s after its output ended"
            )
        stderr, summary = self._stderr.finish()
        if self._digesting is not None:
            self._digesting.close()
        failed_early = rc != 0 or summary.errors > 0
        if not failed_early:
            self._snapshot.wait()
        self._snapshot.close(abort=failed_early)
        self._options.remove()
        self._result = self._verdict(rc, stderr, summary)
        return self._result

    def abort(self) -> None:
        """Stop the dump now (SIGKILL), reap it, drop the statistics, remove the option file."""
        try:
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
            self._proc.wait()
            self._stderr.finish(timeout=5)
            self._snapshot.close(abort=True)
            if self._digesting is not None:
                self._digesting.abort()
        finally:
            # The pipes stay open: another thread may still be in read(); it now gets EOF.
            self._options.remove()

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

    def _tables(self) -> tuple[TableStat, ...]:
        """The snapshot's row counts, with each table's digest of the dump when there is one."""
        if self._digester is None:
            return tuple(self._snapshot.tables)
        return tuple(tabledigest.with_digests(self._snapshot.tables, self._digester.digests()))

    def _contents_after(self, snap: StatsSnapshot, warnings: list[str]) -> dict[str, Any]:
        """What the backup holds (and not), for the manifest; adds a warning for each gap."""
        contents = {
            **self._contents,
            "accounts": bool(snap.accounts),
            "exact_floats": [f"{t.database}.{t.table}" for t in snap.float_plan.tables],
            "inexact": list(snap.float_plan.inexact),
            "inexact_tables": sorted(f"{d}.{t}" for d, t in snap.float_plan.inexact_tables),
        }
        if snap.accounts_error:
            warnings.append(f"accounts were not backed up: {snap.accounts_error}")
        warnings += [f"inexact values: {note}" for note in snap.float_plan.inexact]
        return contents

    def _redact(self, data: bytes) -> bytes:
        if self._password is not None and len(self._password) >= 4:
            return data.replace(self._password.reveal(), b"***")
        return data

    def _verdict(self, rc: int, stderr: bytes, summary: MessageSummary) -> DumpResult:
        name = self._pre.tool.name
        failures = list(self._notes)
        warnings = list(self._pre.warnings)
        if rc < 0:
            failures.append(f"{name} was killed by signal {signal.Signals(-rc).name}")
        elif rc > 0:
            failures.append(f"{name} exited with status {rc}")
        if summary.errors:
            failures.append(
                f"{name} reported {summary.errors} error(s), the first: {summary.first_errors[0]}"
            )
        if not _END_MARK.search(self._tail):
            failures.append(
                "the output does not end with the completion marker '-- Dump completed': "
                "the dump is incomplete"
            )
        if summary.warnings:
            warnings.append(
                f"{name} printed {summary.warnings} warning(s), the first: {summary.first_warnings[0]}"
            )
        snap = self._snapshot
        if snap.error and not failures:
            warnings.append(f"table statistics could not be computed: {snap.error}")
        if snap.kind == "separate" and snap.lock_note and self._policy.shared_snapshot:
            warnings.append(
                f"statistics come from a separate snapshot, so concurrent writes can make them "
                f"differ from the dump ({snap.lock_note})"
            )
        complete = not failures
        contents = self._contents_after(snap, warnings)
        if warnings and self._policy.warnings == "fail":
            failures.append("warnings count as failures under this policy (warnings=fail)")
        status: Status = "failed" if failures else "warnings" if warnings else "ok"
        reasons = [self._redact(r.encode()).decode("utf-8", "replace") for r in failures + warnings]
        return DumpResult(
            status=status,
            reasons=tuple(reasons),
            exit_code=rc,
            stderr=self._redact(stderr),
            messages=summary,
            tool=self._pre.tool.path,
            client_version=self._pre.tool.version_line,
            server_version=self._pre.server_version,
            tls=self._pre.tls,
            databases=self._pre.databases,
            tables=self._tables() if not failures else (),
            objects=tuple(snap.objects) if not failures else (),
            snapshot=snap.kind,
            contents=contents,
            raw_bytes=self._bytes,
            started=self._started,
            ended=datetime.datetime.now(datetime.UTC),
            complete=complete,
            binlog=snap.binlog if snap.kind == "shared" else None,
        )
