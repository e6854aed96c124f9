"""Fixtures for tests against real servers that the suite starts itself on loopback.

Without the MariaDB binaries the tests are skipped on a workstation, but fail under CI
(``CI`` set), where the CI script installs mariadb-server and a skip would hide a gap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.clikit import DBSEAL, clean_env, private_file
from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import DumpResult, SchemaObjects, TableStat, schema_objects, table_stats
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.sandbox import MariaDBSandbox, find_binaries
from dbseal.engines.mariadb.stats import prepare_session
from dbseal.errors import SandboxError

# `dbseal` as the unprivileged user nobody (a repository it may not write)
AS_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def mariadb_binaries() -> tuple[str, str]:
    """``(mariadb-install-db, mariadbd)``; skips (or fails under CI) when they are missing."""
    try:
        return find_binaries()
    except SandboxError as e:
        if _in_ci():
            pytest.fail(f"{e.message} (CI is set, so the CI script should have installed them)")
        pytest.skip(f"{e.message}; install mariadb-server to run the MariaDB integration tests")


@pytest.fixture(scope="session")
def mariadb(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """One throwaway MariaDB server with TLS for the whole test session."""
    with MariaDBSandbox(tls=True) as sandbox:
        yield sandbox


# -- sources and sinks (tests/integration/test_source_*.py, test_sink_*.py) ----------------


@pytest.fixture(scope="session")
def mariadb_restore(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """A second throwaway MariaDB server (with TLS) to restore dumps into."""
    with MariaDBSandbox(tls=True) as sandbox:
        yield sandbox


@pytest.fixture
def scratch_dbs(mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox) -> Iterator[list[str]]:
    """Names for fresh databases (append yours); dropped afterwards on both servers."""
    names: list[str] = []
    yield names
    for server in (mariadb, mariadb_restore):
        with server.connect() as conn, conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="session")
def big_db(mariadb: MariaDBSandbox) -> Iterator[str]:
    """A database on ``mariadb`` whose dump takes a moment: ``big`` holds about 24 MB."""
    name = "dbseal_big"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")  # sandbox connections do not autocommit
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(
            f"CREATE TABLE `{name}`.big (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(1000))"
        )
        cur.execute(
            f"INSERT INTO `{name}`.big (pad) SELECT REPEAT(MD5(seq), 25) FROM `{name}`.seq_1_to_30000"
        )
    yield name
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


# -- the `dbseal` command run as a user would (test_backup_cli.py, test_backup_failures.py,
# -- test_restore_cli.py) -------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """One finished `dbseal` run: its arguments, exit status and output."""

    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def ok(self) -> CliResult:
        assert self.rc == 0, f"dbseal {' '.join(self.args)}: exit {self.rc}: {self.stderr}"
        return self

    def error(self, code: int) -> str:
        """Exit ``code`` and exactly one `dbseal: error: ... (hint: ...)` line on stderr."""
        lines = self.stderr.splitlines()
        assert self.rc == code, f"dbseal {' '.join(self.args)}: exit {self.rc}: {self.stderr!r}"
        assert len(lines) == 1, f"expected one line on stderr, got {self.stderr!r}"
        assert lines[0].startswith("dbseal: error: "), lines[0]
        assert " (hint: " in lines[0] and lines[0].endswith(")"), lines[0]
        assert "Traceback" not in self.stderr
        return lines[0]

    def json(self) -> Any:
        return json.loads(self.stdout)


class DbsealUser:
    """Someone at a shell in ``home``: an identity made by `dbseal keygen`, 0600 password
    files, and the `dbseal` command run as a separate process (never in-process)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.identity = home / "backup.key"
        self.recipient = self.run("keygen", "-o", self.identity).ok().stdout.strip()
        assert self.recipient.startswith("age1")

    # -- running dbseal ------------------------------------------------------------------

    def argv(self, *args: object, as_nobody: bool = False) -> list[str]:
        prefix = list(AS_NOBODY) if as_nobody else []
        return [*prefix, *DBSEAL, *(str(a) for a in args)]

    def run(
        self,
        *args: object,
        cwd: Path | None = None,
        as_nobody: bool = False,
        timeout: float = 120,
    ) -> CliResult:
        argv = self.argv(*args, as_nobody=as_nobody)
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=cwd or self.home,
            env=clean_env(),
            timeout=timeout,
            check=False,
        )
        return CliResult(
            tuple(str(a) for a in args),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )

    def spawn(self, *args: object) -> subprocess.Popen[bytes]:
        """Start `dbseal` without waiting (stdout and stderr are pipes)."""
        return subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.home,
            env=clean_env(),
        )

    # -- files ---------------------------------------------------------------------------

    def secret_file(self, name: str, value: str) -> Path:
        return private_file(self.home / name, value)

    def password_file(self, server: MariaDBSandbox) -> Path:
        """The server's root password in a 0600 file."""
        return self.secret_file(f"root-{server.port}.pw", server.root_password)

    # -- the commands ----------------------------------------------------------------------

    def init(self, name: str | Path = "repo", *extra: object) -> Path:
        """`dbseal init` for this user's recipient; ``name`` is relative to home (or absolute)."""
        repo = self.home / name
        self.run("init", repo, "-r", self.recipient, *extra).ok()
        return repo

    def backup(
        self,
        repo: Path,
        server: MariaDBSandbox,
        *databases: str,
        user: str = "root",
        password_file: Path | None = None,
        ssl_mode: str = "verify-identity",
        extra: Sequence[object] = (),
    ) -> CliResult:
        return self.run(
            *self.backup_args(
                repo, server, *databases, user=user, password_file=password_file, ssl_mode=ssl_mode
            ),
            *extra,
        )

    def backup_args(
        self,
        repo: Path,
        server: MariaDBSandbox,
        *databases: str,
        user: str = "root",
        password_file: Path | None = None,
        ssl_mode: str = "verify-identity",
    ) -> list[object]:
        args: list[object] = [
            "backup",
            "--repo",
            repo,
            "--source",
            f"mysql://{user}@127.0.0.1:{server.port}/{','.join(databases)}",
            "--password-file",
            password_file or self.password_file(server),
            "--ssl-mode",
            ssl_mode,
        ]
        if ssl_mode in ("verify-ca", "verify-identity"):
            args += ["--ssl-ca", server.ca_cert]
        return args

    def good_backup(self, repo: Path, server: MariaDBSandbox, *databases: str) -> str:
        """Back up and return the id of a backup that must be ``ok``."""
        res = self.backup(repo, server, *databases).ok()
        match = re.match(r"backup (\S+) ok: ", res.stdout)
        assert match, res.stdout
        return match.group(1)

    def listing(self, repo: Path) -> dict[str, Any]:
        doc: dict[str, Any] = self.run("list", "--repo", repo, "--json").ok().json()
        return doc

    def show(self, repo: Path, ref: str) -> dict[str, Any]:
        """`dbseal show --json` with the identity: the authenticated manifest and the log."""
        doc: dict[str, Any] = (
            self.run("show", "--repo", repo, ref, "-i", self.identity, "--json").ok().json()
        )
        return doc

    def restore(self, repo: Path, ref: str, server: MariaDBSandbox, *extra: object) -> CliResult:
        return self.run(
            "restore",
            "--repo",
            repo,
            ref,
            "--target",
            f"mysql://root@127.0.0.1:{server.port}",
            "--target-password-file",
            self.password_file(server),
            "--target-ssl-ca",
            server.ca_cert,
            "-i",
            self.identity,
            *extra,
        )


@pytest.fixture
def user(tmp_path: Path) -> DbsealUser:
    """A `dbseal` user with a fresh identity, working in tmp_path."""
    return DbsealUser(tmp_path / "home")


def run_sql(server: MariaDBSandbox, *statements: str | tuple[str, Sequence[object]]) -> None:
    """Run statements as root, each committed (sandbox connections do not autocommit)."""
    with server.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            for st in statements:
                if isinstance(st, tuple):
                    cur.execute(st[0], st[1])
                else:
                    cur.execute(st)


@contextlib.contextmanager
def backed_up(
    home: Path, server: MariaDBSandbox, databases: Sequence[str], *statements: str
) -> Iterator[tuple[DbsealUser, Path, str]]:
    """Run ``statements`` on ``server``, then a new user in ``home`` backs ``databases`` up:
    ``(user, repository, backup id)``. The databases are dropped from ``server`` afterwards."""
    run_sql(server, *statements)
    try:
        user = DbsealUser(home)
        repo = user.init()
        yield user, repo, user.good_backup(repo, server, *databases)
    finally:
        run_sql(server, *(f"DROP DATABASE IF EXISTS `{d}`" for d in databases))


def fetch(server: MariaDBSandbox, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of one query in a fresh autocommit connection (never a stale snapshot)."""
    with server.connect() as conn:
        conn.autocommit(True)
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return [tuple(r) for r in cur.fetchall()]


def databases_on(server: MariaDBSandbox) -> set[str]:
    return {str(r[0]) for r in fetch(server, "SHOW DATABASES")}


def server_stats(
    server: MariaDBSandbox, databases: Sequence[str], rename: Mapping[str, str] | None = None
) -> tuple[list[TableStat], list[SchemaObjects]]:
    """Row counts, checksums and schema objects as the backup computes them (UTC session)."""
    with server.connect() as conn:
        conn.autocommit(True)
        prepare_session(conn)
        return (
            table_stats(conn, databases, 1 << 30, rename=rename),
            schema_objects(conn, databases, rename=rename),
        )


def tls_target(server: MariaDBSandbox, *databases: str) -> MySQLTarget:
    """``server`` as root over TCP, TLS verified against its CA, naming ``databases``."""
    from dbseal.engines.mariadb.mysql_url import parse_mysql_url

    return parse_mysql_url(
        f"mysql://root@127.0.0.1:{server.port}/{','.join(databases)}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )


def root_password(server: MariaDBSandbox) -> Secret:
    return Secret(server.root_password.encode())


def full_dump(server: MariaDBSandbox, *databases: str) -> tuple[bytes, DumpResult]:
    """A whole dump of ``databases`` in memory, and its (ok) result."""
    from dbseal.engines.mariadb import MysqldumpSource

    with MysqldumpSource(tls_target(server, *databases), root_password(server)).start() as run:
        data = run.read()
        result = run.finish()
    assert result.status == "ok", result.reasons
    return data, result


def redump(
    server: MariaDBSandbox, databases: Sequence[str], rename: Mapping[str, str] | None = None
) -> dict[tuple[str, str], int]:
    """Each table's dump digest as a restore check computes it (re-dumped over the socket)."""
    from dbseal.engines.mariadb.mysql_url import parse_mysql_url
    from dbseal.engines.mariadb.redump import redump_digests

    target = parse_mysql_url(
        "mysql://root@localhost", socket=str(server.socket_path), ssl_mode="disabled"
    )
    return redump_digests(
        target, Secret(server.root_password.encode()), list(databases), rename
    ).digests


def manifest_stats(manifest: Mapping[str, Any]) -> tuple[list[TableStat], list[SchemaObjects]]:
    """The manifest's tables and objects as the comparison functions take them."""
    tables = [TableStat(**t) for t in manifest["tables"]]
    objects = [
        SchemaObjects(**{k: tuple(v) if isinstance(v, list) else v for k, v in o.items()})
        for o in manifest["objects"]
    ]
    return tables, objects


def tmp_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.dbseal-tmp"))


# -- moto's server (AWS KMS and S3 APIs on loopback): `moto_server` in tests/conftest.py ---------


# -- PostgreSQL (tests/integration/test_pg_*.py): servers the suite starts itself ------------


@pytest.fixture(scope="session")
def pg_binaries() -> str:
    """The directory of PostgreSQL's programs; skips (or fails under CI) without initdb."""
    from dbseal.engines.postgresql.tools import tool
    from dbseal.errors import DumpToolError

    try:
        tool("initdb")
        return tool("postgres")
    except DumpToolError as e:
        if _in_ci():
            pytest.fail(f"{e.message} (CI is set, so the CI script should have installed them)")
        pytest.skip(f"{e.message}; install postgresql to run the PostgreSQL integration tests")


@pytest.fixture(scope="session")
def postgres(pg_binaries: str) -> Iterator[Any]:
    """One throwaway PostgreSQL server (TLS on, SCRAM passwords) for the whole test session."""
    from dbseal.engines.postgresql.sandbox import PostgresSandbox

    with PostgresSandbox(tls=True) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def postgres_restore(pg_binaries: str) -> Iterator[Any]:
    """A second throwaway PostgreSQL server to restore into."""
    from dbseal.engines.postgresql.sandbox import PostgresSandbox

    with PostgresSandbox() as sandbox:
        yield sandbox
