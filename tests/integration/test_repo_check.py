"""`dbseal repo check`: an interrupted backup leaves nothing listed; check reports and cleans it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import DbsealUser
from dbseal.engines.mariadb.sandbox import MariaDBSandbox


def test_interrupted_backup_is_invisible_then_reported_and_cleaned(
    user: DbsealUser, mariadb: MariaDBSandbox, big_db: str
) -> None:
    repo = user.init("repo")
    good = user.good_backup(repo, mariadb, big_db)
    proc = user.spawn(*user.backup_args(repo, mariadb, big_db))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list((repo / "data").glob("*.dbseal-tmp")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [b["id"] for b in user.listing(repo)["backups"]] == [good], (
        "a killed backup is never listed"
    )

    report = user.run("repo", "check", "--repo", repo, "--json")
    assert report.rc == 35, "leftovers need attention; they are not a storage failure (14)"
    doc = report.json()
    assert doc["leftovers"], "the temporary data file is reported"
    user.run("repo", "check", "--repo", repo, "--clean", "--min-age", "0s").ok()
    after = user.run("repo", "check", "--repo", repo, "--json").ok().json()
    assert after["clean"] is True
    assert [b["id"] for b in user.listing(repo)["backups"]] == [good]
    # orphans: objects of a backup whose manifest never got written
    (repo / "data" / "20200101T000000Z-deadbeef.dbseal").write_bytes(b"x")
    os.utime(repo / "data" / "20200101T000000Z-deadbeef.dbseal", (0, 0))
    orphan = user.run("repo", "check", "--repo", repo, "--json").json()
    assert orphan["orphans"] == ["data/20200101T000000Z-deadbeef.dbseal"]
    user.run("repo", "check", "--repo", repo, "--clean").ok()
    assert not Path(repo / "data" / "20200101T000000Z-deadbeef.dbseal").exists()
    assert user.run("verify", "--repo", repo, good, "--level", "integrity").rc == 0


def test_kept_orphans_say_why_and_when_they_become_removable(user: DbsealUser) -> None:
    repo = user.init("repo")
    young = repo / "data" / "20991231T000000Z-0badf00d.dbseal"
    young.write_bytes(b"x")
    now = time.time()
    os.utime(young, (now, now))
    res = user.run("repo", "check", "--repo", repo, "--clean")
    assert young.exists(), "a young orphan may be a backup in progress: kept"
    assert "data/20991231T000000Z-0badf00d.dbseal" in res.stdout
    assert "younger than 1h: may be a backup in progress" in res.stdout
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(now + 3600))
    assert f"removable after {when}" in res.stdout, res.stdout
    assert res.rc == 0, "only a possible backup in progress: nothing needs attention"
    doc = user.run("repo", "check", "--repo", repo, "--json").json()
    (kept,) = doc["kept"]
    assert kept["object"] == "data/20991231T000000Z-0badf00d.dbseal"
    assert kept["removable_at"].startswith(when.replace(" ", "T"))
    old = repo / "envelopes" / "20200101T000000Z-deadbeef.env"
    old.write_bytes(b"x")
    os.utime(old, (0, 0))
    res = user.run("repo", "check", "--repo", repo)
    assert res.rc == 35 and "envelope/20200101T000000Z-deadbeef.env" in res.stdout
    assert user.run("repo", "check", "--repo", repo, "--clean").rc == 0
    assert not old.exists() and young.exists()
