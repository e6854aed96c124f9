"""Where PostgreSQL's programs are, and which major version they are.

The search order: ``DBSEAL_PG_BINDIR``, then ``pg_config --bindir``, then the newest
``/usr/lib/postgresql/*/bin``, then ``PATH`` (``/usr/local/bin/initdb`` may be a link to
another version than ``pg_dump`` in ``/usr/bin``: every program is taken from ONE
directory, so the client tools and the throwaway server always agree).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from dbseal.errors import DumpToolError

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def _candidates() -> list[Path]:
    out: list[Path] = []
    env = os.environ.get("DBSEAL_PG_BINDIR")
    if env:
        return [Path(env)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            res = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
            if res.returncode == 0 and res.stdout.strip():
                out.append(Path(res.stdout.strip()))
        except (OSError, subprocess.TimeoutExpired):
            pass

    def major(p: str) -> int:
        m = re.search(r"/postgresql/(\d+)/", p)
        return int(m.group(1)) if m else 0

    out += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/"), key=major, reverse=True)
    ]
    return out


@functools.cache
def bindir(required: str = "pg_dump") -> Path:
    """The directory holding PostgreSQL's programs (one with ``required`` in it)."""
    for d in _candidates():
        if (d / required).is_file() and os.access(d / required, os.X_OK):
            return d
    found = shutil.which(required)
    if found:
        return Path(os.path.realpath(found)).parent
    raise DumpToolError(
        f"{required} not found (looked in $DBSEAL_PG_BINDIR, pg_config --bindir, "
        "/usr/lib/postgresql/*/bin and PATH)",
        hint="install the PostgreSQL client tools (apt-get install postgresql-client), "
        "or set DBSEAL_PG_BINDIR",
    )


def tool(name: str) -> str:
    """The full path of PostgreSQL program ``name`` (pg_dump, pg_restore, psql, initdb...)."""
    d = bindir("pg_dump")
    path = d / name
    if not path.is_file():
        raise DumpToolError(
            f"{name} not found in {d}",
            hint="install the matching PostgreSQL package (postgresql for initdb/postgres, "
            "postgresql-client for the client tools)",
        )
    return str(path)


@functools.cache
def version_of(program: str) -> tuple[int, int]:
    """``(major, minor)`` of a PostgreSQL program, from ``PROGRAM --version``."""
    res = subprocess.run(
        [program, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    m = _VERSION_RE.search(res.stdout)
    if res.returncode != 0 or m is None:
        raise DumpToolError(f"cannot tell the version of {program}: {res.stdout or res.stderr}")
    return int(m.group(1)), int(m.group(2) or 0)


PIPE_SIZE = 1 << 20


def widen_pipe(fd: int) -> None:
    """A 1 MiB pipe instead of 64 KiB: fewer, larger reads (halves a base backup's wall time)."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def client_major() -> int:
    return version_of(tool("pg_dump"))[0]


__all__ = ["bindir", "client_major", "tool", "version_of", "widen_pipe"]
