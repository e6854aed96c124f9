"""The throwaway PostgreSQL server: private, password-protected, off 5432, gone after stop()."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbseal.engines.postgresql.psql import query
from dbseal.engines.postgresql.sandbox import PostgresSandbox
from dbseal.errors import DatabaseError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_answers_over_the_socket_and_tcp_with_a_password(postgres: PostgresSandbox) -> None:
    assert postgres.port != 5432
    assert postgres.sql("SELECT current_user")[0][0] == "dbseal"
    rows = query(postgres.target(tcp=True), postgres.password, "SELECT inet_server_port()")
    assert rows == [[str(postgres.port)]]
    method = postgres.sql("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
    assert {r[0] for r in method} == {"scram-sha-256"}


def test_wrong_password_is_refused(postgres: PostgresSandbox) -> None:
    from dbseal.crypto.secret import Secret

    with pytest.raises(DatabaseError, match="refused the login of role dbseal"):
        query(postgres.target(tcp=True), Secret(b"not-the-password"), "SELECT 1")


def test_tls_is_offered_and_files_are_private(postgres: PostgresSandbox) -> None:
    target = postgres.target(
        tcp=True, ssl_mode="verify-full", ssl_ca=str(postgres.tls_files.ca_cert)
    )
    rows = query(
        target,
        postgres.password,
        "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    assert rows[0][0] == "t" and rows[0][1] in ("TLSv1.2", "TLSv1.3")
    assert stat.S_IMODE(postgres.tmpdir.stat().st_mode) == 0o700
    assert stat.S_IMODE(postgres.datadir.stat().st_mode) == 0o700
    assert not (postgres.tmpdir / "pwfile").exists()
    assert postgres.password_text not in repr(postgres)


def test_stop_removes_the_directory_and_the_server(pg_binaries: str) -> None:
    pg = PostgresSandbox().start()
    tmpdir, pid = pg.tmpdir, pg.pid
    pg.stop()
    assert not tmpdir.exists()
    assert not _alive(pid)
    pg.stop()  # idempotent


def test_sigterm_to_the_owner_removes_the_server(pg_binaries: str, tmp_path: Path) -> None:
    """A process holding a sandbox that gets SIGTERM (as `dbseal verify` does) leaves nothing."""
    script = (
        "import signal, sys\n"
        "from dbseal.cli.main import _terminate\n"
        "from dbseal.engines.postgresql.sandbox import PostgresSandbox\n"
        "signal.signal(signal.SIGTERM, _terminate)\n"
        "with PostgresSandbox() as pg:\n"
        "    print(pg.tmpdir, pg.pid, flush=True)\n"
        "    signal.pause()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    tmpdir, pid = child.stdout.readline().split()
    assert Path(tmpdir).is_dir() and _alive(int(pid))
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=60)
    deadline = time.monotonic() + 10
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(tmpdir).exists()
    assert not _alive(int(pid))
