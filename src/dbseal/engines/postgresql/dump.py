"""A logical backup of PostgreSQL databases: pg_dump in the dump's own snapshot, into the
tar container of :mod:`dbseal.engines.postgresql.container`.

``jobs == 1``: ``pg_dump --format=custom`` streams straight into the seal pipeline (cut into
tar parts), while the same bytes feed ``pg_restore --file=/dev/null``, which reads the whole
archive: a truncated or damaged dump fails the backup even when pg_dump exits 0.

``jobs > 1``: ``pg_dump --format=directory --jobs N`` writes into a 0700 scratch directory
(tmpfs ``/dev/shm`` when it has room for the database, else ``scratch_dir`` or ``$TMPDIR``);
``pg_restore --list`` must read its TOC; then its files are streamed into the container, each
removed once sent, and the directory is removed on every exit.

The role's password reaches every child through a 0600 passfile (:mod:`.passfile`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql import container as tar
from dbseal.engines.postgresql.passfile import child_env, passfile, scratch_parent
from dbseal.engines.postgresql.preflight import Preflight, preflight
from dbseal.engines.postgresql.psql import Session
from dbseal.engines.postgresql.snapshot import (
    TableCount,
    begin_snapshot,
    count_tables,
    large_objects,
)
from dbseal.engines.postgresql.tools import tool, widen_pipe
from dbseal.engines.postgresql.url import PGTarget

READ_BLOCK = 1 << 20
FORMAT_OPTIONS = ("--compress=0", "--no-password")


@dataclass(frozen=True)
class PgDumpPolicy:
    jobs: int = 1
    role_passwords: bool = False  # globals: pg_dumpall --no-role-passwords unless asked
    globals_: bool = True
    scratch_dir: str | None = None
    warnings: str = "warn"  # what stderr lines of a dump that exited 0 do: warn | fail


@dataclass
class PgDumpResult:
    status: str
    reasons: tuple[str, ...]
    stderr: bytes
    exit_code: int | None
    tool: str
    client_version: str
    server_version: str
    tls: dict[str, Any] | None
    databases: tuple[str, ...]
    tables: list[dict[str, Any]]
    snapshot: str
    contents: dict[str, Any]
    complete: bool = False


@dataclass
class _Progress:
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    counts: list[TableCount] = field(default_factory=list)
    large_objects: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    finished: bool = False


class PgDumpSource:
    """``describe()`` for the manifest, ``start()`` runs the preflight and returns the run."""

    kind = "postgresql-logical"

    def __init__(self, target: PGTarget, password: Secret | None, policy: PgDumpPolicy) -> None:
        self.target = target
        self.password = password
        self.policy = policy

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
            "databases": list(t.databases),
            "ssl_mode": t.ssl_mode if t.host is not None else None,
            "format": "custom" if self.policy.jobs == 1 else "directory",
            "jobs": self.policy.jobs,
            "dump_options": list(FORMAT_OPTIONS),
            "role_passwords": self.policy.role_passwords,
        }

    def start(self) -> PgDumpRun:
        return PgDumpRun(self, preflight(self.target, self.password))


def _drain(f: IO[bytes]) -> bytes:
    f.seek(0)
    return f.read()


class PgDumpRun:
    """The container's bytes (``read``), then ``finish()``: the completion check."""

    def __init__(self, source: PgDumpSource, pre: Preflight) -> None:
        self._source, self._pre = source, pre
        self._p = _Progress()
        self._stack = contextlib.ExitStack()
        self._pgpass = self._stack.enter_context(passfile(source.password))
        self._env = child_env(self._pgpass)
        self._gen = self._chunks()
        self._buf = bytearray()

    def __enter__(self) -> PgDumpRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._gen.close()  # its finally blocks stop pg_dump and remove the scratch directory
        self._stack.close()

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._gen)
            except StopIteration:
                break
        size = len(self._buf) if n < 0 else min(n, len(self._buf))
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    # -- the stream ----------------------------------------------------------------------

    def _chunks(self) -> Generator[bytes, None, None]:
        if self._source.policy.globals_:
            yield tar.member(tar.GLOBALS, self._globals())
        for db in self._pre.databases:
            with Session(self._source.target, self._source.password, db) as session:
                snapshot = begin_snapshot(session)
                self._p.counts += count_tables(session, db)
                self._p.large_objects[db] = large_objects(session)
                if self._source.policy.jobs == 1:
                    yield from self._custom(db, snapshot)
                else:
                    yield from self._directory(db, snapshot)
                session.run("COMMIT")
        yield tar.end()
        self._p.finished = True

    def _globals(self) -> bytes:
        args = [tool("pg_dumpall"), "--globals-only", "--no-password"]
        if not self._source.policy.role_passwords:
            args.append("--no-role-passwords")
        args += ["-d", self._source.target.conninfo("postgres")]
        res = subprocess.run(
            args,
            capture_output=True,
            env=self._env,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
        if res.stderr:
            self._p.stderr.append(b"pg_dumpall: " + res.stderr)
        if res.returncode != 0:
            self._p.warnings.append(
                f"pg_dumpall --globals-only failed (exit {res.returncode}): roles and tablespaces are not in the backup"
            )
            return b""
        return res.stdout

    def _spawn_dump(self, args: list[str], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=self._env,
            start_new_session=True,
        )

    def _dump_args(self, db: str, snapshot: str, *fmt: str) -> list[str]:
        return [
            tool("pg_dump"),
            *fmt,
            *FORMAT_OPTIONS,
            f"--snapshot={snapshot}",
            "-d",
            self._source.target.conninfo(db),
        ]

    def _custom(self, db: str, snapshot: str) -> Iterator[bytes]:
        with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as check_err:
            dump = self._spawn_dump(self._dump_args(db, snapshot, "--format=custom"), err)
            check = subprocess.Popen(
                [tool("pg_restore"), "--file=/dev/null"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=check_err,
                env=child_env(None),  # it connects nowhere; no libpq variable reaches it
                start_new_session=True,
            )
            assert dump.stdout is not None and check.stdin is not None
            widen_pipe(dump.stdout.fileno())
            widen_pipe(check.stdin.fileno())
            try:
                part, index = bytearray(), 0
                while True:
                    chunk = os.read(dump.stdout.fileno(), READ_BLOCK)
                    if not chunk:
                        break
                    with contextlib.suppress(BrokenPipeError):
                        check.stdin.write(chunk)
                    part += chunk
                    while len(part) >= tar.PART_SIZE:
                        yield tar.member(tar.custom_part(db, index), bytes(part[: tar.PART_SIZE]))
                        del part[: tar.PART_SIZE]
                        index += 1
                if part or index == 0:
                    yield tar.member(tar.custom_part(db, index), bytes(part))
                rc = dump.wait()
                with contextlib.suppress(BrokenPipeError):
                    check.stdin.close()
                check_rc = check.wait(timeout=600)
            finally:
                for proc in (dump, check):
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
            self._judge(db, rc, _drain(err))
            if check_rc != 0:
                text = _drain(check_err).decode("utf-8", "replace").strip()
                self._p.reasons.append(
                    f"the dump of {db} is not a whole archive (pg_restore could not read it: {text or f'exit {check_rc}'})"
                )

    def _scratch(self, db: str) -> Path:
        policy = self._source.policy
        parent = policy.scratch_dir
        if parent is None:
            shm = scratch_parent()
            need = self._pre.sizes.get(db, 0) * 2
            if shm is not None and shutil.disk_usage(shm).free > need:
                parent = shm
        return Path(tempfile.mkdtemp(prefix="dbseal-pgdump-", dir=parent))

    def _directory(self, db: str, snapshot: str) -> Iterator[bytes]:
        scratch = self._scratch(db)
        try:
            out = scratch / "dump"
            with tempfile.TemporaryFile() as err:
                args = self._dump_args(
                    db,
                    snapshot,
                    "--format=directory",
                    f"--jobs={self._source.policy.jobs}",
                    f"--file={out}",
                )
                dump = self._spawn_dump(args, err)
                try:
                    rc = dump.wait()
                finally:
                    if dump.poll() is None:
                        dump.kill()
                        dump.wait()
                self._judge(db, rc, _drain(err))
            if rc != 0:
                return
            listed = subprocess.run(
                [tool("pg_restore"), "--list", str(out)],
                capture_output=True,
                env=child_env(None),
                timeout=600,
                check=False,
            )
            if listed.returncode != 0:
                text = listed.stderr.decode("utf-8", "replace").strip()
                self._p.reasons.append(f"the dump of {db} has no readable TOC: {text}")
                return
            files = sorted(out.iterdir(), key=lambda p: (p.name != "toc.dat", p.name))
            for path in files:
                yield from tar.file_member(tar.directory_member(db, path.name), path)
                path.unlink()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _judge(self, db: str, rc: int, stderr: bytes) -> None:
        if stderr:
            self._p.stderr.append(f"pg_dump {db}: ".encode() + stderr)
        self._p.exit_code = rc if rc != 0 else self._p.exit_code or 0
        text = stderr.decode("utf-8", "replace").strip()
        if rc != 0:
            why = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exit {rc}"
            first = text.splitlines()[0] if text else "no message"
            self._p.reasons.append(f"pg_dump of {db} failed ({why}): {first}")
        elif text:
            self._p.warnings.append(f"pg_dump of {db} wrote to stderr: {text.splitlines()[0]}")

    # -- the completion check -------------------------------------------------------------

    def finish(self) -> PgDumpResult:
        rest = self.read(-1)
        if rest:
            raise AssertionError("finish() before the stream was read to its end")
        p = self._p
        reasons = list(p.reasons)
        if not p.finished and not reasons:
            reasons.append("the dump stopped before its end")
        complete = not reasons
        warns = list(p.warnings)
        if reasons:
            status = "failed"
        elif warns:
            status = "failed" if self._source.policy.warnings == "fail" else "warnings"
        else:
            status = "ok"
        pre = self._pre
        return PgDumpResult(
            status=status,
            reasons=tuple(reasons + warns),
            stderr=b"".join(p.stderr),
            exit_code=p.exit_code,
            tool=tool("pg_dump"),
            client_version=pre.client_version,
            server_version=pre.server_version,
            tls=pre.tls,
            databases=pre.databases,
            tables=[
                {"database": c.database, "schema": c.schema, "table": c.table, "rows": c.rows}
                for c in p.counts
            ],
            snapshot="pg_export_snapshot",
            contents={
                "container": "tar",
                "format": "custom" if self._source.policy.jobs == 1 else "directory",
                "jobs": self._source.policy.jobs,
                "globals": self._source.policy.globals_,
                "role_passwords": self._source.policy.role_passwords,
                "large_objects": dict(p.large_objects),
                "encodings": pre.encodings,
                "server_version_num": pre.server_version_num,
            },
            complete=complete,
        )


__all__ = ["PgDumpPolicy", "PgDumpResult", "PgDumpRun", "PgDumpSource"]
