"""PostgreSQL backups and restores that must fail, and say why: a wrong password, a killed
pg_dump, a client older than the server, TLS that does not verify, a remote server without
verify-full, a non-empty restore target (and --replace), plus verify --level restore."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgkit import AWKWARD_SCHEMA, contents
from test_pg_backup import backup_id, pg_backup, pg_restore, pw_file, show, tag

from cli.clikit import clean_env
from conftest import CliResult, DbsealUser
from dbseal.engines.postgresql.sandbox import PostgresSandbox
from dbseal.engines.postgresql.tools import bindir


@pytest.fixture(scope="module")
def big_pg_db(postgres: PostgresSandbox) -> Iterator[str]:
    db = f"big_{tag()}"
    postgres.sql(f"CREATE DATABASE {db}")
    postgres.sql(
        "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 10) AS pad FROM generate_series(1, 250000) i",
        db,
    )
    yield db
    postgres.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@pytest.fixture
def awkward(postgres: PostgresSandbox) -> Iterator[str]:
    db = f"awk_{tag()}"
    postgres.sql(f"CREATE DATABASE {db}")
    postgres.sql(AWKWARD_SCHEMA, db)
    yield db
    postgres.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def children(pid: int) -> dict[int, list[str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            out[int(entry)] = argv
    return out


def test_wrong_password_fails_before_dumping_and_is_recorded(
    user: DbsealUser, postgres: PostgresSandbox, big_pg_db: str
) -> None:
    repo = user.init()
    wrong = user.secret_file("wrong.pw", "not-the-password")
    res = user.run(
        "backup",
        "--repo",
        repo,
        "--source",
        postgres.url(big_pg_db, tcp=True) + "?sslmode=require",
        "--password-file",
        wrong,
    )
    line = res.error(21)
    assert "refused the login of role dbseal" in line and "not-the-password" not in line
    listing = json.loads(user.run("list", "--repo", repo, "--json").ok().stdout)
    assert [b["status"] for b in listing["backups"]] == ["failed"]


def test_killed_pg_dump_fails_the_backup(
    user: DbsealUser, postgres: PostgresSandbox, big_pg_db: str
) -> None:
    repo = user.init()
    args = [
        "backup",
        "--repo",
        repo,
        "--source",
        postgres.url(big_pg_db, tcp=True) + "?sslmode=require",
        "--password-file",
        pw_file(user, postgres),
    ]
    proc = user.spawn(*args)
    try:
        deadline, dump = time.monotonic() + 60, None
        while dump is None and time.monotonic() < deadline and proc.poll() is None:
            found = [
                p
                for p, argv in children(proc.pid).items()
                if any(a.startswith("--snapshot=") for a in argv)
            ]
            dump = found[0] if found else None
            time.sleep(0.005)
        assert dump is not None, "pg_dump was not seen running"
        os.kill(dump, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (line,) = err.decode().splitlines()
    assert proc.returncode == 25, line
    assert "killed by signal SIGKILL" in line
    listing = json.loads(user.run("list", "--repo", repo, "--json").ok().stdout)
    assert [b["status"] for b in listing["backups"]] == ["failed"]


def test_client_older_than_the_server_is_refused_before_starting(
    user: DbsealUser, postgres: PostgresSandbox, big_pg_db: str, tmp_path: Path
) -> None:
    """pg_dump refuses a newer server; dbseal says so before anything runs (exit 66)."""
    fake = tmp_path / "pgbin"
    fake.mkdir()
    for prog in bindir().iterdir():
        if prog.name != "pg_dump":
            (fake / prog.name).symlink_to(prog)
    script = fake / "pg_dump"
    script.write_text(
        '#!/bin/sh\n[ "$1" = --version ] && echo "pg_dump (PostgreSQL) 14.9" && exit 0\nexit 1\n'
    )
    script.chmod(0o755)
    repo = user.init()
    argv = user.argv(
        "backup",
        "--repo",
        repo,
        "--source",
        postgres.url(big_pg_db, tcp=True) + "?sslmode=require",
        "--password-file",
        pw_file(user, postgres),
    )
    env = {**clean_env(), "DBSEAL_PG_BINDIR": str(fake)}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    line = CliResult(("backup",), proc.returncode, proc.stdout, proc.stderr).error(66)
    assert f"pg_dump 14.9 cannot dump PostgreSQL {postgres.version.split()[0]}" in line


@pytest.fixture(scope="module")
def misnamed(pg_binaries: str) -> Iterator[PostgresSandbox]:
    with PostgresSandbox(tls=True, server_names=("db.invalid",)) as pg:
        yield pg


def test_verify_full_refuses_a_certificate_for_another_name(
    user: DbsealUser, misnamed: PostgresSandbox
) -> None:
    repo = user.init()
    url = (
        misnamed.url("postgres", tcp=True)
        + f"?sslmode=verify-full&sslrootcert={misnamed.tls_files.ca_cert}"
    )
    line = user.run(
        "backup", "--repo", repo, "--source", url, "--password-file", pw_file(user, misnamed)
    ).error(22)
    assert "db.invalid" in line and "TLS" in line
    # verify-ca checks the chain only: the same server is then accepted
    url_ca = url.replace("verify-full", "verify-ca")
    user.run(
        "backup", "--repo", repo, "--source", url_ca, "--password-file", pw_file(user, misnamed)
    ).ok()


def test_a_remote_server_needs_verify_full(user: DbsealUser) -> None:
    repo = user.init()
    line = user.run(
        "backup",
        "--repo",
        repo,
        "--source",
        "postgresql://backup@db.example.com/shop?sslmode=require",
        "--password-file",
        user.secret_file("x.pw", "x"),
    ).error(2)
    assert "sslmode=require" in line and "--allow-insecure-remote" in line


def test_non_empty_target_is_refused_then_replaced(
    user: DbsealUser, postgres: PostgresSandbox, postgres_restore: PostgresSandbox, awkward: str
) -> None:
    repo = user.init()
    bid = backup_id(pg_backup(user, repo, postgres, awkward).ok().stdout)
    new = f"target_{tag()}"
    postgres_restore.sql(f"CREATE DATABASE {new}")
    postgres_restore.sql("CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)", new)
    line = pg_restore(user, repo, bid, postgres_restore, "--rename-db", f"{awkward}={new}").error(
        27
    )
    assert new in line and "--replace" in line
    assert postgres_restore.sql("SELECT x FROM precious", new) == [["42"]]
    res = pg_restore(
        user, repo, bid, postgres_restore, "--rename-db", f"{awkward}={new}", "--replace"
    ).ok()
    assert f"replaced (old contents dropped): {new}" in res.stdout
    assert contents(postgres_restore.sql, new) == contents(postgres.sql, awkward)
    assert postgres_restore.sql(
        "SELECT count(*) FROM pg_tables WHERE tablename = 'precious'", new
    ) == [["0"]]


def test_verify_restore_compares_counts_in_a_throwaway_server(
    user: DbsealUser, postgres: PostgresSandbox, awkward: str
) -> None:
    repo = user.init()
    bid = backup_id(pg_backup(user, repo, postgres, awkward, extra=("--pg-jobs", 2)).ok().stdout)
    before = {p for p in Path("/dev/shm").iterdir() if p.name.startswith("dbseal-")}
    out = user.run(
        "verify", "--repo", repo, bid, "--level", "restore", "-i", user.identity, "--json"
    ).ok()
    (v,) = json.loads(out.stdout)
    assert v["result"] == "ok" and v["restore_s"] > 0, v
    rows = {t["table"]: (t["expected_rows"], t["found_rows"]) for t in v["tables"]}
    assert (
        rows["public.kinds"] == (4, 4)
        and rows["public.events_2024"][0] == rows["public.events_2024"][1]
    )
    after = {p for p in Path("/dev/shm").iterdir() if p.name.startswith("dbseal-")}
    assert after <= before  # no scratch or passfile left
    m = show(user, repo, bid)
    assert m["status"] == "ok"


def test_a_restore_cut_midway_leaves_the_target_as_it_was(
    user: DbsealUser, postgres: PostgresSandbox, postgres_restore: PostgresSandbox, big_pg_db: str
) -> None:
    repo = user.init()
    bid = backup_id(pg_backup(user, repo, postgres, big_pg_db).ok().stdout)
    new = f"kept_{tag()}"
    postgres_restore.sql(f"CREATE DATABASE {new}")
    postgres_restore.sql("CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)", new)
    proc = user.spawn(
        "restore",
        "--repo",
        repo,
        bid,
        "--target",
        postgres_restore.url(tcp=True),
        "--target-password-file",
        pw_file(user, postgres_restore),
        "-i",
        user.identity,
        "--rename-db",
        f"{big_pg_db}={new}",
        "--replace",
        "--jobs",
        "1",
    )
    try:
        deadline, victim = time.monotonic() + 60, None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            found = [
                p
                for p, argv in children(proc.pid).items()
                if argv[0].endswith("pg_restore") and "--exit-on-error" in argv
            ]
            victim = found[0] if found else None
            time.sleep(0.005)
        assert victim is not None, "pg_restore was not seen running"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (line,) = err.decode().splitlines()
    assert proc.returncode == 26, line
    assert "left as it was" in line
    assert postgres_restore.sql("SELECT x FROM precious", new) == [["42"]]
    names = [str(r[0]) for r in postgres_restore.sql("SELECT datname FROM pg_database")]
    assert not [n for n in names if n.startswith("dbseal_stage_")], names


def test_a_postgresql_backup_is_not_restored_into_mariadb(
    user: DbsealUser, postgres: PostgresSandbox, awkward: str
) -> None:
    repo = user.init()
    bid = backup_id(pg_backup(user, repo, postgres, awkward).ok().stdout)
    line = user.run(
        "restore",
        "--repo",
        repo,
        bid,
        "--target",
        "mysql://root@127.0.0.1:1",
        "--target-password-file",
        pw_file(user, postgres),
        "-i",
        user.identity,
    ).error(2)
    assert "is a PostgreSQL backup" in line and "postgresql://" in line


def test_pg_options_are_refused_for_a_mariadb_source(user: DbsealUser) -> None:
    repo = user.init()
    line = user.run(
        "backup", "--repo", repo, "--source", "mysql://root@127.0.0.1:1/shop",
        "--password-file", user.secret_file("x.pw", "x"), "--pg-jobs", "2",
    ).error(2)  # fmt: skip
    assert "--pg-jobs is for PostgreSQL sources" in line
