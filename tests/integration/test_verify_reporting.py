"""What `dbseal verify` records, and what it only reports.

Only verdicts about the backup itself (damaged, inconsistent, restores to other data)
are recorded in ``verifications/``; an operator's or the environment's problem (wrong
key, unreachable scratch server, missing tool, storage trouble) is reported with its own
exit code and leaves the backup's recorded state alone. A manifest whose ``mac`` is
missing or malformed is an integrity failure at every level, also without a key.
"""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.clikit import DBSEAL
from conftest import DbsealUser, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def ruser(tmp_path_factory: pytest.TempPathFactory) -> DbsealUser:
    return DbsealUser(tmp_path_factory.mktemp("verify-reporting") / "home")


@pytest.fixture(scope="module")
def small(mariadb: MariaDBSandbox) -> Iterator[str]:
    db = f"dbsv_rep_{uuid.uuid4().hex[:8]}"
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db}`.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    yield db
    run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`")


@pytest.fixture
def backup(
    ruser: DbsealUser, mariadb: MariaDBSandbox, small: str, tmp_path: Path
) -> tuple[Path, str]:
    """A fresh repository with one good backup, verified once at the decrypt level."""
    repo = ruser.init(tmp_path / "repo")
    bid = ruser.good_backup(repo, mariadb, small)
    ruser.run("verify", "--repo", repo, bid, "-i", ruser.identity).ok()
    return repo, bid


def records(repo: Path, bid: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((repo / "verifications" / bid).glob("*"))]


def listed_verification(user: DbsealUser, repo: Path, bid: str) -> dict[str, Any]:
    rows = {b["id"]: b for b in user.listing(repo)["backups"]}
    return dict(rows[bid]["verification"])


def test_wrong_key_is_reported_not_recorded(
    ruser: DbsealUser, backup: tuple[Path, str], tmp_path: Path
) -> None:
    repo, bid = backup
    wrong = tmp_path / "wrong.key"
    subprocess.run([*DBSEAL, "keygen", "-o", str(wrong)], check=True, capture_output=True)
    before = records(repo, bid)
    assert [r["result"] for r in before] == ["ok"]

    res = ruser.run("verify", "--repo", repo, bid, "-i", wrong)
    assert res.rc == 5, res.stdout + res.stderr
    assert "not recorded" in res.stdout
    as_json = ruser.run("verify", "--repo", repo, bid, "-i", wrong, "--json")
    assert as_json.rc == 5
    (v,) = as_json.json()
    assert (v["result"], v["error_class"], v["recorded"]) == ("error", "NoMatchingKey", False)

    assert records(repo, bid) == before, "a wrong key leaves no verification record"
    last = listed_verification(ruser, repo, bid)
    assert (last["level"], last["result"]) == ("decrypt", "ok")
    listing = ruser.run("list", "--repo", repo).ok().stdout
    assert "decrypt failed" not in listing and "decrypt ok" in listing
    shown = ruser.run("show", "--repo", repo, bid).ok().stdout
    assert "decrypt ok" in shown and "failed" not in shown


def test_unreachable_scratch_server_is_not_recorded(
    ruser: DbsealUser, backup: tuple[Path, str]
) -> None:
    repo, bid = backup
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = records(repo, bid)
    res = ruser.run(
        "verify", "--repo", repo, bid, "-i", ruser.identity, "--level", "restore",
        "--scratch", f"mysql://root@127.0.0.1:{port}", "--scratch-ssl-mode", "disabled",
    )  # fmt: skip
    assert res.rc == 32, res.stdout + res.stderr
    assert "cannot connect to the scratch server" in res.stdout
    assert "not recorded" in res.stdout
    assert records(repo, bid) == before
    last = listed_verification(ruser, repo, bid)
    assert (last["level"], last["result"]) == ("decrypt", "ok")


def test_storage_that_cannot_read_the_data_object_is_not_recorded(
    ruser: DbsealUser, backup: tuple[Path, str]
) -> None:
    """The storage fails reading (a directory where the object is: EISDIR, like EIO):
    the repository's problem, not a verdict on the backup."""
    repo, bid = backup
    before = records(repo, bid)
    data = repo / "data" / f"{bid}.dbseal"
    saved = data.read_bytes()
    data.unlink()
    data.mkdir()
    try:
        for level in ("integrity", "decrypt"):
            res = ruser.run("verify", "--repo", repo, bid, "--level", level, "-i", ruser.identity)
            assert res.rc == 14, res.stdout + res.stderr
            assert "ERROR" in res.stdout and "not recorded" in res.stdout
        assert records(repo, bid) == before
    finally:
        data.rmdir()
        data.write_bytes(saved)
    assert listed_verification(ruser, repo, bid)["result"] == "ok"


def test_keyless_integrity_says_the_manifest_was_not_authenticated(
    ruser: DbsealUser, backup: tuple[Path, str]
) -> None:
    repo, bid = backup
    res = ruser.run("verify", "--repo", repo, bid, "--level", "integrity").ok()
    assert "manifest contents not authenticated (no key)" in res.stdout
    keyed = ruser.run("verify", "--repo", repo, bid, "-i", ruser.identity).ok()
    assert "not authenticated" not in keyed.stdout


def _edit_manifest(repo: Path, bid: str, mac: str | None) -> None:
    path = repo / "manifests" / f"{bid}.json"
    doc = json.loads(path.read_text())
    if mac is None:
        del doc["mac"]
    else:
        doc["mac"] = mac
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("mac", [None, "garbage", 12345], ids=["removed", "garbage", "number"])
def test_missing_or_malformed_manifest_mac_fails_at_every_level(
    ruser: DbsealUser, backup: tuple[Path, str], mac: Any
) -> None:
    repo, bid = backup
    _edit_manifest(repo, bid, mac)
    integrity = ruser.run("verify", "--repo", repo, bid, "--level", "integrity")
    assert integrity.rc == 30, integrity.stdout + integrity.stderr
    assert "FAILED" in integrity.stdout and "authenticator" in integrity.stdout
    decrypt = ruser.run("verify", "--repo", repo, bid, "--level", "decrypt", "-i", ruser.identity)
    assert decrypt.rc == 30, decrypt.stdout + decrypt.stderr
    assert records(repo, bid)[-1]["result"] == "failed"  # a verdict about the backup: recorded
