"""A temporary option file that hands the login and TLS settings to a MySQL client program.

The password reaches ``mariadb-dump``/``mariadb`` only through this file: never argv
(visible in ``ps``), never the environment (``/proc/PID/environ``, inherited by children).
The file is mode 0600 in a fresh 0700 directory, on ``/dev/shm`` when there is one (so
the password never reaches a disk), and both are removed when the context ends, even
on error; :meth:`ClientOptionsFile.remove` removes them earlier, once the child has read
its options.

The child is started with ``--defaults-file=PATH`` as its first argument: it then reads
*only* this file, so ``/etc/mysql/my.cnf`` and ``~/.my.cnf`` cannot silently change
what is dumped or where it connects. :func:`child_env` removes the ``MYSQL_*`` and
``MARIADB_*`` variables (``MYSQL_PWD``, ``MYSQL_HOST``, ...) and points MySQL's
``.mylogin.cnf`` (which MySQL reads even with ``--defaults-file``) at a file that does
not exist.

Values are written double-quoted with the escapes the option-file parser undoes
(``\\\\ \\" \\' \\n \\r \\t \\b``); inside quotes ``#`` and spaces are literal.

TLS (per ``ssl_mode``), as the clients actually behave (checked against MariaDB 10.11):

============== ================================== ==================================
ssl_mode       MariaDB client                     MySQL client
============== ================================== ==================================
disabled       ``skip-ssl``                       ``ssl-mode=DISABLED``
preferred      ``ssl-verify-server-cert=0``       ``ssl-mode=PREFERRED``
required       ``ssl``, no verification           ``ssl-mode=REQUIRED``
verify-ca      ``ssl``, ``ssl-ca`` (chain only)   ``ssl-mode=VERIFY_CA``
verify-identity ``ssl-verify-server-cert``         ``ssl-mode=VERIFY_IDENTITY``
============== ================================== ==================================

A MariaDB 10.11 client refuses plaintext only with ``ssl-verify-server-cert``: with
``required`` and ``verify-ca`` it would fall back to plaintext if a man in the middle
stripped TLS from the server's greeting. :func:`client_enforces_tls` says so, and the
source checks TLS on its own connection before every dump.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.errors import UsageError

Flavor = Literal["mariadb", "mysql"]

# mysys reads option files line by line into a 4 KiB buffer: longer lines are split.
MAX_LINE = 4000
_PRIVATE_PARENTS = ("/dev/shm",)
_ESCAPES = {
    ord("\\"): b"\\\\",
    ord('"'): b'\\"',
    ord("'"): b"\\'",
    ord("\n"): b"\\n",
    ord("\r"): b"\\r",
    ord("\t"): b"\\t",
    ord("\b"): b"\\b",
}
_STRIPPED_ENV_PREFIXES = ("MYSQL", "MARIADB", "LIBMYSQL")
_MYSQL_MODES = {
    "disabled": "DISABLED",
    "preferred": "PREFERRED",
    "required": "REQUIRED",
    "verify-ca": "VERIFY_CA",
    "verify-identity": "VERIFY_IDENTITY",
}


def quote_value(raw: bytes, what: str = "value") -> bytes:
    """``raw`` as a double-quoted option-file value that the parser reads back exactly."""
    if b"\0" in raw:
        raise UsageError(f"the {what} contains a NUL byte, which MySQL option files cannot hold")
    return b'"' + b"".join(_ESCAPES.get(c, bytes((c,))) for c in raw) + b'"'


def client_enforces_tls(target: MySQLTarget, flavor: Flavor) -> bool:
    """True when the client program itself refuses a connection without TLS."""
    if target.ssl_mode in ("disabled", "preferred"):
        return False
    return flavor == "mysql" or target.ssl_mode == "verify-identity"


def option_lines(target: MySQLTarget, password: Secret | None, flavor: Flavor) -> list[bytes]:
    """The ``[client]`` group: login, address and TLS settings (the password included)."""
    opts: list[tuple[str, bytes | None]] = [("user", target.user.encode())]
    if password is not None:
        opts.append(("password", password.reveal()))
    if target.host is None:
        opts.append(("protocol", b"socket"))
        if target.socket:
            opts.append(("socket", os.fsencode(target.socket)))
    else:
        # protocol=tcp: a MariaDB client would take "localhost" to mean the default socket.
        opts += [
            ("protocol", b"tcp"),
            ("host", target.host.encode()),
            ("port", b"%d" % target.port),
        ]
    opts += _tls_options(target, flavor)
    lines = [b"[client]"]
    for name, value in opts:
        if value is None:
            lines.append(name.encode())
            continue
        line = name.encode() + b"=" + quote_value(value, name)
        if len(line) > MAX_LINE:
            raise UsageError(
                f"the {name} is too long for a MySQL option file (over {MAX_LINE} bytes)"
            )
        lines.append(line)
    return lines


def _tls_options(target: MySQLTarget, flavor: Flavor) -> list[tuple[str, bytes | None]]:
    mode = target.ssl_mode
    if flavor == "mysql":
        opts: list[tuple[str, bytes | None]] = [("ssl-mode", _MYSQL_MODES[mode].encode())]
    elif mode == "disabled":
        return [("skip-ssl", None)]
    else:
        verify = b"1" if mode == "verify-identity" else b"0"
        opts = [("ssl", None), ("ssl-verify-server-cert", verify)]
        if mode == "preferred":
            opts = [("ssl-verify-server-cert", b"0")]
    if mode == "disabled":
        return opts
    for name, value in (
        ("ssl-ca", target.ssl_ca),
        ("ssl-cert", target.ssl_cert),
        ("ssl-key", target.ssl_key),
        ("tls-version", target.tls_versions),
        ("ssl-cipher", target.ssl_cipher),
    ):
        if value:
            opts.append((name, os.fsencode(value)))
    return opts


def child_env(private_dir: Path | None = None) -> dict[str, str]:
    """This process's environment without MySQL/MariaDB variables (no MYSQL_PWD, ...)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_STRIPPED_ENV_PREFIXES)}
    # MySQL clients read ~/.mylogin.cnf even with --defaults-file; point it at nothing.
    missing = (private_dir or Path("/nonexistent")) / "no-login-file.cnf"
    env["MYSQL_TEST_LOGIN_FILE"] = str(missing)
    return env


class ClientOptionsFile:
    """The option file of one client run; a context manager that always removes it.

    ``argument`` goes first on the child's command line and ``env`` is its environment.
    """

    def __init__(self, target: MySQLTarget, password: Secret | None, flavor: Flavor) -> None:
        self._lines = option_lines(target, password, flavor)
        self._dir: Path | None = None
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            raise RuntimeError("the option file is not written (use it as a context manager)")
        return self._path

    @property
    def argument(self) -> str:
        return f"--defaults-file={self.path}"

    @property
    def env(self) -> dict[str, str]:
        return child_env(self._dir)

    def __enter__(self) -> Self:
        parent = next((p for p in _PRIVATE_PARENTS if os.access(p, os.W_OK | os.X_OK)), None)
        self._dir = Path(tempfile.mkdtemp(prefix="dbseal-my-", dir=parent))
        try:
            path = self._dir / "client.cnf"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"\n".join(self._lines) + b"\n")
            self._path = path
        except BaseException:
            self.remove()
            raise
        finally:
            self._lines = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def remove(self) -> None:
        """Delete the file and its directory now (idempotent, cheap to repeat)."""
        if self._dir is None:
            return
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
