"""`dbseal restore ID --datadir DIR` and `verify --level restore` of physical backups.

Real sandbox servers: physical backups by `dbseal backup --method physical`, restored into
a fresh datadir, a real mariadbd started on it, the data compared table by table with the
source at the backup's point.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, DbsealUser, fetch, run_sql
from dbseal.engines.mariadb.datadir_server import DatadirServer
from dbseal.engines.mariadb.encrypted_sandbox import encrypted_sandbox, write_key_file
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb

DB = "shop"


def physical(user: DbsealUser, repo: Path, server: MariaDBSandbox, *extra: object) -> str:
    res = user.run(
        *user.backup_args(repo, server), "--method", "physical", "--json", *extra, timeout=300
    )
    doc = res.ok().json()
    assert doc["status"] == "ok", doc
    return str(doc["id"])


def restore(user: DbsealUser, repo: Path, ref: str, datadir: Path, *extra: object) -> CliResult:
    return user.run(
        "restore", "--repo", repo, ref, "--datadir", datadir, "-i", user.identity, *extra,
        timeout=300,
    )  # fmt: skip


def sums(conn_of: MariaDBSandbox | DatadirServer, db: str = DB) -> dict[str, tuple[int, int]]:
    """Per table: row count and CHECKSUM TABLE (the same rows give the same sum)."""
    out = {}
    with conn_of.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
            (db,),
        )
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{table}`")
            count = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(f"CHECKSUM TABLE `{db}`.`{table}`")
            out[str(table)] = (int(count), int(cur.fetchone()[1]))  # type: ignore[index]
    return out


def started_on(datadir: Path, my_cnf: list[str] | None = None) -> DatadirServer:
    server = DatadirServer(datadir, my_cnf or ())
    server.start()
    return server


@pytest.fixture(scope="module")
def source(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """A sandbox with the binary log on, an InnoDB and an Aria table."""
    with MariaDBSandbox(tls=True, binlog=True) as s:
        run_sql(
            s,
            f"CREATE DATABASE {DB}",
            f"CREATE TABLE {DB}.orders (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB",
            f"INSERT INTO {DB}.orders SELECT seq, REPEAT('o', 150) FROM {DB}.seq_1_to_5000",
            f"CREATE TABLE {DB}.log (id INT PRIMARY KEY, v INT) ENGINE=Aria",
            f"INSERT INTO {DB}.log SELECT seq, seq FROM {DB}.seq_1_to_100",
        )
        yield s


def test_a_full_physical_backup_restores_into_a_new_datadir_and_starts(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    want = sums(source)
    bid = physical(user, repo, source)
    datadir = tmp_path / "restored"
    res = restore(user, repo, bid, datadir).ok()
    assert f"restored backup {bid}" in res.stdout and f"datadir={datadir}" in res.stdout
    assert not list(tmp_path.glob(".restored.dbseal-staging-*"))  # staging gone
    assert not (datadir / "backup-my.cnf").exists()
    if os.geteuid() == 0:  # given to the server's user
        assert pwd.getpwuid((datadir / "ibdata1").stat().st_uid).pw_name == "mysql"
    server = started_on(datadir)
    try:
        assert sums(server) == want
        assert not server.error_lines()
    finally:
        server.stop()


def test_a_chain_of_two_incrementals_restores_at_the_last_backups_point(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    run_sql(source, f"CREATE TABLE {DB}.chain (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    physical(user, repo, source)
    run_sql(source, f"INSERT INTO {DB}.chain SELECT seq, seq FROM {DB}.seq_1_to_1000")
    physical(user, repo, source, "--incremental", "-i", user.identity)
    run_sql(
        source,
        f"UPDATE {DB}.chain SET v = v * 2 WHERE id <= 500",
        f"DELETE FROM {DB}.orders WHERE id > 4000",
    )
    inc2 = physical(user, repo, source, "--incremental", "-i", user.identity)
    want = sums(source)
    run_sql(source, f"INSERT INTO {DB}.chain VALUES (5000, 1)")  # after the last backup
    datadir = tmp_path / "chain"
    res = restore(user, repo, inc2, datadir, "--json").ok().json()
    assert len(res["chain"]) == 3 and res["chain"][-1] == inc2
    server = started_on(datadir)
    try:
        assert sums(server) == want
    finally:
        server.stop()
        run_sql(source, f"DROP TABLE {DB}.chain")
    doc = verify(user, repo, inc2).ok().json()[0]  # the restore level restores the chain
    assert doc["result"] == "ok" and (DB, "chain") in {
        (t["database"], t["table"]) for t in doc["tables"]
    }


def test_a_missing_chain_member_is_named_before_anything_is_written(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    full = physical(user, repo, source)
    inc = physical(user, repo, source, "--incremental", "-i", user.identity)
    (repo / "manifests" / f"{full}.json").unlink()
    datadir = tmp_path / "never"
    line = restore(user, repo, inc, datadir).error(54)
    assert full in line
    assert not datadir.exists() and not list(tmp_path.glob(".never.dbseal-staging-*"))


def test_a_physical_backup_is_never_fed_to_a_server_as_sql(
    user: DbsealUser, source: MariaDBSandbox
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    line = user.restore(repo, bid, source).error(2)
    assert "--datadir" in line and "physical" in line


def test_a_non_empty_datadir_is_refused(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    datadir = tmp_path / "full"
    datadir.mkdir()
    (datadir / "precious").write_text("keep me")
    line = restore(user, repo, bid, datadir).error(27)
    assert "precious" in line
    assert sorted(os.listdir(datadir)) == ["precious"]


def test_the_datadir_of_a_running_server_is_refused(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    before = sorted(os.listdir(source.datadir))
    line = restore(user, repo, bid, source.datadir).error(58)
    assert "running server" in line
    assert sorted(os.listdir(source.datadir)) == before
    assert fetch(source, f"SELECT COUNT(*) FROM {DB}.log")[0][0] == 100


def test_a_wrong_key_is_its_own_error_and_writes_nothing(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    stranger = DbsealUser(tmp_path / "stranger")
    datadir = tmp_path / "wrong"
    res = stranger.run(
        "restore", "--repo", repo, bid, "--datadir", datadir, "-i", stranger.identity
    )
    res.error(5)
    assert not datadir.exists() and not list(tmp_path.glob(".wrong.dbseal-staging-*"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_restore_interrupted_mid_stream_leaves_nothing(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path, sig: signal.Signals
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    datadir = tmp_path / "cut"
    proc = user.spawn("restore", "--repo", repo, bid, "--datadir", datadir, "-i", user.identity)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".cut.dbseal-staging-*/full/*")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not datadir.exists()
    assert not list(tmp_path.glob(".cut.dbseal-staging-*"))


# -- verify --level restore ----------------------------------------------------------------


def verify(user: DbsealUser, repo: Path, bid: str) -> CliResult:
    return user.run(
        "verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity, "--json",
        timeout=300,
    )  # fmt: skip


def test_verify_restore_passes_on_a_good_physical_backup_and_records_the_time(
    user: DbsealUser, source: MariaDBSandbox
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    doc = verify(user, repo, bid).ok().json()[0]
    assert doc["result"] == "ok", doc
    assert doc["restore_s"] > 0 and doc["recorded"]
    tables = {(t["database"], t["table"]): t for t in doc["tables"]}
    assert tables[(DB, "orders")]["ok"] and tables[(DB, "orders")]["found_rows"] > 0
    assert (DB, "log") in tables
    records = list((repo / "verifications" / bid).glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["restore_s"] > 0


def test_verify_restore_fails_on_a_tampered_physical_backup(
    user: DbsealUser, source: MariaDBSandbox
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    data = repo / "data" / f"{bid}.dbseal"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    data.chmod(0o600)
    data.write_bytes(bytes(blob))
    res = verify(user, repo, bid)
    assert res.rc == 30, res.stderr
    assert res.json()[0]["result"] == "failed"


# -- servers with data-at-rest encryption --------------------------------------------------


@pytest.fixture
def encrypted(mariadb_binaries: tuple[str, str], tmp_path: Path) -> Iterator[MariaDBSandbox]:
    """A sandbox with file_key_management and encrypted InnoDB tables under keys 1 and 2."""
    (tmp_path / "keys").mkdir()
    keys = write_key_file(tmp_path / "keys" / "keyfile.txt", (1, 2))
    with encrypted_sandbox(keys, tls=True, binlog=True) as s:
        fill_secret(s)
        yield s


def fill_secret(server: MariaDBSandbox) -> None:
    run_sql(
        server,
        "CREATE DATABASE secret",
        "CREATE TABLE secret.a (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB",
        "INSERT INTO secret.a SELECT seq, REPEAT('s', 90) FROM secret.seq_1_to_2000",
        "CREATE TABLE secret.b (id INT PRIMARY KEY) ENGINE=InnoDB ENCRYPTION_KEY_ID=2",
        "INSERT INTO secret.b SELECT seq FROM secret.seq_1_to_300",
    )


def test_an_encrypted_chain_with_a_rotated_key_restores_where_the_key_file_never_was(
    user: DbsealUser, encrypted: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    physical(user, repo, encrypted)
    # the key of table a rotates to key 2 between the full and the incremental
    run_sql(
        encrypted,
        "ALTER TABLE secret.a ENCRYPTION_KEY_ID=2",
        "INSERT INTO secret.a SELECT seq, 'after' FROM secret.seq_3000_to_3500",
    )
    assert fetch(encrypted, "SELECT CURRENT_KEY_ID FROM information_schema.INNODB_TABLESPACES_ENCRYPTION "
                 "WHERE NAME LIKE 'secret/%' AND ENCRYPTION_SCHEME = 1") == [(2,), (2,)]  # fmt: skip
    bid = physical(user, repo, encrypted, "--incremental", "-i", user.identity)
    want = sums(encrypted, "secret")
    shown = user.show(repo, bid)["manifest"]
    assert (
        shown["key_material"]["included"]
        and shown["key_material"]["plugin"] == "file_key_management"
    )
    assert "file_key_management_filename" in shown["physical"]["encryption"]
    original = tmp_path / "keys" / "keyfile.txt"
    content = original.read_bytes()
    original.unlink()  # the restore machine never saw it
    datadir = tmp_path / "enc-restored"
    res = restore(user, repo, bid, datadir, "--json").ok().json()
    assert res["key_files"]["keyfile"] == str(original)
    assert original.read_bytes() == content and original.stat().st_mode & 0o777 == 0o600
    assert not (datadir / "dbseal-key-material").exists()
    server = started_on(datadir, res["my_cnf"])
    try:
        assert sums(server, "secret") == want
        assert not server.error_lines()
    finally:
        server.stop()


def test_without_key_material_the_restore_needs_the_key_file(
    user: DbsealUser, encrypted: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, encrypted, "--no-key-material")
    assert not user.show(repo, bid)["manifest"]["key_material"]["included"]
    original = tmp_path / "keys" / "keyfile.txt"
    kept = tmp_path / "kept.txt"
    kept.write_bytes(original.read_bytes())
    original.unlink()
    datadir = tmp_path / "needs-key"
    assert "--key-file" in restore(user, repo, bid, datadir).error(60)
    assert not datadir.exists()
    keydir = tmp_path / "newkeys"
    res = restore(user, repo, bid, datadir, "--key-file", kept, "--key-dir", keydir, "--json")
    doc = res.ok().json()
    assert f"file_key_management_filename={keydir / 'keyfile.txt'}" in doc["my_cnf"]
    server = started_on(datadir, doc["my_cnf"])
    try:
        assert fetch(server, "SELECT COUNT(*) FROM secret.b")[0][0] == 300
    finally:
        server.stop()


def test_verify_restore_of_an_encrypted_server(user: DbsealUser, encrypted: MariaDBSandbox) -> None:
    repo = user.init()
    bid = physical(user, repo, encrypted)
    doc = verify(user, repo, bid).ok().json()[0]
    assert doc["result"] == "ok", doc
    assert {("secret", "a"), ("secret", "b")} <= {
        (t["database"], t["table"]) for t in doc["tables"]
    }


def test_a_killed_restore_leaves_only_its_staging_which_the_next_restore_removes(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    datadir = tmp_path / "again"
    proc = user.spawn("restore", "--repo", repo, bid, "--datadir", datadir, "-i", user.identity)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".again.dbseal-staging-*/full/*")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.kill()  # SIGKILL: nothing can clean up
    proc.communicate(timeout=60)
    (left,) = tmp_path.glob(".again.dbseal-staging-*")
    assert (left / "DBSEAL-RESTORE-INCOMPLETE").is_file() and not datadir.exists()
    res = restore(user, repo, bid, datadir).ok()
    assert f"removed what an interrupted restore left: {left}" in res.stdout
    assert not left.exists() and (datadir / "ibdata1").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system needs root")
def test_a_datadir_that_is_a_mount_point_is_filled_in_place(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    want = sums(source)
    bid = physical(user, repo, source)
    datadir = tmp_path / "mnt"
    datadir.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(datadir)])
    if mounted.returncode != 0:
        pytest.skip("this machine does not let root mount a tmpfs")
    try:
        restore(user, repo, bid, datadir).ok()
        names = set(os.listdir(datadir))
        assert "ibdata1" in names and "DBSEAL-RESTORE-INCOMPLETE" not in names
        assert not [n for n in names if "dbseal-staging" in n]
        server = started_on(datadir)
        try:
            assert sums(server) == want
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", str(datadir)], check=True)


def test_a_key_file_encrypted_with_a_filekey_restores_with_both_files(
    user: DbsealUser, mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    plain = write_key_file(keys / "plain.txt", (1, 2))
    filekey = keys / "filekey"
    filekey.write_text("a-filekey-password")
    filekey.chmod(0o600)
    keyfile = keys / "keyfile.enc"
    subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-md", "sha1", "-pass", f"file:{filekey}",
         "-in", str(plain), "-out", str(keyfile)],
        check=True,
    )  # fmt: skip
    plain.unlink()
    repo = user.init()
    with encrypted_sandbox(keyfile, filekey, tls=True) as server:
        fill_secret(server)
        want = sums(server, "secret")
        bid = physical(user, repo, server)
    saved = {p: p.read_bytes() for p in (keyfile, filekey)}
    for p in saved:
        p.unlink()
    datadir = tmp_path / "fk"
    doc = restore(user, repo, bid, datadir, "--json").ok().json()
    assert doc["key_files"] == {"keyfile": str(keyfile), "filekey": str(filekey)}
    assert {p: p.read_bytes() for p in saved} == saved
    assert f"file_key_management_filekey=FILE:{filekey}" in doc["my_cnf"]
    server2 = started_on(datadir, doc["my_cnf"])
    try:
        assert sums(server2, "secret") == want
    finally:
        server2.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system needs root")
def test_extraction_that_runs_out_of_space_fails_and_removes_its_staging(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, source)
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)])
    if mounted.returncode != 0:
        pytest.skip("this machine does not let root mount a tmpfs")
    try:
        line = restore(user, repo, bid, small / "data").error(59)
        assert "mbstream" in line
        assert os.listdir(small) == []  # no datadir, no staging
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_corrupt_chain_member_is_named_and_the_datadir_never_appears(
    user: DbsealUser, source: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    full = physical(user, repo, source)
    inc = physical(user, repo, source, "--incremental", "-i", user.identity)
    data = repo / "data" / f"{full}.dbseal"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0x40
    data.chmod(0o600)
    data.write_bytes(bytes(blob))
    datadir = tmp_path / "corrupt"
    line = restore(user, repo, inc, datadir).error(6)
    assert f"backup {full}:" in line and "authentication" in line
    assert not datadir.exists() and not list(tmp_path.glob(".corrupt.dbseal-staging-*"))
    manifest = repo / "manifests" / f"{full}.json"
    doc = json.loads(manifest.read_text())
    doc["client_host"] = "elsewhere"
    manifest.chmod(0o600)
    manifest.write_text(json.dumps(doc))
    line = restore(user, repo, inc, datadir).error(6)
    assert f"backup {full} failed authentication" in line and not datadir.exists()


def test_a_chain_in_s3_restores_into_a_datadir(
    user: DbsealUser, source: MariaDBSandbox, s3: Any, tmp_path: Path
) -> None:
    url = s3.url(s3.bucket())
    user.run("init", url, "-r", user.recipient).ok()
    login = user.backup_args(url, source)  # type: ignore[arg-type]
    base = user.run(*login, "--method", "physical", "--json", timeout=300)
    assert base.ok().json()["status"] == "ok"
    run_sql(source, f"UPDATE {DB}.log SET v = v + 1")
    inc = user.run(
        *login, "--method", "physical", "--incremental",
        "-i", user.identity, "--json", timeout=300,
    ).ok().json()["id"]  # fmt: skip
    want = sums(source)
    datadir = tmp_path / "from-s3"
    doc = user.run(
        "restore", "--repo", url, inc, "--datadir", datadir, "-i", user.identity, "--json",
        timeout=300,
    ).ok().json()  # fmt: skip
    assert len(doc["chain"]) == 2
    server = started_on(datadir)
    try:
        assert sums(server) == want
    finally:
        server.stop()


def test_a_backup_whose_key_file_cannot_be_read_fails_before_any_data_moves(
    user: DbsealUser, encrypted: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    (tmp_path / "keys" / "keyfile.txt").unlink()  # the server keeps its keys in memory
    res = user.run(*user.backup_args(repo, encrypted), "--method", "physical", timeout=300)
    line = res.error(60)
    assert "keyfile.txt" in line and "cannot be read" in line
    (m,) = user.listing(repo)["backups"]
    assert m["status"] == "failed"
    assert not list((repo / "data").glob("*.dbseal"))  # no data kept


def test_a_different_file_where_the_key_file_goes_is_refused_and_nothing_is_written(
    user: DbsealUser, encrypted: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = physical(user, repo, encrypted)
    original = tmp_path / "keys" / "keyfile.txt"
    original.write_text("1;" + "00" * 32 + "\n")  # another server's keys, say
    datadir = tmp_path / "conflict"
    line = restore(user, repo, bid, datadir).error(61)
    assert str(original) in line
    assert not datadir.exists() and not list(tmp_path.glob(".conflict.dbseal-staging-*"))
    assert original.read_text() == "1;" + "00" * 32 + "\n"
    doc = restore(user, repo, bid, datadir, "--key-dir", tmp_path / "mine", "--json").ok().json()
    assert doc["key_files"]["keyfile"] == str(tmp_path / "mine" / "keyfile.txt")
