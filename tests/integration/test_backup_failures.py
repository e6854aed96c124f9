"""`dbseal backup` failures as a user meets them: each has its exit code and one error line,
is recorded as a failed backup (or leaves nothing at all when the repository cannot be
written), and never becomes ``latest``: the good backup taken before stays the one a
restore of ``latest`` uses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import DbsealUser, run_sql, tmp_files
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb

NOBODY = 65534


def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def small_db(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> str:
    db = f"dbseal_good_{tag()}"
    scratch_dbs.append(db)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db}`.t VALUES (1, 'a'), (2, 'b')",
    )
    return db


@pytest.fixture
def repo_with_good_backup(
    user: DbsealUser, mariadb: MariaDBSandbox, small_db: str
) -> tuple[Path, str]:
    repo = user.init()
    return repo, user.good_backup(repo, mariadb, small_db)


def recorded_failure(user: DbsealUser, repo: Path, good: str, line: str) -> dict[str, Any]:
    """The one failed backup next to ``good``, which is still latest; named in ``line``."""
    listing = user.listing(repo)
    assert listing["latest"] == good
    others = [b for b in listing["backups"] if b["id"] != good]
    assert [b["status"] for b in others] == ["failed"], listing
    failed = others[0]
    assert f"backup {failed['id']} failed and is recorded as failed" in line
    return failed


def nothing_recorded(user: DbsealUser, repo: Path, good: str) -> None:
    listing = user.listing(repo)
    assert [b["id"] for b in listing["backups"]] == [good] and listing["latest"] == good
    assert sorted(p.name for p in (repo / "data").iterdir()) == [f"{good}.dbseal"]
    assert tmp_files(repo) == []


# -- refused before anything is dumped ---------------------------------------------------------


def test_wrong_password(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    small_db: str,
    repo_with_good_backup: tuple[Path, str],
) -> None:
    repo, good = repo_with_good_backup
    wrong = f"wrong-{tag()}"
    res = user.backup(repo, mariadb, small_db, password_file=user.secret_file("wrong.pw", wrong))
    line = res.error(21)
    assert "access denied" in line and wrong not in res.stderr
    failed = recorded_failure(user, repo, good, line)
    assert failed["raw_bytes"] == 0
    log = user.show(repo, failed["id"])["log"]
    assert any("access denied" in r for r in log["reasons"])


@pytest.fixture
def plain_server(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """A server without TLS."""
    with MariaDBSandbox(tls=False) as server:
        run_sql(server, "CREATE DATABASE plain", "CREATE TABLE plain.t (id INT)")
        yield server


def test_tls_required_but_the_server_offers_none(
    user: DbsealUser, plain_server: MariaDBSandbox, repo_with_good_backup: tuple[Path, str]
) -> None:
    repo, good = repo_with_good_backup
    line = user.backup(repo, plain_server, "plain", ssl_mode="required").error(22)
    assert "offers no TLS" in line
    failed = recorded_failure(user, repo, good, line)
    assert failed["raw_bytes"] == 0  # nothing was dumped in plaintext


@pytest.fixture
def misnamed_server(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """A server whose certificate names another host than 127.0.0.1."""
    with MariaDBSandbox(server_names=["wrong.example"]) as server:
        run_sql(server, "CREATE DATABASE misnamed", "CREATE TABLE misnamed.t (id INT)")
        yield server


def test_server_certificate_for_another_name(
    user: DbsealUser, misnamed_server: MariaDBSandbox, repo_with_good_backup: tuple[Path, str]
) -> None:
    repo, good = repo_with_good_backup
    line = user.backup(repo, misnamed_server, "misnamed", ssl_mode="verify-identity").error(22)
    assert "does not match host '127.0.0.1'" in line
    failed = recorded_failure(user, repo, good, line)
    assert failed["raw_bytes"] == 0


# -- the dump fails ------------------------------------------------------------------------------


@pytest.fixture
def narrow_user(mariadb: MariaDBSandbox, scratch_dbs: list[str]) -> Iterator[tuple[str, str, str]]:
    """A database with a view, and an account that may SELECT but not SHOW VIEW."""
    t = tag()
    db, name, password = f"dbseal_view_{t}", f"narrow_{t}", f"pw-{t}"
    scratch_dbs.append(db)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)",
        f"INSERT INTO `{db}`.t VALUES (1)",
        f"CREATE VIEW `{db}`.v AS SELECT id FROM `{db}`.t",
        f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON `{db}`.* TO '{name}'@'%'",
    )
    yield db, name, password
    run_sql(mariadb, f"DROP USER IF EXISTS '{name}'@'%'")


def test_account_without_show_view(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    narrow_user: tuple[str, str, str],
    repo_with_good_backup: tuple[Path, str],
) -> None:
    repo, good = repo_with_good_backup
    db, name, password = narrow_user
    pw_file = user.secret_file("narrow.pw", password)
    res = user.backup(repo, mariadb, db, user=name, password_file=pw_file)
    line = res.error(25)
    assert "SHOW VIEW command denied" in line and "1142" in line
    failed = recorded_failure(user, repo, good, line)
    shown = user.show(repo, failed["id"])
    reasons = shown["manifest"]["reasons"]
    assert any("SHOW VIEW" in r and "1142" in r for r in reasons)
    assert any("completion marker" in r for r in reasons)
    assert "SHOW VIEW command denied" in shown["log"]["stderr"]
    assert password not in str(shown)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def growing_data_object(repo: Path) -> bool:
    return any(p.stat().st_size > 0 for p in (repo / "data").glob("*.dbseal-tmp"))


def test_server_killed_mid_dump(
    user: DbsealUser, mariadb_binaries: tuple[str, str], tmp_path: Path
) -> None:
    with MariaDBSandbox(parent_dir=tmp_path) as server:
        hexes = ", ".join(f"SHA2(seq + {i * 1_000_000}, 512)" for i in range(8))
        run_sql(
            server,
            "CREATE DATABASE fine",
            "CREATE TABLE fine.t (id INT PRIMARY KEY)",
            "INSERT INTO fine.t VALUES (1)",
            "CREATE DATABASE doomed",
            "CREATE TABLE doomed.big (id INT PRIMARY KEY, pad VARCHAR(1024))",
            # ~30 MB of hex that compresses only to about half: the dump takes a moment
            f"INSERT INTO doomed.big SELECT seq, CONCAT({hexes}) FROM doomed.seq_1_to_30000",
        )
        repo = user.init()
        good = user.good_backup(repo, server, "fine")
        proc = user.spawn(*user.backup_args(repo, server, "doomed"))
        try:
            wait_for(lambda: growing_data_object(repo) or proc.poll() is not None, 30, "the dump")
            assert proc.poll() is None, "the backup finished before the server could be killed"
            server.kill()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    res_err = err.decode()
    assert proc.returncode in (25, 21), res_err
    (line,) = res_err.splitlines()
    assert line.startswith("dbseal: error: ") and "(hint: " in line
    failed = recorded_failure(user, repo, good, line)
    assert 0 < failed["raw_bytes"] < 30_000_000
    reasons = user.show(repo, failed["id"])["manifest"]["reasons"]
    assert any("completion marker" in r for r in reasons), reasons
    assert out == b""


def children(pid: int) -> dict[int, list[str]]:
    """``{pid: argv}`` of the processes whose parent is ``pid``."""
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


def test_dump_program_killed(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    big_db: str,
    repo_with_good_backup: tuple[Path, str],
) -> None:
    repo, good = repo_with_good_backup
    proc = user.spawn(*user.backup_args(repo, mariadb, big_db))
    try:

        def dump_child() -> int | None:
            # the dump itself, not the `mariadb-dump --version` probe run before it
            found = [p for p, argv in children(proc.pid).items() if "--databases" in argv]
            if not found and proc.poll() is not None:
                pytest.fail("the backup ended before its dump program was found")
            return found[0] if found else None

        os.kill(wait_for(dump_child, 30, "mariadb-dump to start"), signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (line,) = err.decode().splitlines()
    assert proc.returncode == 25, line
    assert line.startswith("dbseal: error: ") and "(hint: " in line
    assert "killed by signal SIGKILL" in line and "completion marker" in line
    failed = recorded_failure(user, repo, good, line)
    assert failed["raw_bytes"] < 24_000_000


# -- the repository cannot take the backup ------------------------------------------------------


@pytest.fixture
def world_traversable_dir() -> Iterator[Path]:
    """A directory the user nobody can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dbseal-nobody-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_repository_not_writable(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    small_db: str,
    world_traversable_dir: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run dbseal as the user nobody")
    shared = world_traversable_dir
    repo = user.init(shared / "repo")
    good = user.good_backup(repo, mariadb, small_db)
    password = user.secret_file("nobody.pw", mariadb.root_password)
    password = Path(shutil.copy(password, shared / "nobody.pw"))
    os.chown(password, NOBODY, NOBODY)
    ca = Path(shutil.copy(mariadb.ca_cert, shared / "ca.pem"))
    ca.chmod(0o644)
    args = [
        "backup", "--repo", repo, "--source", f"mysql://root@127.0.0.1:{mariadb.port}/{small_db}",
        "--password-file", password, "--ssl-ca", ca,
    ]  # fmt: skip

    # root's private repository (0700): nobody cannot even read its configuration
    line = user.run(*args, as_nobody=True, cwd=shared).error(14)
    assert "config.json" in line
    nothing_recorded(user, repo, good)

    # readable by everyone, writable by root only: the data object cannot be created
    for path in [repo, *repo.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    line = user.run(*args, as_nobody=True, cwd=shared).error(9)
    assert "cannot write" in line and "Permission denied" in line
    nothing_recorded(user, repo, good)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs; skipped where mounting is not permitted."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    small_db: str,
    small_disk: Path,
    scratch_dbs: list[str],
) -> None:
    noise = f"dbseal_noise_{tag()}"
    scratch_dbs.append(noise)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{noise}`",
        f"CREATE TABLE `{noise}`.n (id INT PRIMARY KEY, b LONGBLOB)",
        *[(f"INSERT INTO `{noise}`.n VALUES ({i}, %s)", (os.urandom(1 << 20),)) for i in range(4)],
    )
    repo = user.init(small_disk / "repo")
    good = user.good_backup(repo, mariadb, small_db)

    line = user.backup(repo, mariadb, noise).error(9)
    assert "No space left on device" in line
    nothing_recorded(user, repo, good)
    assert tmp_files(small_disk) == []
    assert shutil.disk_usage(small_disk).free > 1 << 20  # the partial object is gone
    user.show(repo, "latest")  # the good backup still authenticates


def test_failed_backup_with_json(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    small_db: str,
    repo_with_good_backup: tuple[Path, str],
) -> None:
    """Monitoring reading --json learns the failed backup's id and reasons from its events."""
    repo, good = repo_with_good_backup
    res = user.backup(
        repo,
        mariadb,
        small_db,
        password_file=user.secret_file("wrong.pw", "not-it"),
        extra=["--json"],
    )
    assert res.rc == 21
    *events, line = res.stderr.splitlines()
    assert line.startswith("dbseal: error: ")
    end = [json.loads(e) for e in events][-1]
    assert end["event"] == "backup.end" and end["status"] == "failed"
    failed = recorded_failure(user, repo, good, line)
    assert end["id"] == failed["id"]
    assert any("access denied" in r for r in end["reasons"])


def test_failure_after_the_data_object_leaves_nothing_behind(
    user: DbsealUser,
    mariadb: MariaDBSandbox,
    small_db: str,
    world_traversable_dir: Path,
) -> None:
    """The data object is written, then the log cannot be: the backup removes what it wrote."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run dbseal as the user nobody")
    shared = world_traversable_dir
    repo = user.init(shared / "repo")
    good = user.good_backup(repo, mariadb, small_db)
    for path in [repo, *repo.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    os.chown(repo / "logs", 0, 0)  # nobody may write everything but the logs
    (repo / "logs").chmod(0o755)
    password = Path(shutil.copy(user.password_file(mariadb), shared / "nobody.pw"))
    os.chown(password, NOBODY, NOBODY)
    ca = Path(shutil.copy(mariadb.ca_cert, shared / "ca.pem"))
    ca.chmod(0o644)
    args = [
        "backup", "--repo", repo, "--source", f"mysql://root@127.0.0.1:{mariadb.port}/{small_db}",
        "--password-file", password, "--ssl-ca", ca,
    ]  # fmt: skip

    line = user.run(*args, as_nobody=True, cwd=shared).error(9)
    assert "cannot write" in line and "Permission denied" in line
    nothing_recorded(user, repo, good)
    assert sorted(p.name for p in (repo / "envelopes").iterdir()) == [f"{good}.env"]
    report = user.run("repo", "check", "--repo", repo, "--json").ok().json()
    assert report["clean"], report
