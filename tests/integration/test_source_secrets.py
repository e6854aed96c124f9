"""THE SECRET TEST: the database password is never in a child's argv or environment,
never in messages or exceptions, and its option file is gone afterwards.

The password is distinctive and nasty (quotes, backslashes, #, spaces, a tab), so these
tests also prove that the option-file quoting logs in for real.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import MysqlClientSink, MysqldumpSource, parse_mysql_url
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import DatabaseError

pytestmark = pytest.mark.mariadb


def _proc_file(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def _defaults_path(cmdline: bytes) -> Path:
    (arg,) = [a for a in cmdline.split(b"\0") if a.startswith(b"--defaults-file=")]
    return Path(arg.split(b"=", 1)[1].decode())


@pytest.fixture
def nasty_user(mariadb: MariaDBSandbox, big_db: str) -> Iterator[tuple[str, bytes]]:
    tag = uuid.uuid4().hex
    user = f"sealer_{tag[:8]}"
    password = f"S3cr\"et 'pw' \\ #not-a-comment\t; = {tag}"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        cur.execute(f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `{big_db}`.* TO %s@'%%'", (user,))
        cur.execute("GRANT RELOAD ON *.* TO %s@'%%'", (user,))
        cur.execute("GRANT SELECT ON mysql.proc TO %s@'%%'", (user,))
    yield user, password.encode()
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def target(server: MariaDBSandbox, user: str, db: str = "") -> MySQLTarget:
    return parse_mysql_url(
        f"mysql://{user}@127.0.0.1:{server.port}/{db}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )


def test_the_password_never_shows(
    mariadb: MariaDBSandbox,
    big_db: str,
    nasty_user: tuple[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, password = nasty_user
    monkeypatch.setenv("MYSQL_PWD", password.decode())  # must not reach the child either
    source = MysqldumpSource(target(mariadb, user, big_db), Secret(password))
    assert (
        password not in repr(source).encode() and password not in repr(source.describe()).encode()
    )

    with source.start() as run:
        assert run.read(1 << 20)  # 24 MB to go: the dump is running and blocked on us
        cmdline = _proc_file(run.pid, "cmdline")
        environ = _proc_file(run.pid, "environ")
        assert b"mariadb-dump" in cmdline or b"mysqldump" in cmdline
        options = _defaults_path(cmdline)
        assert not options.exists()  # removed as soon as the dump had shown output
        while run.read(1 << 20):
            pass
        result = run.finish()

    assert password not in cmdline
    assert password not in environ
    assert b"MYSQL_PWD=" not in environ
    assert result.status == "ok", result.reasons
    assert password not in result.stderr
    assert all(password.decode() not in r for r in result.reasons)
    assert not options.exists() and not options.parent.exists()


def test_the_password_never_shows_in_the_restore_client(
    mariadb: MariaDBSandbox, nasty_user: tuple[str, bytes]
) -> None:
    user, password = nasty_user
    sink = MysqlClientSink(target(mariadb, user), Secret(password))
    try:
        sink.write(b"SELECT 1;\n")
        cmdline = _proc_file(sink.pid, "cmdline")
        environ = _proc_file(sink.pid, "environ")
        options = _defaults_path(cmdline)
        assert options.stat().st_mode & 0o077 == 0
    finally:
        result = sink.close()
    assert password not in cmdline and password not in environ
    assert result.exit_code == 0 and password not in result.stderr
    assert not options.exists() and not options.parent.exists()


def test_the_password_is_not_in_exceptions(
    mariadb: MariaDBSandbox, big_db: str, nasty_user: tuple[str, bytes]
) -> None:
    user, password = nasty_user
    almost = password[:-1] + b"!"
    with pytest.raises(DatabaseError) as info:
        MysqldumpSource(target(mariadb, user, big_db), Secret(almost)).start()
    with pytest.raises(DatabaseError) as sink_info:
        MysqlClientSink(target(mariadb, user), Secret(almost))
    for exc in (info.value, sink_info.value):
        text = f"{exc.one_line()} {exc!r} {exc.args!r} {exc.__cause__!r} {exc.__context__!r}"
        assert almost.decode() not in text and password.decode() not in text
        assert "access denied" in exc.message


def _extra_defaults_path(cmdline: bytes) -> Path:
    args = cmdline.split(b"\0")
    assert args[1].startswith(b"--defaults-extra-file="), args[:3]  # the first argument
    return Path(args[1].split(b"=", 1)[1].decode())


def test_the_password_never_shows_in_mariadb_backup(
    mariadb: MariaDBSandbox,
    nasty_user: tuple[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dbseal.engines.mariadb.physical.source import MariabackupSource

    user, password = nasty_user
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO %s@'%%'", (user,))
    monkeypatch.setenv("MYSQL_PWD", password.decode())  # must not reach the child either
    source = MariabackupSource(target(mariadb, user), Secret(password))
    assert password not in repr(source.describe()).encode()
    with source.start() as run:
        cmdline = _proc_file(run.pid, "cmdline")
        environ = _proc_file(run.pid, "environ")
        assert b"mariadb-backup" in cmdline or b"mariabackup" in cmdline
        options = _extra_defaults_path(cmdline)
        assert run.read(1 << 20)  # the stream has begun: the option file is gone
        assert not options.exists()
        while run.read(1 << 20):
            pass
        result = run.finish()
    assert password not in cmdline and password not in environ
    assert b"MYSQL_PWD=" not in environ
    assert result.status in ("ok", "warnings"), result.reasons
    assert password not in result.stderr
    assert not options.exists() and not options.parent.exists()
