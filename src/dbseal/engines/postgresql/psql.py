"""SQL through ``psql`` (no Python driver needed: libpq's own client, the same TLS and
passfile rules as pg_dump).

:func:`query` runs statements and returns rows; :class:`Session` keeps one ``psql`` open
(a transaction that exported a snapshot stays open while pg_dump uses it). Rows come back as
CSV (``--csv``), NULL as ``None``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import secrets
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql.passfile import child_env, passfile
from dbseal.engines.postgresql.tools import tool
from dbseal.engines.postgresql.url import PGTarget
from dbseal.errors import DatabaseError, DatabaseTLSError

Row = list[str | None]
_NULL = "\x01NULL\x01"
QUERY_TIMEOUT = 600.0


def psql_argv(target: PGTarget, database: str) -> list[str]:
    return [
        tool("psql"),
        "-X",  # no ~/.psqlrc
        "--no-password",
        "--csv",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-P",
        f"null={_NULL}",
        "-d",
        target.conninfo(database),
    ]


def connection_error(target: PGTarget, stderr: str) -> DatabaseError:
    """The error a failed login or query reads as (stderr names no secret: libpq never prints it)."""
    text = " ".join(stderr.strip().split()) or "psql failed without a message"
    if any(
        s in text
        for s in ("SSL", "certificate", "server does not support SSL", "sslmode", "root.crt")
    ):
        return DatabaseTLSError(f"TLS to {target.describe()} failed: {text}")
    if "password authentication failed" in text or "no password supplied" in text:
        return DatabaseError(
            f"{target.describe()} refused the login of role {target.user}: {text}",
            hint="check the role and the password (--password-file F or password_secret)",
        )
    return DatabaseError(f"{target.describe()}: {text}")


def _rows(out: str) -> list[Row]:
    return [[None if v == _NULL else v for v in row] for row in csv.reader(io.StringIO(out)) if row]


def query(
    target: PGTarget,
    password: Secret | None,
    sql: str,
    database: str | None = None,
    timeout: float = QUERY_TIMEOUT,
) -> list[Row]:
    """Run ``sql`` (one or more statements) and return the rows of the last one."""
    db = database or (target.databases[0] if target.databases else "postgres")
    with passfile(password) as pgpass:
        res = subprocess.run(
            [*psql_argv(target, db), "-c", sql],
            capture_output=True,
            text=True,
            env=child_env(pgpass),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if res.returncode != 0:
        raise connection_error(target, res.stderr)
    return _rows(res.stdout)


class Session:
    """One ``psql`` kept open; :meth:`run` sends SQL and waits for its rows."""

    def __init__(self, target: PGTarget, password: Secret | None, database: str) -> None:
        self._target = target
        self._stack = contextlib.ExitStack()
        pgpass: Path | None = self._stack.enter_context(passfile(password))
        self._proc = subprocess.Popen(
            psql_argv(target, database),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(pgpass),
            text=True,
            bufsize=1,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run(self, sql: str) -> list[Row]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        marker = "dbseal-" + secrets.token_hex(8)
        try:
            self._proc.stdin.write(f"{sql.rstrip().rstrip(';')};\n\\echo {marker}\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise self._failure() from None
        lines: list[str] = []
        while True:
            line = self._proc.stdout.readline()
            if not line:
                raise self._failure()
            if line.rstrip("\n") == marker:
                return _rows("".join(lines))
            lines.append(line)

    def _failure(self) -> DatabaseError:
        self._proc.kill()
        self._proc.wait()
        err = self._proc.stderr.read() if self._proc.stderr is not None else ""
        self._stack.close()
        return connection_error(self._target, err)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for f in (self._proc.stdout, self._proc.stderr):
            if f is not None:
                f.close()
        self._stack.close()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


__all__ = ["Row", "Session", "connection_error", "query", "quote_ident", "quote_literal"]
