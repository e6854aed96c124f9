"""A throwaway, private PostgreSQL server on loopback.

:class:`PostgresSandbox` runs ``initdb`` on a fresh data directory in a private temporary
directory, starts ``postgres`` on a free port of 127.0.0.1 and on a Unix socket in that
directory, and removes everything again on :meth:`PostgresSandbox.stop` (also at interpreter
exit, and on SIGTERM once the CLI has turned it into an exception)::

    with PostgresSandbox() as pg:
        query(pg.target(), pg.password, "SELECT 1")

The superuser role ``dbseal`` gets a random password (SCRAM-SHA-256, for the socket and TCP
alike) read by initdb from a 0600 file that is deleted at once; it never appears in a process
list. The server reads no configuration but the one initdb wrote plus its command line, and
shares nothing with a system PostgreSQL on the same machine (never port 5432). PostgreSQL
refuses to run as root: as root, the server runs as the ``postgres`` user (else ``nobody``).
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
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from dbseal.crypto.pki import DEFAULT_SERVER_NAMES, TLSFiles, generate_tls_files
from dbseal.crypto.secret import Secret
from dbseal.engines.postgresql.psql import query
from dbseal.engines.postgresql.tools import tool
from dbseal.engines.postgresql.url import PGTarget
from dbseal.errors import DatabaseError, DumpToolError, SandboxError

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
INITDB_TIMEOUT = 120.0
SUPERUSER = "dbseal"
_PORT_ATTEMPTS = 3
_SERVER_TUNING = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=32MB",
    "max_connections=40",
    "max_wal_senders=4",
    "wal_level=replica",
    "logging_collector=off",
    "dynamic_shared_memory_type=posix",
)


def _free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port: int = s.getsockname()[1]
        if port != 5432:
            return port


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise SandboxError(
        "running as root and there is no postgres or nobody user to run the server as"
    )


def _tail(path: Path, offset: int = 0, lines: int = 20) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace").rstrip()
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class PostgresSandbox:
    """A private PostgreSQL on 127.0.0.1 and a Unix socket, gone after :meth:`stop`.

    ``tls`` gives the server a throwaway CA and certificate naming ``server_names`` (the
    files: :attr:`tls_files`); ``hba`` replaces the access rules (pg_hba.conf lines);
    ``settings`` are extra ``-c NAME=VALUE``. Not thread-safe.
    """

    user = SUPERUSER

    def __init__(
        self,
        *,
        tls: bool = False,
        server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
        hba: Sequence[str] | None = None,
        settings: Sequence[str] = (),
        parent_dir: str | os.PathLike[str] | None = None,
        ready_timeout: float = READY_TIMEOUT,
        datadir: Path | None = None,
        user: str = SUPERUSER,
    ) -> None:
        """``datadir``: run on this existing data directory (a restored base backup) instead
        of initdb, with ``trust`` for the private socket only, logging in as ``user``."""
        self.host = LOOPBACK
        self.user = user
        self._given_datadir = datadir
        self._tls_enabled = tls
        self._server_names = tuple(server_names)
        self._hba = tuple(hba) if hba is not None else None
        self._settings = tuple(settings)
        self._parent_dir = parent_dir
        self._ready_timeout = ready_timeout
        self._password = secrets.token_urlsafe(24)
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._tls: TLSFiles | None = None
        self._version: str | None = None

    def __repr__(self) -> str:
        return f"PostgresSandbox(port={self._port}, tmpdir={str(self._tmpdir)!r})"

    # -- state -------------------------------------------------------------------------

    @property
    def tmpdir(self) -> Path:
        if self._tmpdir is None:
            raise SandboxError("the sandbox is not started")
        return self._tmpdir

    @property
    def datadir(self) -> Path:
        return self._given_datadir or self.tmpdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.tmpdir

    @property
    def log_path(self) -> Path:
        return self.tmpdir / "postgres.log"

    @property
    def port(self) -> int:
        if self._port is None:
            raise SandboxError("the sandbox is not started")
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise SandboxError("the sandbox is not started")
        return self._proc.pid

    @property
    def password(self) -> Secret:
        return Secret(self._password.encode())

    @property
    def password_text(self) -> str:
        return self._password

    @property
    def tls_files(self) -> TLSFiles:
        if self._tls is None:
            raise SandboxError("the sandbox has no TLS files (not started, or tls=False)")
        return self._tls

    @property
    def version(self) -> str:
        """``SHOW server_version``, e.g. ``15.20 (Debian 15.20-0+deb12u1)``."""
        if self._version is None:
            raise SandboxError("the sandbox is not started")
        return self._version

    def target(
        self, *databases: str, tcp: bool = False, user: str | None = None, **tls: str
    ) -> PGTarget:
        """A :class:`PGTarget` for this server (the socket unless ``tcp``)."""
        if not tcp:
            return PGTarget(
                user=user or self.user,
                socket=str(self.socket_dir),
                port=self.port,
                databases=databases,
            )
        return PGTarget(
            user=user or self.user,
            host=self.host,
            port=self.port,
            databases=databases,
            ssl_mode=tls.get("ssl_mode", "disable"),
            ssl_ca=tls.get("ssl_ca"),
            ssl_cert=tls.get("ssl_cert"),
            ssl_key=tls.get("ssl_key"),
        )

    def url(self, *databases: str, tcp: bool = False, user: str | None = None) -> str:
        who = user or self.user
        dbs = ",".join(databases)
        if tcp:
            return f"postgresql://{who}@{self.host}:{self.port}/{dbs}"
        return f"postgresql://{who}@:{self.port}/{dbs}?host={self.socket_dir}"

    def sql(self, sql: str, database: str = "postgres") -> list[list[str | None]]:
        """Run SQL as the superuser over the socket; the rows of the last statement."""
        return query(self.target(), self.password, sql, database)

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
        """initdb, start the server, wait until the superuser can log in; SandboxError if not."""
        if self._tmpdir is not None:
            raise SandboxError("the sandbox is already started")
        try:
            initdb, postgres = tool("initdb"), tool("postgres")
        except DumpToolError as exc:
            raise SandboxError(
                f"cannot start a throwaway PostgreSQL server: {exc.message}",
                hint="install postgresql (apt-get install postgresql)",
            ) from None
        self._tmpdir = Path(tempfile.mkdtemp(prefix="dbseal-pg-", dir=self._parent_dir))
        atexit.register(self.stop)
        try:
            owner = _server_user()
            if owner is not None:
                os.chown(self._tmpdir, owner.pw_uid, owner.pw_gid)
            if self._tls_enabled:
                tls_dir = self.tmpdir / "tls"
                tls_dir.mkdir(mode=0o700)
                self._tls = generate_tls_files(tls_dir, server_names=self._server_names)
                if owner is not None:
                    for p in (tls_dir, *tls_dir.iterdir()):
                        os.chown(p, owner.pw_uid, owner.pw_gid)
            if self._given_datadir is None:
                self._initdb(initdb, owner)
            else:
                self._adopt(owner)
            self._launch(postgres, owner)
        except BaseException:
            with contextlib.suppress(SandboxError):
                self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after 30 s, then delete the directory. Idempotent."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # postgres: "fast" shutdown
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
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
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    # -- internals ---------------------------------------------------------------------

    def _spawn(
        self, args: list[str], log: Path, owner: pwd.struct_passwd | None
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            if owner is not None:
                os.chown(log, owner.pw_uid, owner.pw_gid)
            env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8"}
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                env=env,
                start_new_session=True,
                user=owner.pw_uid if owner is not None else None,
                group=owner.pw_gid if owner is not None else None,
                extra_groups=[] if owner is not None else None,
            )

    def _initdb(self, initdb: str, owner: pwd.struct_passwd | None) -> None:
        pwfile = self.tmpdir / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._password + "\n")
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        log = self.tmpdir / "initdb.log"
        args = [
            initdb,
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]
        try:
            proc = self._spawn(args, log, owner)
            try:
                rc = proc.wait(timeout=INITDB_TIMEOUT)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        finally:
            pwfile.unlink(missing_ok=True)
        if rc != 0:
            raise SandboxError(
                f"initdb failed with exit status {rc}; its output ends with:\n{_tail(log)}"
            )
        if self._hba is not None:
            (self.datadir / "pg_hba.conf").write_text("\n".join(self._hba) + "\n")

    def _adopt(self, owner: pwd.struct_passwd | None) -> None:
        """A restored data directory: ours, 0700, reachable only over the private socket."""
        data = self.datadir
        (data / "pg_hba.conf").write_text("local all all trust\n")
        for stale in ("postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal"):
            (data / stale).unlink(missing_ok=True)
        data.chmod(0o700)
        if owner is not None:
            for root, dirs, files in os.walk(data):
                for name in (*dirs, *files):
                    os.lchown(os.path.join(root, name), owner.pw_uid, owner.pw_gid)
            os.chown(data, owner.pw_uid, owner.pw_gid)
            os.chown(data.parent, owner.pw_uid, owner.pw_gid)

    def _server_args(self, postgres: str, port: int) -> list[str]:
        settings = [
            f"listen_addresses={LOOPBACK}",
            f"port={port}",
            f"unix_socket_directories={self.socket_dir}",
            *_SERVER_TUNING,
            "archive_mode=off",
            f"ssl={'on' if self._tls is not None else 'off'}",
        ]
        if self._tls is not None:
            settings += [
                f"ssl_cert_file={self._tls.server_cert}",
                f"ssl_key_file={self._tls.server_key}",
                f"ssl_ca_file={self._tls.ca_cert}",
            ]
        args = [postgres, "-D", str(self.datadir)]
        for s in (*settings, *self._settings):
            args += ["-c", s]
        return args

    def _launch(self, postgres: str, owner: pwd.struct_passwd | None) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            port = _free_port()
            self._port = port
            self._proc = self._spawn(self._server_args(postgres, port), self.log_path, owner)
            exited = self._wait_ready(self._proc, offset)
            if exited is None:
                return
            tail = _tail(self.log_path, offset)
            if "already in use" not in tail or attempt == _PORT_ATTEMPTS:
                raise SandboxError(
                    f"postgres exited with status {exited} during startup; its log ends with:\n{tail}"
                )

    def _wait_ready(self, proc: subprocess.Popen[bytes], offset: int) -> int | None:
        deadline = time.monotonic() + self._ready_timeout
        sock = self.socket_dir / f".s.PGSQL.{self._port}"
        while True:
            status = proc.poll()
            if status is not None:
                return status
            if sock.exists():
                try:
                    rows = query(self.target(), self.password, "SHOW server_version", timeout=10)
                    self._version = str(rows[0][0])
                    return None
                except DatabaseError as exc:
                    if "password authentication failed" in exc.message:
                        raise SandboxError(
                            "the sandbox superuser's password was not accepted"
                        ) from None
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"postgres did not answer within {self._ready_timeout:.0f} s; its log ends "
                    f"with:\n{_tail(self.log_path, offset)}"
                )
            time.sleep(0.1)


__all__ = ["SUPERUSER", "PostgresSandbox"]
