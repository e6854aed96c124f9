"""`dbseal repo check`: an interrupted backup leaves nothing listed; check reports and cleans it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from conftest import DbsealUser
from dbseal.sandbox import MariaDBSandbox


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
    assert report.rc == 14
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
