"""`dbseal forget` with retention policies, run as a user runs it, against real repositories.

Backups with chosen start times are written through the catalog (retentionkit); the
`dbseal` command runs as a separate process. No database is needed except for the
concurrent-backup test.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from retentionkit import at, every, open_repo, slow_dbseal_argv, slow_env, wait_for, write_backup

from conftest import DbsealUser

S3Place = Any  # tests/conftest.py: .bucket(), .url(), .client

DAY = datetime.timedelta(days=1)


def _two_years(repo_path: Path, user: DbsealUser) -> dict[str, list[str]]:
    """shop: a backup every 4 days over two years + two on 2026-12-06; crm: monthly in 2025."""
    repo = open_repo(repo_path)
    shop = [
        write_backup(repo, user.recipient, t, "shop")
        for t in every(at("2025-01-01T02:00"), 4 * DAY, at("2026-12-06T00:00"))
    ]
    shop += [
        write_backup(repo, user.recipient, at(f"2026-12-06T{h}:00"), "shop") for h in ("02", "14")
    ]
    crm = [
        write_backup(repo, user.recipient, at(f"2025-{m:02d}-15T03:00"), "crm")
        for m in range(1, 13)
    ]
    return {"shop": shop, "crm": crm}


def _november(user: DbsealUser, repo: Path, source: str, days: int) -> list[str]:
    """One backup a day from 2026-11-01 (shop at 02:00, others at 03:00)."""
    hour = "02" if source == "shop" else "03"
    r = open_repo(repo)
    return [
        write_backup(r, user.recipient, at(f"2026-11-{d:02d}T{hour}:00"), source)
        for d in range(1, days + 1)
    ]


def _ids(user: DbsealUser, repo: Path) -> set[str]:
    return {b["id"] for b in user.listing(repo)["backups"]}


def _kept(doc: dict[str, Any], source: str) -> dict[str, list[str]]:
    return {d["id"]: d["reasons"] for d in doc["plans"][source]["decisions"] if d["keep"]}


def _files(repo: Path) -> set[str]:
    return {str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()}


def test_a_policy_keeps_exactly_the_planned_backups_per_source(user: DbsealUser) -> None:
    repo = user.init("repo")
    ids = _two_years(repo, user)
    shop, crm = ids["shop"], ids["crm"]
    before = _files(repo)
    args = (
        "forget",
        "--repo",
        repo,
        "--keep-last",
        "2",
        "--keep-monthly",
        "3",
        "--keep-yearly",
        "5",
    )

    dry = user.run(*args, "--dry-run", "--json").ok().json()
    assert _files(repo) == before, "--dry-run deletes nothing"
    assert len(dry["would_remove"]) == len(shop) + len(crm) - 8
    assert not (repo / "locks" / "prune.lock").exists()
    assert dry["dry_run"] is True and dry["removed"] == []
    want_shop = {
        shop[-1]: ["last 1", "monthly 2026-12", "yearly 2026", "newest good"],
        shop[-2]: ["last 2"],
        # every 4 days from 2025-01-01: the newest of November is 11-28, of October 10-31
        next(b for b in shop if b.startswith("20261128")): ["monthly 2026-11"],
        next(b for b in shop if b.startswith("20261031")): ["monthly 2026-10"],
        next(b for b in shop if b.startswith("20251231")): ["yearly 2025"],
    }
    assert _kept(dry, "shop") == want_shop
    assert _kept(dry, "crm") == {
        crm[-1]: ["last 1", "monthly 2025-12", "yearly 2025", "newest good"],
        crm[-2]: ["last 2", "monthly 2025-11"],
        crm[-3]: ["monthly 2025-10"],
    }, "each source is planned on its own: crm's old backups are not measured against shop's"
    text = user.run(*args, "--dry-run").ok().stdout
    assert f"keep   {shop[-2]}  2026-12-06T02:00:00Z  last 2" in text
    assert "dry run: " in text and "nothing deleted" in text

    done = user.run(*args, "--json").ok().json()
    assert set(done["removed"]) == (set(shop) | set(crm)) - set(want_shop) - set(_kept(dry, "crm"))
    assert _ids(user, repo) == set(want_shop) | set(_kept(dry, "crm"))
    assert not (repo / "locks" / "prune.lock").exists(), "the lock is released"
    left = _files(repo)
    assert not any(done["removed"][0] in f for f in left), "data, envelope, log: all gone"
    assert user.run("repo", "check", "--repo", repo).rc == 0
    for bid in want_shop:
        user.run("verify", "--repo", repo, bid, "--level", "decrypt", "-i", user.identity).ok()


def test_an_empty_policy_is_refused(user: DbsealUser) -> None:
    repo = user.init("repo")
    write_backup(open_repo(repo), user.recipient, at("2026-01-01T00:00"))
    before = _files(repo)
    for extra in ((), ("--keep-daily", "0"), ("--prune",)):
        line = user.run("forget", "--repo", repo, *extra).error(2)
        assert "refus" in line
    assert _files(repo) == before


def test_config_retention_with_a_per_source_override_runs_from_cron(user: DbsealUser) -> None:
    repo = user.init("repo")
    shop, crm = _november(user, repo, "shop", 10), _november(user, repo, "crm", 10)
    config = user.home / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n[retention]\nkeep_daily = 3\n'
        '[sources.crm]\nurl = "mysql://backup@db2/crm"\n[sources.crm.retention]\nkeep_last = 1\n'
    )
    config.chmod(0o600)
    res = user.run("forget", "--prune", "-q")
    assert res.rc == 0 and res.stdout == "", "a cron run prints nothing on success"
    assert _ids(user, repo) == set(shop[-3:]) | {crm[-1]}, "crm's table replaces [retention]"
    config.write_text(f'repository = "{repo}"\n[retention]\nkeep_dayly = 3\n')
    assert "did you mean 'keep_daily'" in user.run("forget", "--prune").error(29)
    config.write_text(f'repository = "{repo}"\n[retention]\nkeep_within = "7 days"\n')
    line = user.run("forget", "--prune").error(29)
    assert "dbseal.toml:3: retention.keep_within" in line, line


def test_several_ids_at_once_and_source_restriction(user: DbsealUser) -> None:
    repo = user.init("repo")
    shop, crm = _november(user, repo, "shop", 4), _november(user, repo, "crm", 4)
    dry = user.run("forget", "--repo", repo, shop[0], shop[1][:20], "--dry-run", "--json").ok()
    assert dry.json()["would_remove"] == shop[:2] and len(_ids(user, repo)) == 8
    user.run("forget", "--repo", repo, shop[0], shop[1][:20]).ok()
    assert _ids(user, repo) == set(shop[2:]) | set(crm)
    user.run("forget", "--repo", repo, "--source", "crm", "--keep-last", "1").ok()
    assert _ids(user, repo) == set(shop[2:]) | {crm[-1]}, "only crm was pruned"
    typo = user.run("forget", "--repo", repo, "--source", "crn", "--keep-last", "1").ok()
    assert "not touched: source crn: no backups to consider" in typo.stdout
    line = user.run("forget", "--repo", repo, shop[2], "--keep-last", "1").error(2)
    assert "not both" in line


def test_newest_restorable_backup_is_kept_when_newer_ones_lost_their_keys(
    user: DbsealUser,
) -> None:
    repo = user.init("repo")
    r = open_repo(repo)
    ids = [write_backup(r, user.recipient, at(f"2026-11-{d:02d}T02:00")) for d in range(1, 6)]
    for bid in ids[-2:]:  # shredded envelopes: these two can never be restored
        (repo / "envelopes" / f"{bid}.env").unlink()
    doc = user.run("forget", "--repo", repo, "--keep-last", "1", "--json").ok().json()
    assert _kept(doc, "shop") == {ids[-1]: ["last 1"], ids[-3]: ["newest good"]}
    assert _ids(user, repo) == {ids[-1], ids[-3]}
    user.run(
        "verify", "--repo", repo, "shop:latest", "--level", "decrypt", "-i", user.identity
    ).ok()


def test_failed_backups_are_removed_after_their_age(user: DbsealUser) -> None:
    repo = user.init("repo")
    r = open_repo(repo)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    good = write_backup(r, user.recipient, now - 30 * DAY)
    old_failed = write_backup(r, user.recipient, now - 8 * DAY, status="failed")
    new_failed = write_backup(r, user.recipient, now - 2 * DAY, status="failed")
    doc = user.run("forget", "--repo", repo, "--keep-last", "1", "--json").ok().json()
    assert doc["removed"] == [old_failed]
    reasons = _kept(doc, "shop")
    assert reasons[good] == ["last 1", "newest good"]
    assert reasons[new_failed][0].startswith("failed, removable after ")
    user.run("forget", "--repo", repo, "--keep-last", "1", "--keep-failed-within", "1d").ok()
    assert _ids(user, repo) == {good}


# -- locks and concurrency: real processes --------------------------------------------------


def _spawn_slow(user: DbsealUser, *args: object, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        slow_dbseal_argv(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=user.home,
        env=slow_env(user.home, **env),
    )


def _old_backups(user: DbsealUser, repo: Path, source: str = "shop", n: int = 8) -> list[str]:
    r = open_repo(repo)
    return [
        write_backup(r, user.recipient, at(f"2026-10-{d:02d}T02:00"), source)
        for d in range(1, n + 1)
    ]


def test_a_killed_prune_leaves_a_stale_lock_the_next_prune_takes_over(user: DbsealUser) -> None:
    repo = user.init("repo")
    ids = _old_backups(user, repo)
    proc = _spawn_slow(user, "forget", "--repo", repo, "--keep-last", "1")
    try:
        wait_for(lambda: (user.home / "paused").exists(), "the prune to start deleting")
        assert (repo / "locks" / "prune.lock").exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    lock = json.loads((repo / "locks" / "prune.lock").read_text())
    assert lock["pid"] == proc.pid, "the killed holder's lock is still there"
    # same host, process gone: stale at once (no lock timeout to wait out)
    res = user.run("forget", "--repo", repo, "--keep-last", "1", "--json", timeout=60)
    assert res.rc == 0, res.stderr
    assert _ids(user, repo) == {ids[-1]}
    assert not (repo / "locks" / "prune.lock").exists()
    user.run("repo", "check", "--repo", repo).ok()


def test_repo_check_clean_finishes_an_interrupted_prune(user: DbsealUser) -> None:
    repo = user.init("repo")
    ids = _old_backups(user, repo, n=3)
    # an interrupted prune: the manifest (deleted first) is gone, the rest is not
    victim = ids[0]
    (repo / "manifests" / f"{victim}.json").unlink()
    (repo / "verifications" / victim).mkdir(parents=True)
    (repo / "verifications" / victim / "20261001T000000Z.json").write_text("{}")
    assert _ids(user, repo) == set(ids[1:]), "a half-deleted backup is never listed"
    report = user.run("repo", "check", "--repo", repo, "--json").json()
    assert f"verification/{victim}/20261001T000000Z.json" in report["young_orphans"]
    user.run("repo", "check", "--repo", repo, "--clean", "--min-age", "0s").ok()
    assert not any(victim in f for f in _files(repo))
    assert user.run("repo", "check", "--repo", repo).rc == 0


@pytest.mark.parametrize("whose_clock", ["holder", "breaker"])
def test_a_live_lock_is_not_broken_by_a_clock_ahead(user: DbsealUser, whose_clock: str) -> None:
    repo = user.init("repo")
    ids = _old_backups(user, repo, n=4)
    ahead = str(86400 * 3)
    holder_env = {"DBSEAL_TEST_HOST": "db-backup-2"}
    breaker_env = {"DBSEAL_TEST_HOST": "db-backup-1"}
    (holder_env if whose_clock == "holder" else breaker_env)["DBSEAL_TEST_CLOCK_OFFSET_S"] = ahead
    timeout = ("--lock-timeout", "1s")
    holder = _spawn_slow(user, "forget", "--repo", repo, "--keep-last", "1", *timeout, **holder_env)
    try:
        wait_for(lambda: (user.home / "paused").exists(), "the first prune to hold the lock")
        breaker = subprocess.run(
            slow_dbseal_argv("forget", "--repo", repo, "--keep-last", "1", *timeout),
            capture_output=True,
            cwd=user.home,
            env=slow_env(user.home, **breaker_env),
            timeout=60,
            check=False,
        )
        assert breaker.returncode == 19, breaker.stderr
        assert b"locked by db-backup-2" in breaker.stderr
        assert holder.poll() is None, "the holder is still at work"
        assert json.loads((repo / "locks" / "prune.lock").read_text())["host"] == "db-backup-2"
    finally:
        (user.home / "go").write_text("")
        _out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    assert _ids(user, repo) == {ids[-1]}


@pytest.mark.mariadb
def test_a_backup_started_during_a_prune_survives(
    user: DbsealUser, mariadb: Any, big_db: str
) -> None:
    repo = user.init("repo")
    source = f"127.0.0.1:{mariadb.port}/{big_db}"
    old = _old_backups(user, repo, source=source, n=5)
    prune = _spawn_slow(user, "forget", "--repo", repo, "--keep-last", "1", "--json")
    try:
        wait_for(lambda: (user.home / "paused").exists(), "the prune to start deleting")
        new = user.good_backup(repo, mariadb, big_db)  # runs to completion during the prune
        assert prune.poll() is None, "the backup ran while the prune held the lock"
    finally:
        (user.home / "go").write_text("")
        out, err = prune.communicate(timeout=120)
    assert prune.returncode == 0, err
    doc = json.loads(out)
    assert sorted(doc["removed"]) == sorted(old[:-1])
    assert new not in json.dumps(doc["plans"]), (
        "a backup without a manifest at the start is not planned"
    )
    assert _ids(user, repo) == {old[-1], new}
    user.run("verify", "--repo", repo, new, "--level", "decrypt", "-i", user.identity).ok()
    assert user.run("repo", "check", "--repo", repo).rc == 0


# -- S3 Object Lock: reported, not fought -------------------------------------------------


def test_backups_under_object_lock_are_reported_and_the_run_is_partial(
    s3: S3Place, user: DbsealUser
) -> None:
    bucket = s3.bucket(object_lock=True)
    url = s3.url(bucket, "db1")
    user.run("init", url, "-r", user.recipient).ok()
    locked_repo = open_repo(s3.url(bucket, "db1", object_lock_days=30))
    plain_repo = open_repo(url)
    locked = [write_backup(locked_repo, user.recipient, at(f"2026-10-0{d}T02:00")) for d in (1, 2)]
    plain = [write_backup(plain_repo, user.recipient, at(f"2026-10-0{d}T02:00")) for d in (3, 4, 5)]
    res = user.run("forget", "--repo", url, "--keep-last", "1", "--json")
    assert res.rc == 44, res.stderr
    doc = res.json()
    assert doc["complete"] is False
    assert sorted(doc["removed"]) == sorted(plain[:-1])
    until = (datetime.datetime.now(datetime.UTC) + 30 * DAY).strftime("%Y-%m-%d")
    assert [(x["id"], x["until"][:10]) for x in doc["locked"]] == [(b, until) for b in locked]
    assert {b["id"] for b in user.listing(url)["backups"]} == {*locked, plain[-1]}, (
        "a locked backup is left whole, still listed"
    )
    text = user.run("forget", "--repo", url, "--keep-last", "1")
    assert text.rc == 44 and f"locked until {until}" in text.stdout
    assert "Object Lock" in text.stderr.splitlines()[-1]
