"""Point-in-time recovery end to end: real servers with log_bin (ROW, GTID), `dbseal` as a user runs it."""

from __future__ import annotations

import datetime
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, DbsealUser, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb

BINLOG_ARGS = ("--log-bin=mysql-bin", "--binlog-format=ROW", "--server-id=7")


@pytest.fixture
def source(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    with MariaDBSandbox(extra_args=BINLOG_ARGS) as db:
        yield db


def archive(
    user: DbsealUser, repo: Path | str, server: MariaDBSandbox, *extra: object
) -> CliResult:
    return user.run(
        "binlog", "archive", "--repo", repo,
        "--source", f"mysql://root@127.0.0.1:{server.port}",
        "--password-file", user.password_file(server),
        "--ssl-mode", "verify-identity", "--ssl-ca", server.ca_cert,
        *extra,
    )  # fmt: skip


def marker(server: MariaDBSandbox, n: int) -> datetime.datetime:
    """Insert marker row ``n`` alone in its second; returns the second after it."""
    run_sql(server, ("INSERT INTO shop.marks VALUES (%s, NOW())", (n,)))
    stamp = fetch(server, "SELECT UTC_TIMESTAMP()")[0][0]
    time.sleep(1.2)
    assert isinstance(stamp, datetime.datetime)
    return stamp + datetime.timedelta(seconds=1)


def setup_shop(server: MariaDBSandbox) -> None:
    run_sql(
        server,
        "CREATE DATABASE shop",
        "CREATE TABLE shop.marks (n INT PRIMARY KEY, at DATETIME) ENGINE=InnoDB",
        "INSERT INTO shop.marks VALUES (0, NOW())",
    )


def marks(server: MariaDBSandbox) -> list[int]:
    return [int(r[0]) for r in fetch(server, "SELECT n FROM shop.marks ORDER BY n")]


def test_recovery_to_a_time_between_two_markers(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    repo = user.init()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop")  # a session-wide server
    setup_shop(source)
    archive(user, repo, source, "--once").ok()
    bid = user.good_backup(repo, source, "shop")
    manifest = user.show(repo, bid)["manifest"]
    assert manifest["binlog"]["file"] == "mysql-bin.000001" and manifest["binlog"]["gtid"]
    after1 = marker(source, 1)
    after2 = marker(source, 2)
    run_sql(source, "FLUSH BINARY LOGS")
    marker(source, 3)
    archive(user, repo, source, "--once").ok()

    until = after2.strftime("%Y-%m-%d %H:%M:%S")
    dry = user.run(*_restore(user, repo, mariadb_restore), "--until", until, "--dry-run", "--json")
    plan = dry.ok().json()
    assert plan["base"] == bid and plan["transactions"] == 2
    assert plan["stop"] is not None and plan["last_transaction"]["file"] == "mysql-bin.000001"
    assert "shop" not in [r[0] for r in fetch(mariadb_restore, "SHOW DATABASES")]

    # exclusive: a time in marker 1's second + 1 holds markers 0 and 1 only
    user.run(
        *_restore(user, repo, mariadb_restore), "--until", after1.strftime("%Y-%m-%d %H:%M:%S")
    ).ok()
    assert marks(mariadb_restore) == [0, 1]
    res = user.run(*_restore(user, repo, mariadb_restore), "--until", until, "--replace", "--json")
    assert res.ok().json()["pitr"]["transactions"] == 2
    assert marks(mariadb_restore) == [0, 1, 2]
    # an offset is honoured: the same instant written in +02:00
    local = (after2 + datetime.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S") + "+02:00"
    user.run(*_restore(user, repo, mariadb_restore), "--until", local, "--replace").ok()
    assert marks(mariadb_restore) == [0, 1, 2]

    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    line = user.run(*_restore(user, repo, mariadb_restore), "--until", future, "--replace").error(
        63
    )
    assert "beyond what is archived" in line
    assert marks(mariadb_restore) == [0, 1, 2]  # nothing was applied

    verified = user.run(
        "verify", "--repo", repo, "--pitr", "--until", until, "-i", user.identity, "--json"
    )
    doc = verified.ok().json()
    assert doc["rows"] == {"shop.marks": 3} and doc["base"] == bid and doc["transactions"] == 2


def _restore(user: DbsealUser, repo: Path | str, server: MariaDBSandbox) -> list[object]:
    return [
        "restore", "--repo", repo, "auto",
        "--target", f"mysql://root@127.0.0.1:{server.port}",
        "--target-password-file", user.password_file(server),
        "--target-ssl-ca", server.ca_cert, "-i", user.identity,
    ]  # fmt: skip


def _contiguous(user: DbsealUser, repo: Path) -> list[tuple[str, int, int]]:
    import json

    docs = [json.loads(p.read_text()) for p in sorted((repo / "binlogs").rglob("*.json"))]
    segs = sorted(
        (
            (d["file_created"], d["file"], d["start"], d["end"], d["final"])
            for d in docs
            if "start" in d
        ),
    )
    out = []
    for i, (_, f, start, end, _final) in enumerate(segs):
        if i and segs[i - 1][1] == f:
            assert start == segs[i - 1][3], f"segment {f}:{start} does not follow {segs[i - 1]}"
        else:
            assert start == 0, f"{f} starts at {start}"
        out.append((f, start, end))
    return out


def test_archiver_killed_and_restarted_loses_and_repeats_nothing(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    repo = user.init()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop")  # a session-wide server
    setup_shop(source)
    user.good_backup(repo, source, "shop")
    proc = user.spawn(*_archive_args(user, repo, source), "--follow", "--flush-interval", "1s")
    try:
        for n in range(1, 6):
            run_sql(source, ("INSERT INTO shop.marks VALUES (%s, NOW())", (n,)))
            time.sleep(0.4)
        time.sleep(2.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = _contiguous(user, repo)
    assert partial, "the follower sealed nothing within its flush interval"
    for n in range(6, 9):
        run_sql(source, ("INSERT INTO shop.marks VALUES (%s, NOW())", (n,)))
    run_sql(source, "FLUSH BINARY LOGS", "INSERT INTO shop.marks VALUES (9, NOW())")
    archive(user, repo, source, "--once").ok()
    segs = _contiguous(user, repo)
    assert {f for f, _, _ in segs} == {"mysql-bin.000001", "mysql-bin.000002"}
    status = user.run("binlog", "status", "--repo", repo, "--json").ok().json()
    (st,) = status["sources"].values()
    assert st["gaps"] == [] and st["archived_to"]["file"] == "mysql-bin.000002"
    end = fetch(source, "SELECT @@gtid_binlog_pos")[0][0]
    user.run(*_restore(user, repo, mariadb_restore), "--until-gtid", end, "--replace").ok()
    assert marks(mariadb_restore) == list(range(10))  # every row once: no gap, no duplicate


def _archive_args(user: DbsealUser, repo: Path, server: MariaDBSandbox) -> list[object]:
    return [
        "binlog", "archive", "--repo", repo,
        "--source", f"mysql://root@127.0.0.1:{server.port}",
        "--password-file", user.password_file(server),
        "--ssl-mode", "verify-identity", "--ssl-ca", server.ca_cert,
    ]  # fmt: skip


def _check_binlog(report: dict[str, Any], status: str) -> str:
    """The binlog check of the (one) source in a `dbseal check --json` report; its reason."""
    (src,) = report["sources"]
    (binlog,) = [c for c in src["checks"] if c["check"] == "binlog"]
    assert binlog["status"] == status and binlog["configured"], binlog
    return str(binlog["reason"])


def test_logs_purged_before_archiving_are_a_gap(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    repo = user.init()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop")  # a session-wide server
    setup_shop(source)
    base = user.good_backup(repo, source, "shop")
    window = user.show(repo, base)["pitr"]
    assert not window["usable"] and "no binlogs" in window["reason"]  # nothing archived yet
    archive(user, repo, source, "--once").ok()
    window = user.show(repo, base)["pitr"]
    assert window["usable"] and window["until"] and "newest archived" in window["reason"]
    run_sql(source, "FLUSH BINARY LOGS", "INSERT INTO shop.marks VALUES (1, NOW())")
    run_sql(source, "FLUSH BINARY LOGS", "INSERT INTO shop.marks VALUES (2, NOW())")
    run_sql(source, "FLUSH BINARY LOGS")
    current = fetch(source, "SHOW MASTER STATUS")[0][0]  # the server's numbering, whatever it is
    deadline = time.monotonic() + 30
    while True:  # a log whose binlog checkpoint is still pending is skipped: try again
        run_sql(source, f"PURGE BINARY LOGS TO '{current}'")
        if fetch(source, "SHOW BINARY LOGS")[0][0] == current or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    run_sql(source, "INSERT INTO shop.marks VALUES (3, NOW())")
    archived = user.run("check", "--repo", repo, "--no-integrity", "--json").json()
    line = archive(user, repo, source, "--once").error(62)
    assert "purged before it was archived" in line and "mysql-bin.00000" in line
    # `dbseal check` reads the segment records: OK with a lag before, CRITICAL after the gap
    _check_binlog(archived, "OK")
    gapped = user.run("check", "--repo", repo, "--no-integrity", "--json").json()
    reason = _check_binlog(gapped, "CRITICAL")
    assert "gap" in reason
    window = user.show(repo, base)["pitr"]  # the base's window now ends at the gap
    assert window["usable"] and "stops at a gap" in window["reason"]
    text = user.run("show", "--repo", repo, base).ok().stdout
    assert "pitr         recoverable to any time up to" in text
    prom = Path(repo).parent / "dbseal.prom"
    user.run("check", "--repo", repo, "--no-integrity", "--prometheus", prom)
    assert "dbseal_binlog_gaps{" in prom.read_text() and "} 1\n" in prom.read_text()
    status = user.run("binlog", "status", "--repo", repo, "--json").ok().json()
    (st,) = status["sources"].values()
    assert len(st["gaps"]) == 1 and "purged" in st["gaps"][0]
    end = fetch(source, "SELECT @@gtid_binlog_pos")[0][0]
    line = user.run(*_restore(user, repo, mariadb_restore), "--until-gtid", end).error(62)
    assert "gap" in line
    assert "shop" not in [r[0] for r in fetch(mariadb_restore, "SHOW DATABASES")]


def test_server_restarted_and_crashed_while_the_archiver_follows(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    repo = user.init()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop")
    setup_shop(source)
    user.good_backup(repo, source, "shop")
    proc = user.spawn(*_archive_args(user, repo, source), "--follow", "--flush-interval", "1s")
    try:
        run_sql(source, "INSERT INTO shop.marks VALUES (1, NOW())")
        time.sleep(1.5)
        source.restart()  # clean: the file ends with a stop event
        run_sql(source, "INSERT INTO shop.marks VALUES (2, NOW())")
        time.sleep(1.5)
        source.restart(crash=True)  # kill -9: the file just ends
        run_sql(source, "INSERT INTO shop.marks VALUES (3, NOW())")
        deadline = time.monotonic() + 40
        end = fetch(source, "SELECT @@gtid_binlog_pos")[0][0]
        while time.monotonic() < deadline:  # the follower reconnects and archives it
            status = user.run("binlog", "status", "--repo", repo, "--json").ok().json()
            (st,) = status["sources"].values()
            if st["archived_to"] and st["archived_to"]["gtid"] == end:
                break
            time.sleep(1)
        else:
            pytest.fail(f"the follower did not archive up to {end} after the restarts: {st}")
        assert proc.poll() is None, "the follower exited instead of reconnecting"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(20)
    assert rc == 0, proc.stderr.read() if proc.stderr else rc  # a service's clean stop
    assert st["gaps"] == []
    files = {f for f, _, _ in _contiguous(user, repo)}
    assert {"mysql-bin.000001", "mysql-bin.000002", "mysql-bin.000003"} <= files
    user.run(*_restore(user, repo, mariadb_restore), "--until-gtid", end).ok()
    assert marks(mariadb_restore) == [0, 1, 2, 3]


def test_position_and_gtid_targets_ddl_and_a_tampered_segment(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    import json

    repo = user.init()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop")
    setup_shop(source)
    bid = user.good_backup(repo, source, "shop")
    run_sql(source, "INSERT INTO shop.marks VALUES (1, NOW())")
    g1 = fetch(source, "SELECT @@gtid_binlog_pos")[0][0]
    file, pos = fetch(source, "SHOW MASTER STATUS")[0][:2]
    run_sql(source, "INSERT INTO shop.marks VALUES (2, NOW())")
    run_sql(source, "ALTER TABLE shop.marks ADD COLUMN note TEXT")
    run_sql(source, "INSERT INTO shop.marks VALUES (3, NOW(), 'x')")
    archive(user, repo, source, "--once").ok()
    restore = [*_restore(user, repo, mariadb_restore)]
    restore[3] = bid

    # GTID: inclusive; position: the transactions that end at or before it
    user.run(*restore, "--until-gtid", g1).ok()
    assert marks(mariadb_restore) == [0, 1]
    user.run(*restore, "--until-position", f"{file}:{pos}", "--replace").ok()
    assert marks(mariadb_restore) == [0, 1]
    # the ALTER in the range cannot be renamed safely into the staging database: refused
    line = user.run(*restore, "--until-position", f"{file}:999999999", "--replace").error(63)
    assert "DDL" in line and "ALTER TABLE" in line
    assert marks(mariadb_restore) == [0, 1]

    # a segment record changed by someone without the key: refused before anything is applied
    record = next(p for p in (repo / "binlogs").rglob("*.json") if "gap-" not in p.name)
    doc = json.loads(record.read_text())
    doc["last_gtid"] = "0-1-999"
    record.write_text(json.dumps(doc))
    run_sql(mariadb_restore, "DROP DATABASE shop")
    res = user.run(*restore, "--until-gtid", g1)
    assert res.rc == 6 and "failed authentication" in res.stderr, res.stderr
    assert "shop" not in [r[0] for r in fetch(mariadb_restore, "SHOW DATABASES")]


def test_reset_master_is_a_gap(user: DbsealUser, source: MariaDBSandbox) -> None:
    repo = user.init()
    setup_shop(source)
    archive(user, repo, source, "--once").ok()
    time.sleep(1.1)  # the recreated file gets another creation time
    run_sql(source, "RESET MASTER", "INSERT INTO shop.marks VALUES (1, NOW())")
    line = archive(user, repo, source, "--once").error(62)
    assert "RESET MASTER" in line
    again = archive(user, repo, source, "--once", "--json").ok().json()
    assert again["new_gaps"] == [] and len(again["gaps"]) == 1  # recorded once, reported on


def test_two_databases_recovered_together_and_the_repository_still_checks(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    repo = user.init()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop", "DROP DATABASE IF EXISTS crm")
    setup_shop(source)
    run_sql(source, "CREATE DATABASE crm", "CREATE TABLE crm.notes (n INT PRIMARY KEY)")
    bid = user.good_backup(repo, source, "shop", "crm")
    run_sql(source, "INSERT INTO shop.marks VALUES (1, NOW())", "INSERT INTO crm.notes VALUES (1)")
    run_sql(source, "CREATE DATABASE other", "CREATE TABLE other.t (a INT)")  # not restored
    run_sql(source, "INSERT INTO other.t VALUES (7)")
    g = fetch(source, "SELECT @@gtid_binlog_pos")[0][0]
    run_sql(source, "INSERT INTO shop.marks VALUES (2, NOW())", "INSERT INTO crm.notes VALUES (2)")
    archive(user, repo, source, "--once").ok()
    restore = [*_restore(user, repo, mariadb_restore)]
    restore[3] = bid
    user.run(*restore, "--until-gtid", g).ok()
    assert marks(mariadb_restore) == [0, 1]
    assert fetch(mariadb_restore, "SELECT n FROM crm.notes") == [(1,)]
    assert "other" not in [r[0] for r in fetch(mariadb_restore, "SHOW DATABASES")]
    user.run("repo", "check", "--repo", repo).ok()
    assert [b["id"] for b in user.listing(repo)["backups"]] == [bid]


def test_archive_and_recover_through_an_s3_repository(
    user: DbsealUser, source: MariaDBSandbox, mariadb_restore: MariaDBSandbox, s3: Any
) -> None:
    repo = s3.url(s3.bucket())
    user.run("init", repo, "-r", user.recipient).ok()
    run_sql(mariadb_restore, "DROP DATABASE IF EXISTS shop")
    setup_shop(source)
    user.good_backup(repo, source, "shop")  # type: ignore[arg-type]  # an s3:// URL
    run_sql(source, "INSERT INTO shop.marks VALUES (1, NOW())")
    end = fetch(source, "SELECT @@gtid_binlog_pos")[0][0]
    archive(user, repo, source, "--once").ok()
    user.run(*_restore(user, repo, mariadb_restore), "--until-gtid", end).ok()
    assert marks(mariadb_restore) == [0, 1]
    keys = [
        o["Key"]
        for o in s3.client.list_objects_v2(Bucket=repo.split("/")[2].split("?")[0])["Contents"]
    ]
    assert any(k.startswith("repo/binlogs/") and k.endswith(".dbseal") for k in keys)
