"""Physical backups with mariadb-backup (`dbseal backup --method physical`), backup side.

A real sandbox server with the binary log on; the stored stream is decrypted and given to
the real ``mbstream -x``, so "the backup is whole" is what mariadb-backup's own extractor
says, not what dbseal believes.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from physical_kit import checkpoints, extract
from receiverkit import Pki, Serve, pki

from cli.clikit import clean_env
from conftest import CliResult, DbsealUser, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.storage import TlsClientFiles

pytestmark = pytest.mark.mariadb
__all__ = ["pki"]

DB = "phys"


@pytest.fixture(scope="module")
def server(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """A sandbox with the binary log on, holding an InnoDB and an Aria table."""
    with MariaDBSandbox(tls=True, binlog=True) as s:
        run_sql(
            s,
            f"CREATE DATABASE {DB}",
            f"CREATE TABLE {DB}.orders (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB",
            f"INSERT INTO {DB}.orders SELECT seq, REPEAT('o', 150) FROM {DB}.seq_1_to_20000",
            f"CREATE TABLE {DB}.log (id INT PRIMARY KEY) ENGINE=Aria",
            f"INSERT INTO {DB}.log SELECT seq FROM {DB}.seq_1_to_100",
        )
        yield s


def physical(
    user: DbsealUser, repo: Path | str, server: MariaDBSandbox, *extra: object
) -> CliResult:
    return user.run(
        *user.backup_args(repo, server),  # type: ignore[arg-type]
        "--method",
        "physical",
        "--json",
        *extra,
        timeout=300,
    )


def _table_file(out: Path, table: str) -> Path:
    """A table's data file in a raw (unprepared) extract: ``T.ibd``, or ``T.new`` when
    mariadb-backup copied it again under its backup lock (a table whose recent bulk
    insert or rebuild was not redo-logged); prepare renames that to ``T.ibd``."""
    ibd, new = out / DB / f"{table}.ibd", out / DB / f"{table}.new"
    return new if new.exists() and not ibd.exists() else ibd


def backup_id(res: CliResult) -> str:
    doc = res.ok().json()
    assert doc["status"] == "ok", doc
    return str(doc["id"])


def manifest(user: DbsealUser, repo: Path | str, bid: str, *extra: object) -> dict[str, Any]:
    doc = user.run("show", "--repo", repo, bid, "-i", user.identity, "--json", *extra).ok().json()
    return dict(doc["manifest"] | {"chain_view": doc["chain"]})


def test_a_full_physical_backup_is_recorded_and_extracts(
    user: DbsealUser, server: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    bid = backup_id(physical(user, repo, server))
    m = manifest(user, repo, bid)
    assert (m["method"], m["type"], m["parent"], m["from_lsn"]) == ("physical", "full", None, 0)
    assert m["to_lsn"] > 0 and m["server_version"] == server.version
    assert m["tool_version"].split(".")[:2] == server.version.split(".")[:2]
    binlog = m["physical"]["binlog"]
    assert binlog["file"].startswith("binlog.") and binlog["position"] > 0, binlog
    assert m["physical"]["encryption"] == {}  # no key-management plugin on this server
    engines = {(t["database"], t["table"]): t["engine"] for t in m["table_engines"]}
    assert engines[(DB, "orders")] == "InnoDB" and engines[(DB, "log")] == "Aria"
    assert m["chain_view"]["chain"] == [bid] and m["chain_view"]["restorable"]
    listing = user.listing(repo)
    assert listing["latest"] == bid
    (row,) = listing["backups"]
    assert (row["method"], row["type"]) == ("physical", "full")
    # what mariadb-backup's own extractor makes of the stored stream
    out = extract(str(repo), bid, user.identity, tmp_path / "x")
    assert _table_file(out, "orders").stat().st_size > 2 << 20
    assert (out / "backup-my.cnf").exists()
    assert int(checkpoints(out)["to_lsn"]) == m["to_lsn"]
    text = user.run("list", "--repo", repo).ok().stdout
    assert "physical full" in text


def test_an_incremental_after_writes_records_its_chain(
    user: DbsealUser, server: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    full = backup_id(physical(user, repo, server))
    run_sql(server, f"UPDATE {DB}.orders SET note = 'changed' WHERE id <= 200")
    inc1 = backup_id(physical(user, repo, server, "--incremental", "-i", user.identity))
    run_sql(server, f"INSERT INTO {DB}.orders VALUES (900001, 'new')")
    inc2 = backup_id(physical(user, repo, server, "--incremental", "-i", user.identity))
    m_full, m1, m2 = (manifest(user, repo, b) for b in (full, inc1, inc2))
    assert (m1["type"], m1["parent"], m1["from_lsn"]) == ("incremental", full, m_full["to_lsn"])
    assert (m2["parent"], m2["from_lsn"]) == (inc1, m1["to_lsn"])
    assert m2["to_lsn"] >= m1["to_lsn"] >= m_full["to_lsn"]  # checkpoints: may not move
    assert m2["physical"]["last_lsn"] > m1["physical"]["last_lsn"] > m_full["physical"]["last_lsn"]
    assert m2["chain_view"]["chain"] == [full, inc1, inc2] and m2["chain_view"]["restorable"]
    # an incremental holds the changed pages only
    sizes = {r["id"]: r["raw_bytes"] for r in user.listing(repo)["backups"]}
    assert sizes[inc1] < sizes[full] // 2, sizes
    out = extract(str(repo), inc1, user.identity, tmp_path / "inc1")
    cp = checkpoints(out)
    assert cp["backup_type"] == "incremental" and int(cp["from_lsn"]) == m_full["to_lsn"]
    assert (out / DB / "orders.ibd.delta").exists()
    # --base names the base; the chain is shown in `list`
    text = user.run("list", "--repo", repo).ok().stdout
    assert f"physical incremental on {inc1} (chain of 3)" in text
    # the parent gone: the incremental is reported as not restorable, never `latest`
    (repo / "manifests" / f"{inc1}.json").unlink()
    listing = user.listing(repo)
    row = next(r for r in listing["backups"] if r["id"] == inc2)
    assert not row["restorable"] and inc1 in row["not_restorable"], row
    assert listing["latest"] == full
    assert "NOT RESTORABLE" in user.run("list", "--repo", repo).ok().stdout
    # and no incremental is taken on a broken chain: the base is the newest whole one
    inc3 = backup_id(physical(user, repo, server, "--incremental", "-i", user.identity))
    assert manifest(user, repo, inc3)["parent"] == full


def test_an_incremental_needs_a_physical_base(user: DbsealUser, server: MariaDBSandbox) -> None:
    repo = user.init()
    res = physical(user, repo, server, "--incremental", "-i", user.identity)
    assert res.rc == 15 and "no good physical backup" in res.stderr, res


def _fake_tool(directory: Path, version: str) -> dict[str, str]:
    directory.mkdir()
    tool = directory / "mariadb-backup"
    tool.write_text(
        f"#!/bin/sh\necho 'mariadb-backup based on MariaDB server {version} Linux' >&2\n"
    )
    tool.chmod(0o755)
    return clean_env(PATH=f"{directory}:{os.environ.get('PATH', '')}")


def test_a_backup_tool_of_another_version_is_refused(
    user: DbsealUser, server: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    env = _fake_tool(tmp_path / "bin", "10.6.99-MariaDB")
    argv = user.argv(*user.backup_args(repo, server), "--method", "physical")
    proc = subprocess.run(
        argv, capture_output=True, env=env, cwd=user.home, timeout=120, check=False
    )
    line = proc.stderr.decode()
    major_minor = ".".join(server.version.split(".")[:2])
    assert proc.returncode == 52, line
    assert "version 10.6.99" in line and f"server is {major_minor}" in line, line
    listing = user.listing(repo)
    assert [b["status"] for b in listing["backups"]] == ["failed"] and listing["latest"] is None


def test_an_account_without_binlog_monitor_is_refused(
    user: DbsealUser, server: MariaDBSandbox
) -> None:
    repo = user.init()
    pw = user.secret_file("weak.pw", "weak-pass-1")
    run_sql(
        server,
        "CREATE USER weak@'127.0.0.1' IDENTIFIED BY 'weak-pass-1'",
        "GRANT RELOAD, PROCESS, LOCK TABLES, SELECT ON *.* TO weak@'127.0.0.1'",
    )
    try:
        args = user.backup_args(repo, server, user="weak", password_file=pw)
        res = user.run(*args, "--method", "physical")
    finally:
        run_sql(server, "DROP USER weak@'127.0.0.1'")
    line = res.error(53)
    assert "lacks BINLOG MONITOR" in line and "RELOAD" not in line.split("hint")[0], line


def test_a_remote_host_is_refused_with_what_to_do(user: DbsealUser, tmp_path: Path) -> None:
    repo = user.init()
    pw = user.secret_file("x.pw", "x")
    res = user.run(
        "backup", "--repo", repo, "--source", "mysql://root@192.0.2.10:3306",
        "--password-file", pw, "--method", "physical", timeout=60,
    )  # fmt: skip
    line = res.error(48)
    assert "192.0.2.10:3306 is a remote host" in line and "run dbseal on the database host" in line


class KillAfterFirstBlock:
    """The real source; its run SIGKILLs mariadb-backup once the stream has begun."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.killed = False

    def describe(self) -> dict[str, Any]:
        return dict(self.source.describe())

    def start(self) -> Any:
        run = self.source.start()
        original = run.read

        def read(n: int = -1) -> bytes:
            data = original(n)
            if data and not self.killed:
                self.killed = True
                os.kill(run.pid, signal.SIGKILL)
            return data

        run.read = read
        return run


def test_mariadb_backup_killed_mid_stream_is_a_failed_backup(
    user: DbsealUser, server: MariaDBSandbox
) -> None:
    from dbseal.catalog.repository import Repository
    from dbseal.crypto.x25519 import X25519Recipient
    from dbseal.engines.mariadb.mysql_url import parse_mysql_url
    from dbseal.engines.mariadb.physical.source import MariabackupSource
    from dbseal.errors import DumpFailed
    from dbseal.ops.backup import run_backup
    from dbseal.storage import open_backend

    repo_path = user.init()
    good = backup_id(physical(user, repo_path, server))
    repo = Repository.open(open_backend(str(repo_path)))
    target = parse_mysql_url(
        f"mysql://root@127.0.0.1:{server.port}",
        ssl_mode="verify-identity",
        ssl_ca=str(server.ca_cert),
    )
    from dbseal.crypto.secret import Secret

    source = KillAfterFirstBlock(MariabackupSource(target, Secret(server.root_password.encode())))
    with pytest.raises(DumpFailed) as info:
        run_backup(repo, source, [X25519Recipient.parse(user.recipient)])
    assert source.killed and "killed by signal SIGKILL" in info.value.message
    listing = user.listing(repo_path)
    failed = [b for b in listing["backups"] if b["status"] == "failed"]
    assert len(failed) == 1 and listing["latest"] == good
    m = user.show(repo_path, failed[0]["id"])["manifest"]
    assert m["method"] == "physical" and not m["data_kept"]
    assert not (repo_path / "data" / f"{failed[0]['id']}.dbseal").exists()
    assert any("mbstream" in r for r in m["reasons"]), m["reasons"]  # cut off, and it shows


def test_through_the_mutual_tls_receiver(
    pki: Pki, user: DbsealUser, server: MariaDBSandbox, tmp_path: Path
) -> None:
    tls = pki.args("alice")
    with Serve(pki, tmp_path / "received", "--append-only", "--allow", "alice") as serve:
        url = serve.url()
        user.run("init", url, "-r", user.recipient, *tls).ok()
        bid = backup_id(physical(user, url, server, *tls))
        m = manifest(user, url, bid, *tls)
        assert m["method"] == "physical" and m["to_lsn"] > 0
        files = pki.files("alice")
        out = extract_remote(url, files, bid, user.identity, tmp_path / "x")
        assert _table_file(out, "orders").exists()


def extract_remote(url: str, files: TlsClientFiles, bid: str, identity: Path, into: Path) -> Path:
    from physical_kit import MbstreamSink, identities

    from dbseal.catalog.repository import Repository
    from dbseal.ops.restore import apply_backup
    from dbseal.storage import open_backend

    repo = Repository.open(open_backend(url, files))
    sink = MbstreamSink(into)
    apply_backup(repo, bid, identities(identity), sink)
    assert sink.proc.returncode == 0
    return into


def test_into_s3(user: DbsealUser, server: MariaDBSandbox, s3: Any, tmp_path: Path) -> None:
    url = s3.url(s3.bucket())
    user.run("init", url, "-r", user.recipient).ok()
    bid = backup_id(physical(user, url, server))
    out = extract(url, bid, user.identity, tmp_path / "x")
    assert _table_file(out, "orders").exists()
    assert fetch(server, f"SELECT COUNT(*) FROM {DB}.log") == [(100,)]


def test_method_physical_from_dbseal_toml(user: DbsealUser, server: MariaDBSandbox) -> None:
    repo = user.init()
    pw = user.password_file(server)
    config = user.home / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n\n[sources.db1]\n'
        f'url = "mysql://root@127.0.0.1:{server.port}"\n'
        f'password_file = "{pw}"\nssl_mode = "verify-identity"\nssl_ca = "{server.ca_cert}"\n'
        'method = "physical"\n'
    )
    config.chmod(0o600)
    bid = backup_id(user.run("backup", "db1", "--json", timeout=300))
    m = manifest(user, repo, bid)
    assert (m["method"], m["type"], m["source_name"]) == ("physical", "full", "db1")
    inc = backup_id(user.run("backup", "db1", "--incremental", "-i", user.identity, "--json"))
    assert manifest(user, repo, inc)["parent"] == bid


def test_an_unusable_scratch_dir_is_refused(
    user: DbsealUser, server: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    res = user.run(
        *user.backup_args(repo, server), "--method", "physical", "--scratch-dir",
        tmp_path / "no" / "such" / "dir",
    )  # fmt: skip
    line = res.error(55)
    assert "cannot create a scratch directory" in line and "--scratch-dir" in line


def test_options_of_the_logical_method_are_refused(
    user: DbsealUser, server: MariaDBSandbox
) -> None:
    repo = user.init()
    res = user.run(
        *user.backup_args(repo, server), "--method", "physical", "--exclude-database", "x"
    )
    assert "--exclude-database cannot be used with --method physical" in res.error(2)
    res = user.run(*user.backup_args(repo, server), "--incremental")
    assert "--incremental and --base are for physical backups" in res.error(2)
