"""The throwaway MariaDB server: reachable, private, encrypted, and gone after stop()."""

from __future__ import annotations

import concurrent.futures
import os
import stat
import tempfile
from pathlib import Path

import pymysql
import pytest
from cryptography import x509

from dbseal.engines.mariadb import sandbox as mariadb_module
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.errors import SandboxError

pytestmark = pytest.mark.mariadb


def _session_status(conn: pymysql.connections.Connection[pymysql.cursors.Cursor], name: str) -> str:
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE %s", (name,))
        row = cur.fetchone()
    return str(row[1]) if row else ""


def _processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def test_answers_over_the_unix_socket(mariadb: MariaDBSandbox) -> None:
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@socket, @@port, @@bind_address, VERSION()")
        row = cur.fetchone()
    assert row == (str(mariadb.socket_path), mariadb.port, "127.0.0.1", mariadb.version)
    assert "MariaDB" in mariadb.version


def test_answers_over_tcp_with_tls(mariadb: MariaDBSandbox) -> None:
    with mariadb.connect(ssl=True) as conn:
        assert conn.host_info == f"socket 127.0.0.1:{mariadb.port}"
        assert _session_status(conn, "Ssl_cipher") != ""
        assert _session_status(conn, "Ssl_version").startswith("TLSv1.")


def test_plain_tcp_is_really_plain(mariadb: MariaDBSandbox) -> None:
    with mariadb.connect(tcp=True) as conn:
        assert _session_status(conn, "Ssl_cipher") == ""


def test_root_needs_the_password_over_tcp(mariadb: MariaDBSandbox) -> None:
    with pytest.raises(pymysql.err.OperationalError) as info:
        mariadb.connect(tcp=True, password="")
    assert info.value.args[0] == 1045  # access denied


def test_files_are_private_and_repr_shows_no_secret(mariadb: MariaDBSandbox) -> None:
    assert stat.S_IMODE(mariadb.tmpdir.stat().st_mode) == 0o700
    for path in vars(mariadb.tls_files).values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not (mariadb.tmpdir / "bootstrap.sql").exists()
    text = repr(mariadb)
    assert str(mariadb.port) in text
    assert mariadb.root_password not in text


def test_certificate_for_another_name_is_refused(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    with MariaDBSandbox(server_names=["wrong.example"], parent_dir=tmp_path) as db:
        cert = x509.load_pem_x509_certificate(db.tls_files.server_cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["wrong.example"]
        assert san.get_values_for_type(x509.IPAddress) == []
        with pytest.raises(pymysql.err.OperationalError, match="certificate is not valid"):
            db.connect(ssl=True)
        # The chain itself is fine: only the name is wrong.
        with db.connect(ssl=True, verify_identity=False) as conn:
            assert _session_status(conn, "Ssl_cipher") != ""


def test_require_secure_transport_refuses_plaintext_tcp(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    with MariaDBSandbox(require_secure_transport=True, parent_dir=tmp_path) as db:
        with pytest.raises(pymysql.err.OperationalError):
            db.connect(tcp=True)
        with db.connect(ssl=True) as conn:
            assert _session_status(conn, "Ssl_cipher") != ""


def test_stop_removes_the_directory_and_the_process(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    db = MariaDBSandbox(parent_dir=tmp_path).start()
    pid, tmpdir = db.pid, db.tmpdir
    assert Path(f"/proc/{pid}").exists()
    db.stop()
    assert not tmpdir.exists()
    assert not Path(f"/proc/{pid}").exists()
    assert list(tmp_path.iterdir()) == []
    db.stop()  # idempotent


def test_kill_leaves_a_dead_server_until_stop(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    db = MariaDBSandbox(parent_dir=tmp_path).start()
    try:
        pid = db.pid
        db.kill()
        assert not db.running
        assert not Path(f"/proc/{pid}").exists()
        with pytest.raises(pymysql.err.OperationalError):
            db.connect(tcp=True)
        assert db.tmpdir.exists()
    finally:
        db.stop()
    assert list(tmp_path.iterdir()) == []


def test_failed_start_leaves_nothing_behind(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    db = MariaDBSandbox(extra_args=["--no-such-option"], parent_dir=tmp_path)
    with pytest.raises(SandboxError, match="unknown option '--no-such-option'") as info:
        db.start()
    assert info.value.exit_code == 20
    assert db.root_password not in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert _processes_mentioning(str(tmp_path)) == []


def test_start_that_times_out_stops_the_running_server(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    db = MariaDBSandbox(parent_dir=tmp_path, ready_timeout=0)
    with pytest.raises(SandboxError, match="did not answer"):
        db.start()
    assert list(tmp_path.iterdir()) == []
    assert _processes_mentioning(str(tmp_path)) == []


def test_missing_binaries_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mariadb_module, "SEARCH_DIRS", ())
    with pytest.raises(SandboxError, match="mariadb-install-db and mariadbd not found"):
        MariaDBSandbox(parent_dir=tmp_path).start()
    assert list(tmp_path.iterdir()) == []


def test_sandbox_never_touches_the_hosts_tmpdir(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    """A starting mariadbd deletes every ``#sql*`` file in its tmpdir: the bootstrap of
    mariadb-install-db must use the sandbox's own, or a throwaway verify server would
    delete the temporary tables of real servers (and of other sandboxes) using /tmp."""
    canary = Path(tempfile.gettempdir()) / f"#sql-dbseal-canary-{os.getpid()}.frm"
    canary.write_bytes(b"a real server's temporary table")
    try:
        db = MariaDBSandbox(parent_dir=tmp_path, ready_timeout=0)
        with pytest.raises(SandboxError, match="did not answer"):  # installed, then stopped
            db.start()
        assert canary.exists()
    finally:
        canary.unlink(missing_ok=True)


def test_parallel_sandboxes_install_cleanly(
    mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    def install(i: int) -> str:
        db = MariaDBSandbox(parent_dir=tmp_path, ready_timeout=0)
        try:
            db.start()
        except SandboxError as exc:
            return exc.message.splitlines()[0]
        finally:
            db.stop()
        return "started"

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(install, range(6)))
    assert all("did not answer" in r or r == "started" for r in results), results


def test_binlog_and_extra_option_lines(mariadb_binaries: tuple[str, str]) -> None:
    with MariaDBSandbox(tls=False, binlog=True, my_cnf=["lock_wait_timeout=1234"]) as db:
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT @@log_bin, @@server_id, @@lock_wait_timeout")
            assert cur.fetchone() == (1, 1, 1234)
            cur.execute("SHOW BINARY LOGS")
            assert cur.fetchall()
        cnf = db.tmpdir / "my.cnf"
        assert stat.S_IMODE(cnf.stat().st_mode) == 0o600
    with MariaDBSandbox(tls=False) as db, db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@lock_wait_timeout")  # the defaults are unchanged
        assert cur.fetchone() == (0, 86400)
        assert not (db.tmpdir / "my.cnf").exists()
