"""A throwaway, private MariaDB server on loopback.

:class:`MariaDBSandbox` creates a fresh data directory in a private temporary directory
(mode 0700), starts ``mariadbd`` on a free port of 127.0.0.1 and on a unix socket, with TLS
by default, and removes everything again on :meth:`MariaDBSandbox.stop`::

    with MariaDBSandbox() as db:
        conn = db.connect(tcp=True, ssl=True)

The root account gets a random password before the server ever accepts a connection: it is
set by the bootstrap SQL that ``mariadb-install-db`` runs, read from a 0600 file that is
deleted at once, so it never appears in a process list. The server reads no option file
(``--no-defaults``) and shares nothing with a system MariaDB on the same machine.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import Cursor

from dbseal.crypto.pki import DEFAULT_SERVER_NAMES, KeyType, TLSFiles, generate_tls_files
from dbseal.errors import SandboxError

SEARCH_DIRS: tuple[str, ...] = ("/usr/sbin", "/usr/bin", "/usr/local/mysql/bin")
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
INSTALL_TIMEOUT = 120.0
_LOG_TAIL_LINES = 20
_PORT_ATTEMPTS = 3
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux

# Passed to the bootstrap server of mariadb-install-db and to mariadbd: a 16 MiB redo log
# instead of 96 MiB, and a buffer pool that fits a CI runner many times over.
_SMALL_INNODB = ("--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M")
# Throwaway server: small caches, no durability beyond what a test needs, no name lookups.
_SERVER_TUNING = (
    *_SMALL_INNODB,
    "--innodb-log-buffer-size=8M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--key-buffer-size=8M",
    "--aria-pagecache-buffer-size=8M",
    "--performance-schema=OFF",
    "--skip-name-resolve",
    "--max-connections=64",
    "--max-allowed-packet=64M",
)


def find_binaries() -> tuple[str, str]:
    """Return the paths of ``(mariadb-install-db, mariadbd)``, or raise SandboxError.

    The environment variables DBSEAL_MARIADB_INSTALL_DB and DBSEAL_MARIADBD override the search.
    """
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SEARCH_DIRS])
    # DBSEAL_MARIADB_INSTALL_DB / DBSEAL_MARIADBD point at binaries outside the usual places.
    overrides = {"mariadb-install-db": "DBSEAL_MARIADB_INSTALL_DB", "mariadbd": "DBSEAL_MARIADBD"}
    found = {
        name: os.environ.get(var) or shutil.which(name, path=search)
        for name, var in overrides.items()
    }
    install_db, mariadbd = found["mariadb-install-db"], found["mariadbd"]
    if install_db is None or mariadbd is None:
        missing = " and ".join(name for name, path in found.items() if path is None)
        raise SandboxError(
            f"cannot start a throwaway MariaDB server: {missing} not found "
            f"in PATH or {', '.join(SEARCH_DIRS)}"
        )
    return install_db, mariadbd


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _spawn(args: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own session with stdout and stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )


def _tail(path: Path, offset: int = 0, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return "(no log written)"
    text = data.decode("utf-8", "replace").rstrip()
    all_lines = text.splitlines()
    tail = all_lines[-lines:]
    # the cause is often long before the end (install-db ends with pages of advice)
    errors = [ln for ln in all_lines[: len(all_lines) - len(tail)] if "[ERROR]" in ln][:5]
    return "\n".join(errors + tail) or "(log is empty)"


class MariaDBSandbox:
    """A private MariaDB server on 127.0.0.1 and a unix socket, gone after :meth:`stop`.

    ``tls`` (default on) gives the server a throwaway CA and certificate naming
    ``server_names``; ``require_secure_transport`` makes it refuse plaintext TCP;
    ``extra_args`` are appended to the ``mariadbd`` command line; ``parent_dir`` is where
    the temporary directory goes (default: the system temporary directory). ``binlog``
    turns the binary log on (``log_bin``, ``server_id=1``); ``my_cnf`` lines (``key=value``)
    go into a ``[mariadbd]`` option file that the server reads instead of none (e.g.
    ``plugin_load_add=file_key_management``); mariadb-install-db never reads it.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`; ``stop`` also
    runs at interpreter exit if forgotten. Not thread-safe.
    """

    root_user = "root"

    def __init__(
        self,
        *,
        tls: bool = True,
        require_secure_transport: bool = False,
        server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
        extra_args: Sequence[str] = (),
        key_type: KeyType = "ec",
        parent_dir: str | os.PathLike[str] | None = None,
        ready_timeout: float = READY_TIMEOUT,
        binlog: bool = False,
        my_cnf: Sequence[str] = (),
    ) -> None:
        if require_secure_transport and not tls:
            raise ValueError("require_secure_transport needs tls=True")
        self.host = LOOPBACK
        self._tls_enabled = tls
        self._require_secure_transport = require_secure_transport
        self._server_names = tuple(server_names)
        self._extra_args = tuple(extra_args)
        self._key_type: KeyType = key_type
        self._parent_dir = parent_dir
        self._ready_timeout = ready_timeout
        self._binlog = binlog
        self._my_cnf = tuple(my_cnf)
        self._password = secrets.token_urlsafe(24)
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._tls: TLSFiles | None = None
        self._version: str | None = None

    def __repr__(self) -> str:
        return f"MariaDBSandbox(port={self._port}, tmpdir={str(self._tmpdir)!r})"

    # -- state -------------------------------------------------------------------------

    @property
    def tmpdir(self) -> Path:
        """The private directory holding data, socket, logs and TLS files."""
        if self._tmpdir is None:
            raise SandboxError("the sandbox is not started")
        return self._tmpdir

    @property
    def datadir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def socket_path(self) -> Path:
        return self.tmpdir / "mariadbd.sock"

    @property
    def error_log(self) -> Path:
        return self.tmpdir / "mariadbd.err"

    @property
    def port(self) -> int:
        if self._port is None:
            raise SandboxError("the sandbox is not started")
        return self._port

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise SandboxError("the sandbox is not started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def root_password(self) -> str:
        return self._password

    @property
    def tls_files(self) -> TLSFiles:
        if self._tls is None:
            raise SandboxError("the sandbox has no TLS files (not started, or tls=False)")
        return self._tls

    @property
    def ca_cert(self) -> Path:
        return self.tls_files.ca_cert

    @property
    def client_cert(self) -> Path:
        return self.tls_files.client_cert

    @property
    def client_key(self) -> Path:
        return self.tls_files.client_key

    @property
    def version(self) -> str:
        """The server's ``SELECT VERSION()``, e.g. ``10.11.6-MariaDB-0+deb12u1``."""
        if self._version is None:
            raise SandboxError("the sandbox is not started")
        return self._version

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Create the data directory, start the server and wait until it answers.

        Raises SandboxError (with the tail of the server's error log) if the binaries are
        missing or the server does not come up; nothing is left behind in that case.
        """
        if self._tmpdir is not None:
            raise SandboxError("the sandbox is already started")
        install_db, mariadbd = find_binaries()
        self._tmpdir = Path(tempfile.mkdtemp(prefix="dbseal-sandbox-", dir=self._parent_dir))
        atexit.register(self.stop)
        try:
            self._check_socket_path()
            if self._tls_enabled:
                tls_dir = self.tmpdir / "tls"
                tls_dir.mkdir(mode=0o700)
                self._tls = generate_tls_files(
                    tls_dir, server_names=self._server_names, key_type=self._key_type
                )
            (self.tmpdir / "tmp").mkdir(mode=0o700)
            self._install(install_db)
            self._launch(mariadbd)
        except BaseException:
            with contextlib.suppress(SandboxError):
                self.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut the server down (SIGTERM, then SIGKILL after 30 s) and delete its directory.

        Idempotent; safe to call after a failed :meth:`start` or after :meth:`kill`.
        Raises SandboxError only if the directory cannot be removed.
        """
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        tmpdir, self._tmpdir = self._tmpdir, None
        self._port = self._tls = self._version = None
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
            if tmpdir.exists():
                raise SandboxError(f"could not remove the sandbox directory {tmpdir}")

    def kill(self) -> None:
        """SIGKILL the server, as if it crashed; files stay until :meth:`stop`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    # -- clients -----------------------------------------------------------------------

    def connect(
        self,
        database: str | None = None,
        *,
        tcp: bool = False,
        ssl: bool = False,
        user: str | None = None,
        password: str | None = None,
        verify_identity: bool = True,
        connect_timeout: float = 10,
    ) -> Connection[Cursor]:
        """Open a PyMySQL connection, as root unless ``user``/``password`` are given.

        Default is the unix socket without TLS. ``tcp=True`` connects to 127.0.0.1 in
        plaintext; ``ssl=True`` implies TCP and uses TLS with the sandbox CA and client
        certificate, checking the server's name unless ``verify_identity=False``.
        """
        ctx = self._client_ssl_context(verify_identity) if ssl else None
        return pymysql.connect(
            host=self.host,
            port=self.port,
            unix_socket=None if tcp or ssl else str(self.socket_path),
            user=user or self.root_user,
            password=self._password if password is None else password,
            database=database,
            connect_timeout=connect_timeout,
            ssl=ctx,
            ssl_disabled=ctx is None,
        )

    def _client_ssl_context(self, verify_identity: bool) -> ssl.SSLContext:
        files = self.tls_files
        ctx = ssl.create_default_context(cafile=str(files.ca_cert))
        ctx.check_hostname = verify_identity
        ctx.load_cert_chain(str(files.client_cert), str(files.client_key))
        return ctx

    # -- internals ---------------------------------------------------------------------

    def _check_socket_path(self) -> None:
        if len(os.fsencode(self.socket_path)) > _SUN_PATH_MAX:
            raise SandboxError(
                f"the socket path {self.socket_path} is too long for a unix socket",
                hint="set TMPDIR (or parent_dir) to a shorter directory such as /tmp",
            )

    def _user_args(self) -> list[str]:
        """mariadbd refuses to run as root unless told to; it must not switch users."""
        if os.geteuid() != 0:
            return []
        return [f"--user={pwd.getpwuid(0).pw_name}"]

    def _bootstrap_sql(self) -> str:
        """Root gets the password on localhost and 127.0.0.1; other root accounts go."""
        return (
            "DELETE FROM mysql.global_priv WHERE User='root' AND Host NOT IN "
            "('localhost', '127.0.0.1');\n"
            "DELETE FROM mysql.proxies_priv WHERE User='root' AND Host NOT IN "
            "('localhost', '127.0.0.1');\n"
            "INSERT IGNORE INTO mysql.global_priv SELECT '127.0.0.1', User, Priv "
            "FROM mysql.global_priv WHERE User='root' AND Host='localhost';\n"
            "UPDATE mysql.global_priv SET Priv=JSON_SET(Priv, '$.plugin', "
            "'mysql_native_password', '$.authentication_string', "
            f"PASSWORD('{self._password}')) WHERE User='root';\n"
        )

    def _install(self, install_db: str) -> None:
        """Run mariadb-install-db; the bootstrap SQL file exists only while it runs."""
        sql_path = self.tmpdir / "bootstrap.sql"
        log_path = self.tmpdir / "install.log"
        fd = os.open(sql_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._bootstrap_sql())
        # No --user here: as root, install-db would chown the system's auth_pam_tool_dir.
        # --force skips its DNS check of the host name (the host name is not used).
        args = [
            install_db,
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--force",
            f"--extra-file={sql_path}",
            # its own tmpdir: a starting mariadbd deletes every #sql* file in its tmpdir, so
            # bootstraps sharing /tmp (parallel sandboxes, or a real server's /tmp) break each
            # other's temporary tables ("Unknown table 'mysql.tmp_user_sys'")
            f"--tmpdir={self.tmpdir / 'tmp'}",
            *_SMALL_INNODB,
        ]
        try:
            proc = _spawn(args, log_path, self.tmpdir)
            try:
                rc = proc.wait(timeout=INSTALL_TIMEOUT)
            except BaseException:  # timeout or Ctrl-C: the bootstrap mariadbd goes too
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        finally:
            sql_path.unlink(missing_ok=True)
        if rc != 0:
            raise SandboxError(
                f"mariadb-install-db failed with exit status {rc}; its output ends with:\n"
                + self._redact(_tail(log_path))
            )

    @property
    def binlog_basename(self) -> Path:
        return self.tmpdir / "binlog"

    def _defaults_arg(self) -> str:
        """``--no-defaults``, or ``--defaults-file`` of the ``my_cnf`` lines (nothing else)."""
        if not self._my_cnf:
            return "--no-defaults"
        path = self.tmpdir / "my.cnf"
        path.write_text("[mariadbd]\n" + "".join(f"{line}\n" for line in self._my_cnf))
        path.chmod(0o600)
        return f"--defaults-file={path}"

    def _server_args(self, mariadbd: str, port: int) -> list[str]:
        args = [
            mariadbd,
            self._defaults_arg(),
            *self._user_args(),
            f"--datadir={self.datadir}",
            f"--socket={self.socket_path}",
            f"--port={port}",
            f"--bind-address={LOOPBACK}",
            f"--pid-file={self.tmpdir / 'mariadbd.pid'}",
            f"--log-error={self.error_log}",
            f"--tmpdir={self.tmpdir / 'tmp'}",
            *_SERVER_TUNING,
        ]
        if self._tls is not None:
            args += [
                f"--ssl-ca={self._tls.ca_cert}",
                f"--ssl-cert={self._tls.server_cert}",
                f"--ssl-key={self._tls.server_key}",
            ]
        if self._require_secure_transport:
            args.append("--require-secure-transport=ON")
        if self._binlog:
            args += [f"--log-bin={self.binlog_basename}", "--server-id=1"]
        return [*args, *self._extra_args]

    def _launch(self, mariadbd: str) -> None:
        """Start mariadbd, retrying with another port if the chosen one was taken meanwhile."""
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            log_offset = self.error_log.stat().st_size if self.error_log.exists() else 0
            port = _free_port()
            proc = self._proc = _spawn(
                self._server_args(mariadbd, port), self.error_log, self.tmpdir
            )
            self._port = port
            exited = self._wait_ready(proc, log_offset)
            if exited is None:
                return
            tail = self._redact(_tail(self.error_log, log_offset))
            if "Address already in use" not in tail or attempt == _PORT_ATTEMPTS:
                raise SandboxError(
                    f"mariadbd exited with status {exited} during startup; "
                    f"its error log ends with:\n{tail}"
                )

    def _wait_ready(self, proc: subprocess.Popen[bytes], log_offset: int) -> int | None:
        """Poll the socket until root can log in; the exit status if the server died first."""
        deadline = time.monotonic() + self._ready_timeout
        while True:
            status = proc.poll()
            if status is not None:
                return status
            if self.socket_path.exists():
                try:
                    with self.connect(connect_timeout=2) as conn, conn.cursor() as cur:
                        cur.execute("SELECT VERSION()")
                        row = cur.fetchone()
                        self._version = str(row[0]) if row else ""
                        return None
                except pymysql.err.MySQLError as e:  # not listening yet, or still starting
                    if e.args and e.args[0] == 1045:  # access denied: bootstrap SQL failed
                        raise SandboxError("the sandbox root password was not accepted") from None
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"mariadbd did not answer within {self._ready_timeout:.0f} s; "
                    "its error log ends with:\n" + self._redact(_tail(self.error_log, log_offset))
                )
            time.sleep(0.05)

    def _redact(self, text: str) -> str:
        return text.replace(self._password, "***")
