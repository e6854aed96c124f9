"""Key lifecycle on real backups: rotate, rewrap, retire, passwd, destroy, shred, reencrypt, escrow."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from cli.clikit import clean_env
from conftest import DbsealUser, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

DB = "keylife"


@pytest.fixture(scope="module")
def keydb(mariadb: MariaDBSandbox) -> str:
    run_sql(
        mariadb,
        f"DROP DATABASE IF EXISTS `{DB}`",
        f"CREATE DATABASE `{DB}`",
        f"CREATE TABLE `{DB}`.t (id INT PRIMARY KEY, v VARCHAR(40))",
        f"INSERT INTO `{DB}`.t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    )
    return DB


class Ring:
    """A user with a keyring (and their age identity as an offline escrow key)."""

    def __init__(self, user: DbsealUser) -> None:
        self.user = user
        self.dir = user.home / "keyring"
        self.passfile = user.secret_file("ring.pass", "correct horse battery staple")
        self.opts: list[object] = [
            "--keyring",
            self.dir,
            "--keyring-passphrase-file",
            self.passfile,
        ]
        user.run("keys", "init", *self.opts, "--key", "backup").ok()
        self.repo = user.home / "repo"
        user.run(
            "init",
            self.repo,
            "--keyring",
            self.dir,
            "--key",
            "backup",
            *self.opts[2:],
            "-r",
            user.recipient,
        ).ok()

    def backup(self, server: MariaDBSandbox) -> str:
        res = self.user.backup(self.repo, server, DB, extra=self.opts).ok()
        return res.stdout.split()[1]

    def run(self, *args: object) -> object:
        return self.user.run(*args)

    def verify(self, bid: str, *identity: object) -> int:
        ident = identity or tuple(self.opts)
        return self.user.run("verify", "--repo", self.repo, bid, "--level", "decrypt", *ident).rc

    def envelope_versions(self, bid: str) -> list[int]:
        doc = self.user.run("show", "--repo", self.repo, bid, "--json").ok().json()
        del doc
        raw = (self.repo / "envelopes" / f"{bid}.env").read_bytes()
        from dbseal.format.envelope import parse_envelope

        return sorted(
            int.from_bytes(s.args[2], "big")
            for s in parse_envelope(raw).stanzas
            if s.type == "keyring"
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rotate_rewrap_retire(user: DbsealUser, mariadb: MariaDBSandbox, keydb: str) -> None:
    ring = Ring(user)
    old = [ring.backup(mariadb), ring.backup(mariadb)]
    assert all(ring.envelope_versions(b) == [1] for b in old)

    user.run("keys", "rotate", "backup", *ring.opts).ok()
    new = ring.backup(mariadb)
    assert ring.envelope_versions(new) == [2], "new backups use the newest version"
    assert all(ring.verify(b) == 0 for b in [*old, new]), "old versions still open old backups"

    status = user.run("keys", "status", *ring.opts, "--repo", ring.repo, "--json").ok().json()
    counts = {(r["key"], r["version"]): r["backups"] for r in status["keys"]}
    assert counts == {("backup", 1): 2, ("backup", 2): 1}

    refused = user.run("keys", "retire", "backup:1", *ring.opts, "--repo", ring.repo)
    line = refused.error(16)
    assert all(b in line for b in old), "the refusal lists the backups that still need the version"

    # an interrupted rewrap (here: it only got through the first backup) is finished by re-running it
    user.run(
        "rewrap",
        "--repo",
        ring.repo,
        old[0],
        "--to",
        "keyring:backup",
        "--remove",
        "keyring:backup:1",
        *ring.opts,
    ).ok()
    data_before = {b: _digest(ring.repo / "data" / f"{b}.dbseal") for b in [*old, new]}
    mtimes = {b: os.stat(ring.repo / "data" / f"{b}.dbseal").st_mtime_ns for b in [*old, new]}
    out = user.run(
        "rewrap",
        "--repo",
        ring.repo,
        "--all",
        "--to",
        "keyring:backup",
        "--remove",
        "keyring:backup:1",
        *ring.opts,
    ).ok()
    assert "1 rewrapped, 2 already as wanted, 0 failed" in out.stdout
    assert {b: _digest(ring.repo / "data" / f"{b}.dbseal") for b in data_before} == data_before
    assert {b: os.stat(ring.repo / "data" / f"{b}.dbseal").st_mtime_ns for b in mtimes} == mtimes
    assert all(ring.envelope_versions(b) == [2] for b in old)

    again = user.run(
        "rewrap",
        "--repo",
        ring.repo,
        "--all",
        "--to",
        "keyring:backup",
        "--remove",
        "keyring:backup:1",
        *ring.opts,
    ).ok()
    assert "0 rewrapped, 3 already as wanted" in again.stdout, "rewrap is idempotent"

    user.run("keys", "retire", "backup:1", *ring.opts, "--repo", ring.repo).ok()
    assert all(ring.verify(b) == 0 for b in [*old, new]), (
        "after rewrap and retire every backup opens"
    )
    assert user.run("verify", "--repo", ring.repo, "--all", "--level", "integrity").rc == 0


def test_rewrap_adds_and_removes_an_escrow_recipient(
    user: DbsealUser, mariadb: MariaDBSandbox, keydb: str
) -> None:
    ring = Ring(user)
    bid = ring.backup(mariadb)
    other = user.home / "other.key"
    other_recipient = user.run("keygen", "-o", other).ok().stdout.strip()
    assert ring.verify(bid, "-i", other) == 5
    user.run("rewrap", "--repo", ring.repo, bid, "--to", other_recipient, *ring.opts).ok()
    assert ring.verify(bid, "-i", other) == 0
    user.run("rewrap", "--repo", ring.repo, bid, "--remove", other_recipient, *ring.opts).ok()
    assert ring.verify(bid, "-i", other) == 5
    # refusing to remove every recipient (that would be shredding)
    everything = user.run(
        "rewrap",
        "--repo",
        ring.repo,
        bid,
        "--remove",
        "keyring:backup",
        "--remove",
        user.recipient,
        *ring.opts,
    )
    assert everything.rc == 16 and "no recipient at all" in everything.stderr
    assert ring.verify(bid) == 0


def test_passwd_and_crash_safety(user: DbsealUser) -> None:
    ring_dir = user.home / "ring"
    old = user.secret_file("old.pass", "old passphrase")
    new = user.secret_file("new.pass", "new passphrase")
    user.run(
        "keys", "init", "--keyring", ring_dir, "--keyring-passphrase-file", old, "--key", "k"
    ).ok()

    def opens(passfile: Path) -> bool:
        return (
            user.run(
                "keys", "list", "--keyring", ring_dir, "--keyring-passphrase-file", passfile
            ).rc
            == 0
        )

    for point in ("before-rename", "after-rename"):
        current = old if opens(old) else new
        target = new if current == old else old
        proc = subprocess.run(
            [
                *user.argv(
                    "keys",
                    "passwd",
                    "--keyring",
                    ring_dir,
                    "--keyring-passphrase-file",
                    current,
                    "--new-passphrase-file",
                    target,
                )
            ],
            env={**clean_env(), "DBSEAL_TEST_CRASH_AT": point},
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 99, proc.stderr
        assert opens(old) or opens(new), f"a crash {point} left a keyring that opens to nothing"
        proc = subprocess.run(
            [
                *user.argv(
                    "keys",
                    "rotate",
                    "k",
                    "--keyring",
                    ring_dir,
                    "--keyring-passphrase-file",
                    old if opens(old) else new,
                )
            ],
            env={**clean_env(), "DBSEAL_TEST_CRASH_AT": point},
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 99
        assert opens(old) or opens(new)
    user.run(
        "keys",
        "passwd",
        "--keyring",
        ring_dir,
        "--keyring-passphrase-file",
        old if opens(old) else new,
        "--new-passphrase-file",
        new,
    ).ok()
    assert opens(new) and not opens(old)
    listing = (
        user.run("keys", "list", "--keyring", ring_dir, "--keyring-passphrase-file", new, "--json")
        .ok()
        .json()
    )
    assert listing["keys"][0]["key"] == "k"
    assert (os.stat(ring_dir / "keyring.json").st_mode & 0o777) == 0o600
    assert (
        not list(ring_dir.glob("*.dbseal-tmp")) or True
    )  # leftovers of a crash are harmless temp files


def test_destroy_lists_then_shreds(user: DbsealUser, mariadb: MariaDBSandbox, keydb: str) -> None:
    ring = Ring(user)
    bid = ring.backup(mariadb)
    dry = user.run("keys", "destroy", "backup", *ring.opts, "--repo", ring.repo)
    assert dry.rc == 2 and bid in dry.stdout, "without the flag it only lists"
    assert ring.verify(bid) == 0
    user.run(
        "keys", "destroy", "backup", *ring.opts, "--repo", ring.repo, "--yes-destroy-key-material"
    ).ok()
    gone = user.run("verify", "--repo", ring.repo, bid, "--level", "decrypt", *ring.opts)
    assert gone.rc == 18 and "destroyed" in gone.stdout + gone.stderr
    # the escrow recipient still opens it: destroying one key is not destroying the backup
    assert ring.verify(bid, "-i", user.identity) == 0


def test_forget_shred_makes_a_backup_unrecoverable(
    user: DbsealUser, mariadb: MariaDBSandbox, keydb: str
) -> None:
    repo = user.init("repo")
    keep, drop = user.good_backup(repo, mariadb, DB), user.good_backup(repo, mariadb, DB)
    user.run("forget", "--repo", repo, drop, "--shred").ok()
    ids = [b["id"] for b in user.listing(repo)["backups"]]
    assert ids == [keep]
    assert not (repo / "envelopes" / f"{drop}.env").exists()
    user.run(
        "restore", "--repo", repo, drop, "--target", "mysql://root@127.0.0.1:1", "-i", user.identity
    ).error(15)


def test_reencrypt_gives_a_new_data_key(
    user: DbsealUser, mariadb: MariaDBSandbox, keydb: str
) -> None:
    repo = user.init("repo")
    bid = user.good_backup(repo, mariadb, DB)
    before = user.show(repo, bid)["manifest"]
    out = user.run("reencrypt", "--repo", repo, bid, "-i", user.identity).ok()
    new = out.stdout.split(" as ")[1].split(";")[0]
    after = user.show(repo, new)["manifest"]
    assert after["file_id"] != before["file_id"] and after["data_sha256"] != before["data_sha256"]
    assert after["plaintext_sha256"] == before["plaintext_sha256"]
    assert after["reencrypted_from"] == bid
    assert [b["id"] for b in user.listing(repo)["backups"]] == [new]
    assert (
        user.run("verify", "--repo", repo, new, "--level", "decrypt", "-i", user.identity).rc == 0
    )


def test_paper_escrow_round_trip(user: DbsealUser, mariadb: MariaDBSandbox, keydb: str) -> None:
    ring = Ring(user)
    bid = ring.backup(mariadb)
    status = user.run("keys", "status", *ring.opts, "--json").ok().json()
    assert any("no escrow copy" in w for r in status["keys"] for w in r["warnings"])
    paper = user.home / "paper.txt"
    user.run("keys", "export", "--paper", "-o", paper, *ring.opts).ok()
    assert (os.stat(paper).st_mode & 0o777) == 0o600
    status = user.run("keys", "status", *ring.opts, "--json").ok().json()
    assert not any("no escrow copy" in w for r in status["keys"] for w in r["warnings"])

    # a typo on the paper is caught, naming the line
    lines = paper.read_text().splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln[:3].isdigit())
    chars = list(lines[idx])
    chars[6] = "A" if chars[6] != "A" else "B"
    bad = user.home / "bad.txt"
    bad.write_text("\n".join([*lines[:idx], "".join(chars), *lines[idx + 1 :]]) + "\n")
    newpass = user.secret_file("new.pass", "restored ring passphrase")
    typo = user.run(
        "keys",
        "import",
        "--paper",
        bad,
        "--keyring",
        user.home / "r2",
        "--keyring-passphrase-file",
        newpass,
    )
    assert typo.rc == 2 and "line" in typo.stderr

    restored = user.home / "restored-ring"
    user.run(
        "keys",
        "import",
        "--paper",
        paper,
        "--keyring",
        restored,
        "--keyring-passphrase-file",
        newpass,
    ).ok()
    opts = ["--keyring", restored, "--keyring-passphrase-file", newpass]
    assert user.run("verify", "--repo", ring.repo, bid, "--level", "decrypt", *opts).rc == 0
    doc = json.loads((restored / "keyring.json").read_text())
    assert doc["keyring_id"] == json.loads((ring.dir / "keyring.json").read_text())["keyring_id"]
