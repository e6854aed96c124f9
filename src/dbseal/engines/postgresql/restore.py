"""Restore a PostgreSQL logical backup: the decrypted tar container is parsed as it streams
(:mod:`tarfile` stream mode, in a thread fed through a pipe) and each database is restored
with ``pg_restore`` into a STAGING database; only when every database restored does each
staging database replace its target (``DROP DATABASE ... WITH (FORCE)`` of the old one when
``--replace``, then ``ALTER DATABASE ... RENAME``). A failure drops the staging databases and
leaves every target as it was.

``jobs == 1`` and a custom-format backup: the parts go straight into ``pg_restore``'s stdin.
Otherwise (``pg_restore --jobs N`` needs a file or directory it can seek in) they go to a
0700 scratch directory (tmpfs when it has room), removed on every exit.

Owners and privileges are restored only with ``accounts`` (the globals are then applied
first: the roles the target lacks are created); without it ``--no-owner --no-privileges``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql import container as tar
from dbseal.engines.postgresql.globals_sql import roles_to_create
from dbseal.engines.postgresql.passfile import child_env, passfile, scratch_parent
from dbseal.engines.postgresql.psql import query, quote_ident, quote_literal
from dbseal.engines.postgresql.tools import tool, widen_pipe
from dbseal.engines.postgresql.url import PGTarget
from dbseal.errors import RestoreFailed, TargetNotEmpty

MAX_JOBS = 32

# a database "holds something" when it has a relation, type, function or large object of its own
CONTENTS_SQL = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%')
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
     + (SELECT count(*) FROM pg_largeobject_metadata)
"""


@dataclass(frozen=True)
class PgRestorePlan:
    """``names`` maps each backed-up database restored to its target name."""

    target: PGTarget
    password: Secret | None
    names: Mapping[str, str]
    jobs: int = 2
    replace: bool = False
    accounts: bool = False
    scratch_dir: str | None = None
    # database -> {"encoding", "collate", "ctype"} from the manifest: the staging database
    # is created like the backed-up one (pg_dump without --create does not carry them)
    encodings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def existing_databases(target: PGTarget, password: Secret | None) -> set[str]:
    return {str(r[0]) for r in query(target, password, "SELECT datname FROM pg_database")}


def check_targets(plan: PgRestorePlan) -> tuple[list[str], list[str]]:
    """(targets that exist and hold something, targets that exist and are empty); refuses
    the first kind unless ``replace``."""
    have = existing_databases(plan.target, plan.password)
    full: list[str] = []
    empty: list[str] = []
    for name in plan.names.values():
        if name not in have:
            continue
        rows = query(plan.target, plan.password, CONTENTS_SQL, name)
        (full if int(str(rows[0][0])) else empty).append(name)
    if full and not plan.replace:
        raise TargetNotEmpty(
            f"database {', '.join(full)} exists on {plan.target.describe()} and is not empty; "
            "nothing was restored",
            hint="restore under another name with --rename-db OLD=NEW, or pass --replace to "
            "DESTROY its current contents and replace them with the backup's",
        )
    return full, empty


@dataclass
class _State:
    error: BaseException | None = None
    messages: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)


class PgRestoreSink:
    """A :class:`~dbseal.engines.base.Sink`: ``write`` the container, then ``close`` (swap)."""

    def __init__(self, plan: PgRestorePlan) -> None:
        self.plan = plan
        token = secrets.token_hex(4)
        self.staging = {db: f"dbseal_stage_{token}_{i}" for i, db in enumerate(plan.names)}
        self._state = _State()
        self.last_result: dict[str, Any] = {}
        self._stack = contextlib.ExitStack()
        self._env = child_env(self._stack.enter_context(passfile(plan.password)))
        self._scratch = Path(
            tempfile.mkdtemp(prefix="dbseal-pgrestore-", dir=self._scratch_parent())
        )
        self._procs: list[subprocess.Popen[bytes]] = []
        r, w = os.pipe()
        widen_pipe(w)
        self._writer: IO[bytes] | None = os.fdopen(w, "wb")
        self._thread = threading.Thread(
            target=self._consume, args=(os.fdopen(r, "rb"),), daemon=True
        )
        self._thread.start()

    def _scratch_parent(self) -> str | None:
        if self.plan.scratch_dir:
            return self.plan.scratch_dir
        return scratch_parent()

    # -- Sink -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._writer is None:
            raise RestoreFailed("the restore was already closed")
        try:
            self._writer.write(data)
        except BrokenPipeError:
            self._raise_failure()

    def close(self) -> dict[str, Any]:
        try:
            if self._writer is not None:
                with contextlib.suppress(BrokenPipeError):
                    self._writer.close()
                self._writer = None
            self._thread.join()
            if self._state.error is not None:
                self._raise_failure()
            missing = [db for db in self.plan.names if db not in self._state.restored]
            if missing:
                raise RestoreFailed(f"the backup holds no dump of {', '.join(missing)}")
            replaced = self._swap()
        except BaseException:
            self.abort()
            raise
        self._cleanup()
        self.last_result = {
            "restored": [self.plan.names[db] for db in self._state.restored],
            "replaced": replaced,
            "roles_created": self._state.roles_created,
            "messages": self._state.messages,
        }
        return self.last_result

    def abort(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.close()
            self._writer = None
        self._thread.join(timeout=60)
        with contextlib.suppress(Exception):
            self._drop_staging()
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
        self._stack.close()

    def _raise_failure(self) -> None:
        self._thread.join(timeout=60)
        err = self._state.error
        if isinstance(err, RestoreFailed):
            raise err
        raise RestoreFailed(f"the restore failed: {err}")

    # -- the container -------------------------------------------------------------------

    def _consume(self, reader: IO[bytes]) -> None:
        current: _DatabaseRestore | None = None
        try:
            with (
                reader,
                tarfile.open(fileobj=reader, mode="r|", bufsize=tar.TAR_BUFSIZE) as archive,
            ):
                for info in archive:
                    db, _, rest = info.name.partition("/")
                    f = archive.extractfile(info) if info.isfile() else None
                    if f is None:
                        continue
                    if info.name == tar.GLOBALS:
                        self._globals(f.read().decode("utf-8"))
                        continue
                    if current is not None and current.db != db:
                        current.finish()
                        self._state.restored.append(current.db)
                        current = None
                    if db not in self.plan.names:
                        continue  # not selected (--database)
                    if current is None:
                        kind = "custom" if rest.startswith("custom.") else "directory"
                        current = _DatabaseRestore(self, db, kind)
                    current.add(rest, f)
            if current is not None:
                current.finish()
                self._state.restored.append(current.db)
        except BaseException as exc:
            self._state.error = exc
            if current is not None:
                current.kill()
            with contextlib.suppress(Exception):
                while reader.read(1 << 20):  # let the writer finish; its bytes are dropped
                    pass

    def _globals(self, sql: str) -> None:
        if not self.plan.accounts or not sql.strip():
            return
        rows = query(self.plan.target, self.plan.password, "SELECT rolname FROM pg_roles")
        script, created = roles_to_create(sql, {str(r[0]) for r in rows})
        res = subprocess.run(
            [
                tool("psql"),
                "-X",
                "-q",
                "--no-password",
                "-v",
                "ON_ERROR_STOP=0",
                "-d",
                self.plan.target.conninfo("postgres"),
            ],
            input=script.encode(),
            capture_output=True,
            env=self._env,
            timeout=600,
            check=False,
        )
        errors = [ln for ln in res.stderr.decode("utf-8", "replace").splitlines() if "ERROR" in ln]
        self._state.messages += [f"globals: {ln}" for ln in errors[:20]]
        self._state.roles_created += created

    # -- staging and swap ----------------------------------------------------------------

    def create_staging(self, db: str) -> str:
        name = self.staging[db]
        enc = self.plan.encodings.get(db) or {}
        like = "".join(
            f" {kw} {quote_literal(enc[key])}"
            for kw, key in (
                ("ENCODING", "encoding"),
                ("LC_COLLATE", "collate"),
                ("LC_CTYPE", "ctype"),
            )
            if enc.get(key)
        )
        query(
            self.plan.target,
            self.plan.password,
            f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0{like}",
        )
        return name

    def _drop_staging(self) -> None:
        have = existing_databases(self.plan.target, self.plan.password)
        for name in self.staging.values():
            if name in have:
                query(
                    self.plan.target,
                    self.plan.password,
                    f"DROP DATABASE {quote_ident(name)} WITH (FORCE)",
                )

    def _swap(self) -> list[str]:
        have = existing_databases(self.plan.target, self.plan.password)
        replaced = []
        for db, new in self.plan.names.items():
            stage = self.staging[db]
            if new in have:
                full, _ = check_targets(
                    PgRestorePlan(self.plan.target, self.plan.password, {db: new}, replace=True)
                )
                if full:
                    replaced.append(new)
                query(
                    self.plan.target,
                    self.plan.password,
                    f"DROP DATABASE {quote_ident(new)} WITH (FORCE)",
                )
            query(
                self.plan.target,
                self.plan.password,
                f"ALTER DATABASE {quote_ident(stage)} RENAME TO {quote_ident(new)}",
            )
        return replaced

    def restore_args(self, stage: str) -> list[str]:
        args = [
            tool("pg_restore"),
            "--no-password",
            "--exit-on-error",
            "-d",
            self.plan.target.conninfo(stage),
        ]
        if not self.plan.accounts:
            args += ["--no-owner", "--no-privileges"]
        return args

    def spawn(
        self, args: list[str], stdin: int | IO[bytes] | None, err: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=self._env,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc


class _DatabaseRestore:
    """One database's members: streamed into pg_restore, or gathered for pg_restore --jobs."""

    def __init__(self, sink: PgRestoreSink, db: str, kind: str) -> None:
        self.sink, self.db, self.kind = sink, db, kind
        self.stage = sink.create_staging(db)
        self.err = tempfile.TemporaryFile()  # noqa: SIM115  # closed in finish()
        self.proc: subprocess.Popen[bytes] | None = None
        self.path = sink._scratch / (db.replace("/", "_") + (".dump" if kind == "custom" else ""))
        self.streaming = kind == "custom" and sink.plan.jobs == 1
        if self.streaming:
            self.proc = sink.spawn(sink.restore_args(self.stage), subprocess.PIPE, self.err)
            assert self.proc.stdin is not None
            widen_pipe(self.proc.stdin.fileno())
        elif kind == "directory":
            self.path.mkdir(mode=0o700)

    def add(self, rest: str, f: IO[bytes]) -> None:
        if self.streaming:
            assert self.proc is not None and self.proc.stdin is not None
            try:
                shutil.copyfileobj(f, self.proc.stdin, 1 << 20)
            except BrokenPipeError:
                self.finish()
            return
        if self.kind == "custom":
            with self.path.open("ab") as out:
                shutil.copyfileobj(f, out, 1 << 20)
        else:
            name = rest.removeprefix("dir/")
            if "/" in name or name in ("", ".", ".."):
                raise RestoreFailed(f"the backup holds an unexpected member {self.db}/{rest}")
            with (self.path / name).open("wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)

    def finish(self) -> None:
        if self.streaming:
            assert self.proc is not None and self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            rc = self.proc.wait()
        else:
            args = [
                *self.sink.restore_args(self.stage),
                f"--jobs={self.sink.plan.jobs}",
                str(self.path),
            ]
            self.proc = self.sink.spawn(args, subprocess.DEVNULL, self.err)
            rc = self.proc.wait()
            if self.path.is_dir():
                shutil.rmtree(self.path, ignore_errors=True)
            else:
                self.path.unlink(missing_ok=True)
        self.err.seek(0)
        text = self.err.read().decode("utf-8", "replace").strip()
        self.err.close()
        if rc != 0:
            first = " ".join(text.split())[:500] or f"exit {rc}"
            raise RestoreFailed(
                f"pg_restore of {self.db} into {self.sink.plan.names[self.db]} failed: {first}; "
                "every target database was left as it was"
            )
        if text:
            self.sink._state.messages.append(f"pg_restore {self.db}: {text.splitlines()[0]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


__all__ = [
    "MAX_JOBS",
    "PgRestorePlan",
    "PgRestoreSink",
    "check_targets",
    "existing_databases",
    "quote_literal",
]
