"""Scheduled runs against the sandbox MariaDB: the per-source run lock, and the exact
command lines the units and cron lines hold staying silent on success."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.clikit import clean_env
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from integration.conftest import DbsealUser, run_sql

pytestmark = pytest.mark.mariadb


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


class Gated:
    """A dbseal.toml whose source ``slow`` reads its password through a command that
    waits for the test: the backup holds its run lock until ``release()``."""

    def __init__(self, user: DbsealUser, mariadb: MariaDBSandbox, db: str, small: str) -> None:
        self.user = user
        self.repo = user.init()
        home = user.home
        self.started, self.go = home / "started", home / "go"
        pw = user.password_file(mariadb)
        gate = f"touch {self.started}; while [ ! -e {self.go} ]; do sleep 0.05; done; cat {pw}"
        tls = f'ssl_ca = "{mariadb.ca_cert}"\nssl_mode = "verify-identity"\n'
        self.config = home / "dbseal.toml"
        self.config.write_text(
            f'repository = "{self.repo}"\nidentity_files = ["{user.identity}"]\n'
            f'[state]\ndir = "state"\n'
            f'[sources.slow]\nurl = "mysql://root@127.0.0.1:{mariadb.port}/{db}"\n'
            f"password_command = {json.dumps(gate)}\n{tls}"
            f'[sources.other]\nurl = "mysql://root@127.0.0.1:{mariadb.port}/{small}"\n'
            f'password_file = "{pw}"\n{tls}'
        )

    def spawn(self, *extra: str) -> subprocess.Popen[bytes]:
        return self.user.spawn("backup", "slow", "--config", self.config, *extra)

    def release(self) -> None:
        self.go.touch()

    def backups(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = self.user.listing(self.repo)["backups"]
        return out


@pytest.fixture
def gated(user: DbsealUser, mariadb: MariaDBSandbox, big_db: str, scratch_dbs: list[str]) -> Gated:
    small = "dbseal_sched_small"
    scratch_dbs.append(small)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{small}`",
        f"CREATE TABLE `{small}`.t (id INT PRIMARY KEY)",
        f"INSERT INTO `{small}`.t VALUES (1), (2)",
    )
    return Gated(user, mariadb, big_db, small)


def test_a_second_backup_of_the_same_source_exits_42_while_others_run(gated: Gated) -> None:
    first = gated.spawn()
    try:
        wait_for(gated.started, first)
        second = gated.user.run("backup", "slow", "--config", gated.config)
        line = second.error(42)
        assert f"pid {first.pid} since 20" in line and "'slow'" in line
        # a different source is not held up
        gated.user.run("backup", "other", "--config", gated.config).ok()
        waited = gated.user.run(
            "backup", "slow", "--config", gated.config, "--wait-lock", "1s", "--json"
        )
        assert "waited 1 s" in waited.error(42)
        assert json.loads(waited.stdout)["error"]["class"] == "RunLocked"
        patient = gated.spawn("--wait-lock", "2m")
        time.sleep(1)
        assert patient.poll() is None  # still waiting for the lock
    finally:
        gated.release()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    bid = out.decode().split()[1]
    _, err2 = patient.communicate(timeout=300)
    assert patient.returncode == 0, err2.decode()  # ran after the first one
    by_name = sorted((str(b["name"]), str(b["status"])) for b in gated.backups())
    assert by_name == [("other", "ok"), ("slow", "ok"), ("slow", "ok")]
    # the first backup is whole: it authenticates and decrypts
    gated.user.run("verify", bid, "--config", gated.config).ok()


def test_a_killed_holder_does_not_block_the_next_run(gated: Gated) -> None:
    first = gated.spawn()
    wait_for(gated.started, first)
    gated.user.run("backup", "slow", "--config", gated.config).error(42)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    gated.release()  # the orphaned password command ends; the next backup need not wait
    lock = gated.config.parent / "state" / "backup-slow.lock"
    assert str(first.pid) in lock.read_text()  # the dead holder's record is still there
    gated.user.run("backup", "slow", "--config", gated.config).ok()
    assert [b["status"] for b in gated.backups()] == ["ok"]


# -- the scheduled command lines, exactly as the units and the cron file hold them ----------


def schedule_doc(user: DbsealUser, config: Path, *extra: object) -> dict[str, object]:
    res = user.run(
        "schedule", "show", "scheduled", "--config", config,
        "--backup", "daily", "--verify", "weekly", "--forget", "daily", "--prune",
        "--identity", user.identity, "--passphrase-file", user.home / "repo.pass",
        "--json", *extra,
    )  # fmt: skip
    doc: dict[str, object] = res.ok().json()
    return doc


def exec_starts(doc: dict[str, object]) -> dict[str, tuple[str, list[str]]]:
    """kind -> (ExecStart=, its LoadCredential= lines) of each generated service."""
    out = {}
    for f in doc["files"]:  # type: ignore[attr-defined]
        m = re.match(r"dbseal-(\w+)-scheduled\.service$", f["name"])
        if m:
            text = f["text"]
            (line,) = re.findall(r"^ExecStart=(.*)$", text, re.M)
            out[m.group(1)] = (line, re.findall(r"^LoadCredential=(.*)$", text, re.M))
    return out


def as_systemd_would(line: str, creds: list[str], cred_dir: Path) -> list[str]:
    """The argv systemd runs: credentials copied into $CREDENTIALS_DIRECTORY (0400), the
    variable expanded, quoting removed (no specifiers or $$ occur in these lines)."""
    cred_dir.mkdir(exist_ok=True, mode=0o700)
    for cred in creds:
        name, _, path = cred.partition(":")
        shutil.copyfile(path, cred_dir / name)
        os.chmod(cred_dir / name, 0o400)
    assert "%" not in line and "$$" not in line
    return shlex.split(line.replace("${CREDENTIALS_DIRECTORY}", str(cred_dir)))


MDWE = (
    "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
    "assert libc.prctl(65, 1, 0, 0, 0) == 0, 'PR_SET_MDWE'; os.execv(sys.argv[1], sys.argv[1:])"
)


def test_scheduled_command_lines_are_silent_on_success(
    user: DbsealUser, mariadb: MariaDBSandbox, big_db: str, tmp_path: Path
) -> None:
    repo = user.init()
    user.secret_file("repo.pass", "a passphrase for the scheduled runs")
    config = user.home / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n[state]\ndir = "state"\n[retention]\nkeep_last = 1\n'
        f'[sources.scheduled]\nurl = "mysql://root@127.0.0.1:{mariadb.port}/{big_db}"\n'
        f'password_file = "{user.password_file(mariadb)}"\nssl_ca = "{mariadb.ca_cert}"\n'
    )
    doc = schedule_doc(user, config)
    lines = exec_starts(doc)
    assert set(lines) == {"backup", "verify", "forget"}
    env = clean_env(RUNTIME_DIRECTORY=str(tmp_path / "run"))
    mdwe = sys.executable, "-c", MDWE  # as MemoryDenyWriteExecute=yes: no W+X mappings

    def run(argv: list[str], prefix: tuple[str, ...] = ()) -> None:
        proc = subprocess.run(
            [*prefix, *argv], capture_output=True, env=env, cwd="/", timeout=300, check=False
        )
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), (argv, proc)

    for kind in ("backup", "backup", "verify", "forget"):
        line, creds = lines[kind]
        assert "-q" in shlex.split(line)
        run(as_systemd_would(line, creds, tmp_path / f"creds-{kind}"), mdwe)
    listing = user.listing(repo)["backups"]
    assert [b["status"] for b in listing] == ["ok"]  # forget kept the newest one

    cron = schedule_doc(user, config, "--cron")
    (text,) = [f["text"] for f in cron["files"]]  # type: ignore[attr-defined]
    for job in [ln for ln in text.splitlines() if ln[:1].isdigit()]:
        command = job.split(None, 6)[6]  # after the five time fields and the user
        run(["/bin/sh", "-c", command.replace("\\%", "%")])
    assert len(user.listing(repo)["backups"]) == 1


def test_failure_of_a_scheduled_line_is_reported(
    user: DbsealUser, mariadb: MariaDBSandbox, tmp_path: Path
) -> None:
    repo = user.init()
    user.secret_file("repo.pass", "x")
    config = user.home / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n[sources.scheduled]\n'
        f'url = "mysql://root@127.0.0.1:{mariadb.port}/no_such_db"\n'
        f'password_file = "{user.password_file(mariadb)}"\nssl_ca = "{mariadb.ca_cert}"\n'
    )
    line, creds = exec_starts(schedule_doc(user, config))["backup"]
    argv = as_systemd_would(line, creds, tmp_path / "creds")
    proc = subprocess.run(
        argv, capture_output=True, env=clean_env(), cwd="/", timeout=300, check=False
    )
    assert proc.returncode != 0 and proc.stdout == b""
    assert proc.stderr.decode().startswith("dbseal: error: ")  # what cron mails / journald keeps


def test_a_restore_level_verify_runs_under_memory_deny_write_execute(
    user: DbsealUser, mariadb: MariaDBSandbox, scratch_dbs: list[str], tmp_path: Path
) -> None:
    """The throwaway mariadbd, mariadb-dump and Python all run without W+X memory."""
    db = "dbseal_sched_mdwe"
    scratch_dbs.append(db)
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v TEXT)",
        f"INSERT INTO `{db}`.t VALUES (1, 'a'), (2, 'b')",
    )
    repo = user.init()
    user.secret_file("repo.pass", "p")
    config = user.home / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n[state]\ndir = "state"\n[retention]\nkeep_last = 1\n'
        f'[sources.scheduled]\nurl = "mysql://root@127.0.0.1:{mariadb.port}/{db}"\n'
        f'password_file = "{user.password_file(mariadb)}"\nssl_ca = "{mariadb.ca_cert}"\n'
    )
    lines = exec_starts(schedule_doc(user, config, "--verify-level", "restore"))
    env = clean_env()
    for kind in ("backup", "verify"):
        line, creds = lines[kind]
        argv = as_systemd_would(line, creds, tmp_path / f"creds-{kind}")
        proc = subprocess.run(
            [sys.executable, "-c", MDWE, *argv],
            capture_output=True,
            env=env,
            cwd="/",
            timeout=600,
            check=False,
        )
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), (kind, proc)
    assert "--level restore" in lines["verify"][0]
    shown = user.run("show", "--repo", repo, "latest", "-i", user.identity, "--json").ok().json()
    assert shown["manifest"]["status"] == "ok"
    (record,) = shown["verifications"]  # the scheduled verify recorded its restore test
    assert record["level"] == "restore", record
