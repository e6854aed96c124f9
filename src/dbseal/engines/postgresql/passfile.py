"""The password a PostgreSQL child process needs, in a temporary 0600 passfile.

libpq reads a password from the file that ``PGPASSFILE`` names: the PATH is in the child's
environment, the password never (neither in argv nor in any environment variable). The file
lives in a private 0700 directory on tmpfs when there is one (``/dev/shm``), and is removed
when the ``with`` block ends, also on Ctrl-C or SIGTERM (which the CLI turns into an exception).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from dbseal.crypto.secret import Secret

# libpq environment variables a caller's environment must not leak into a child: they
# would change where it connects or what it trusts behind the URL's back.
_PG_ENV_DROP = (
    "PGPASSWORD",
    "PGPASSFILE",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGOPTIONS",
)


def scratch_parent() -> str | None:
    """``/dev/shm`` when it is a writable directory (tmpfs: nothing reaches a disk), else None."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def passfile(password: Secret | None) -> Iterator[Path | None]:
    """A passfile line ``*:*:*:*:PASSWORD`` in a private directory, or None without a password."""
    if password is None:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="dbseal-pg-", dir=scratch_parent()))
    try:
        path = tmp / "pgpass"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("*:*:*:*:" + _escape(password.reveal().decode("utf-8")) + "\n")
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def child_env(pgpass: Path | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a libpq child: ours without libpq's variables, plus PGPASSFILE."""
    env = {k: v for k, v in os.environ.items() if k not in _PG_ENV_DROP}
    env["PGCONNECT_TIMEOUT"] = env.get("PGCONNECT_TIMEOUT", "15")
    if pgpass is not None:
        env["PGPASSFILE"] = str(pgpass)
    env.update(extra or {})
    return env


__all__ = ["child_env", "passfile", "scratch_parent"]
