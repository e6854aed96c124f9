"""Keyring changes and backups racing each other, with real `dbseal` processes.

The keys commands are released together through a barrier: their passphrase command
first marks itself ready, then waits for a "go" file, so every process reads the
keyring at the same moment (on a keyring without a lock, the last writer wins).
Running backups are held in the middle of the dump by a table lock in another session.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, DbsealUser, fetch, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

PASSPHRASE = "correct horse battery staple"
KEY = "backup"


def wait_for(what: str, cond: Any, timeout: float = 60.0) -> None:
    """A bounded wait (not a timing assertion): fail if ``cond()`` never holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


class Keys:
    """A keyring in the user's home, and keys commands run alone or released together."""

    def __init__(self, user: DbsealUser) -> None:
        self.user = user
        self.dir = user.home / "keyring"
        self.passfile = user.secret_file("ring.pass", PASSPHRASE)
        self.opts: list[object] = [
            "--keyring",
            self.dir,
            "--keyring-passphrase-file",
            self.passfile,
        ]
        self.barrier = user.home / "barrier"
        user.run("keys", "init", *self.opts, "--key", KEY).ok()

    def gated(self) -> list[object]:
        ready, go = self.barrier / "ready", self.barrier / "go"
        command = f"touch {ready}/$$; while [ ! -e {go} ]; do sleep 0.01; done; cat {self.passfile}"
        return ["--keyring", self.dir, "--keyring-passphrase-command", command]

    def race(self, *commands: list[object]) -> list[CliResult]:
        """Start every command, wait until all reached the barrier, then release them at once."""
        (self.barrier / "ready").mkdir(parents=True, exist_ok=True)
        for f in self.barrier.rglob("*"):
            if f.is_file():
                f.unlink()
        procs = [self.user.spawn(*cmd, *self.gated()) for cmd in commands]
        try:
            wait_for(
                "every process at the barrier",
                lambda: len(list((self.barrier / "ready").iterdir())) == len(procs),
            )
            (self.barrier / "go").touch()
            outs = [p.communicate(timeout=120) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        return [
            CliResult(tuple(str(a) for a in cmd), p.returncode, o.decode(), e.decode())
            for cmd, p, (o, e) in zip(commands, procs, outs, strict=True)
        ]

    def states(self) -> dict[int, str]:
        rows = self.user.run("keys", "list", *self.opts, "--json").ok().json()["keys"]
        return {int(r["version"]): str(r["state"]) for r in rows if r["key"] == KEY}


@pytest.fixture
def keys(user: DbsealUser) -> Keys:
    return Keys(user)


def test_parallel_rotations_all_land(keys: Keys) -> None:
    results = keys.race(*[["keys", "rotate", KEY] for _ in range(8)])
    for r in results:
        r.ok()
    announced = sorted(int(r.stdout.split()[1].split(":")[1]) for r in results)
    assert announced == list(range(2, 10)), "each rotation announces its own new version"
    assert keys.states() == {v: "active" for v in range(1, 10)}, "no rotation was lost"


def test_rotate_racing_destroy_keeps_the_destruction(keys: Keys) -> None:
    version = 1
    for _round in range(3):
        keys.user.run("keys", "rotate", KEY, *keys.opts).ok()
        results = keys.race(
            ["keys", "destroy", f"{KEY}:{version}", "--yes-destroy-key-material"],
            *[["keys", "rotate", KEY] for _ in range(3)],
        )
        for r in results:
            r.ok()
        assert "the key material is gone" in results[0].stdout
        states = keys.states()
        assert states[version] == "destroyed", f"round {_round}: destroy was undone: {states}"
        version = max(states)
    assert len(keys.states()) == 1 + 3 * 4, "every rotation of every round is kept"


def test_rotate_racing_retire_keeps_the_retirement(keys: Keys) -> None:
    repo = keys.user.init()
    keys.user.run("keys", "rotate", KEY, *keys.opts).ok()
    for version in (1, 2, 3):
        results = keys.race(
            ["keys", "retire", f"{KEY}:{version}", "--repo", repo],
            *[["keys", "rotate", KEY] for _ in range(2)],
        )
        for r in results:
            r.ok()
        states = keys.states()
        assert states[version] == "retired", f"retire of {version} was undone: {states}"
    assert len(keys.states()) == 2 + 3 * 2


def test_keys_commands_read_dbseal_toml(keys: Keys, user: DbsealUser) -> None:
    (user.home / "dbseal.toml").write_text(
        f'keyring = "{keys.dir}"\nkeyring_passphrase_file = "{keys.passfile}"\n'
    )
    user.run("keys", "rotate", KEY).ok()
    rows = user.run("keys", "list", "--json").ok().json()["keys"]
    assert [(r["version"], r["state"]) for r in rows] == [(1, "active"), (2, "active")]


# -- backups racing key changes ------------------------------------------------------------------

DB = "keyrace"


@pytest.fixture
def race_db(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> str:
    db = f"{DB}_{os.urandom(4).hex()}"
    scratch_dbs.append(db)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(40))",
        f"INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two')",
    )
    return db


@pytest.fixture
def table_locked(mariadb: MariaDBSandbox, race_db: str) -> Iterator[Any]:
    """A session holding a WRITE lock on the table: a dump of it waits until ``unlock()``."""
    conn = mariadb.connect()
    conn.autocommit(True)
    cur = conn.cursor()
    cur.execute(f"LOCK TABLES `{race_db}`.t WRITE")

    class Lock:
        def unlock(self) -> None:
            cur.execute("UNLOCK TABLES")

    try:
        yield Lock()
    finally:
        conn.close()


def _keyring_repo(keys: Keys) -> Path:
    """A repository sealing for the keyring's key and, as escrow, the user's age key."""
    repo = keys.user.home / "repo"
    keys.user.run(
        "init", repo, "--keyring", keys.dir, "--key", KEY, *keys.opts[2:], "-r", keys.user.recipient
    ).ok()
    return repo


@dataclass
class Held:
    """A backup (sealing for backup:2) that the table lock holds mid-dump."""

    repo: Path
    proc: subprocess.Popen[bytes]
    bid: str | None  # from its in-flight announcement, when it made one
    lock: Any

    def finish(self) -> CliResult:
        self.lock.unlock()
        out, err = self.proc.communicate(timeout=120)
        return CliResult(("backup",), self.proc.returncode, out.decode(), err.decode())


@pytest.fixture
def held(keys: Keys, mariadb: MariaDBSandbox, race_db: str, table_locked: Any) -> Iterator[Held]:
    repo = _keyring_repo(keys)
    keys.user.run("keys", "rotate", KEY, *keys.opts).ok()  # backups seal for backup:2
    proc = keys.user.spawn(*keys.user.backup_args(repo, mariadb, race_db), *keys.opts)
    try:
        waiting = (
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
            " WHERE STATE LIKE 'Waiting for %lock%'"
        )
        wait_for("the dump to wait for the table lock", lambda: fetch(mariadb, waiting)[0][0] > 0)
        names = _inflight(repo)
        yield Held(
            repo, proc, names[0].removesuffix(".json") if len(names) == 1 else None, table_locked
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _inflight(repo: Path) -> list[str]:
    return (
        sorted(p.name for p in (repo / "inflight").iterdir())
        if (repo / "inflight").is_dir()
        else []
    )


def test_retire_and_destroy_refuse_a_key_a_running_backup_seals_for(keys: Keys, held: Held) -> None:
    repo, bid = held.repo, held.bid
    keys.user.run("keys", "rotate", KEY, *keys.opts).ok()  # rotating is always fine
    line = keys.user.run("keys", "retire", f"{KEY}:2", *keys.opts, "--repo", repo).error(28)
    assert bid is not None and bid in line and socket.gethostname() in line
    line = keys.user.run(
        "keys", "destroy", f"{KEY}:2", *keys.opts, "--repo", repo, "--yes-destroy-key-material"
    ).error(28)
    assert bid in line
    assert keys.states()[2] == "active"

    held.finish().ok()
    assert _inflight(repo) == [], "a finished backup withdraws its announcement"
    assert keys.user.listing(repo)["latest"] == bid
    # now the finished backup itself needs backup:2 (the ordinary dependency check)
    keys.user.run("keys", "retire", f"{KEY}:2", *keys.opts, "--repo", repo).error(16)


def test_announcement_of_a_dead_backup_is_stale(keys: Keys, held: Held) -> None:
    keys.user.run("keys", "rotate", KEY, *keys.opts).ok()
    keys.user.run("keys", "retire", f"{KEY}:2", *keys.opts, "--repo", held.repo).error(28)
    held.proc.send_signal(signal.SIGKILL)  # the backup dies without withdrawing its announcement
    held.proc.wait(timeout=60)
    assert _inflight(held.repo) == [f"{held.bid}.json"]
    keys.user.run("keys", "retire", f"{KEY}:2", *keys.opts, "--repo", held.repo).ok()
    assert keys.states()[2] == "retired"
    # `repo check` reports the stale announcement and --clean removes it
    report = json.loads(keys.user.run("repo", "check", "--repo", held.repo, "--json").stdout)
    assert f"inflight/{held.bid}.json" in report["orphans"]
    keys.user.run("repo", "check", "--repo", held.repo, "--clean").ok()
    assert _inflight(held.repo) == []


def test_backup_whose_key_is_destroyed_meanwhile_fails_and_cleans_up(
    keys: Keys, held: Held
) -> None:
    repo = held.repo
    # without --repo nothing can see the running backup: the user destroys the key anyway
    keys.user.run("keys", "destroy", f"{KEY}:2", *keys.opts, "--yes-destroy-key-material").ok()
    line = held.finish().error(13)
    listing = keys.user.listing(repo)
    ((bid, status),) = [(b["id"], b["status"]) for b in listing["backups"]]
    assert status == "failed" and listing.get("latest") is None
    assert f"backup {bid} failed and is recorded as failed" in line
    assert f"{KEY}:2" in line and "destroyed" in line
    assert not (repo / "data" / f"{bid}.dbseal").exists(), "the sealed dump is removed"
    assert _inflight(repo) == []
    check = keys.user.run("repo", "check", "--repo", repo, "--json")
    report = json.loads(check.stdout)
    assert check.rc == 0, check.stderr
    assert not report.get("orphans") and not report.get("young_orphans"), report
    assert not report.get("missing"), report
