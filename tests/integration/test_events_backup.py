"""Hooks, the event log, syslog and pings around real backups of the sandbox MariaDB.

A failing before hook stops the backup (nothing in the repository); the after hook gets
the backup id; on_error gets the error class; the event log of a good and a failed
backup (and never a secret in it); the syslog line; the pings' start/success/fail.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.pingkit import PingServer
from conftest import DbsealUser, run_sql
from dbseal.engines.mariadb.sandbox import MariaDBSandbox

pytestmark = pytest.mark.mariadb

PASSPHRASE = "correct-horse-" + uuid.uuid4().hex  # must never reach the log, syslog or a ping


@pytest.fixture
def evt_db(mariadb: MariaDBSandbox) -> Iterator[str]:
    db = f"evt_{uuid.uuid4().hex[:8]}"
    run_sql(
        mariadb,
        f"CREATE DATABASE `{db}`",
        f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
        f"INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two')",
    )
    yield db
    run_sql(mariadb, f"DROP DATABASE IF EXISTS `{db}`")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


class Setup:
    def __init__(self, user: DbsealUser, server: MariaDBSandbox, db: str, password: Path) -> None:
        self.user, self.server, self.db = user, server, db
        self.repo = user.init()
        self.password = password
        self.log = user.home / "log" / "events.jsonl"
        self.sock = user.home / "syslog.sock"
        self.passphrase = user.secret_file("pass.txt", PASSPHRASE)

    def config(self, extra: str) -> None:
        path = self.user.home / "dbseal.toml"
        path.write_text(
            f"""\
repository = "{self.repo}"

[log]
json = "{self.log}"
syslog = true
syslog_socket = "{self.sock}"

[sources.shop]
url = "mysql://root@127.0.0.1:{self.server.port}/{self.db}"
password_file = "{self.password}"
ssl_ca = "{self.server.ca_cert}"
ssl_mode = "verify-identity"

{extra}
"""
        )
        path.chmod(0o600)

    def backup(self, *extra: str) -> Any:
        return self.user.run(*extra, "backup", "shop", "--passphrase-file", self.passphrase)

    def lines(self) -> list[dict[str, Any]]:
        """The lines of the last backup run (`list` runs log into the same file)."""
        every = [json.loads(line) for line in self.log.read_text().splitlines()]
        run = [x for x in every if x["command"] == "backup"][-1]["run"]
        return [x for x in every if x["run"] == run]

    def end(self) -> dict[str, Any]:
        return next(x for x in reversed(self.lines()) if x["event"] == "command.end")

    def secrets_absent(self, *texts: str) -> None:
        for text in texts:
            assert PASSPHRASE not in text
            assert self.server.root_password not in text


@pytest.fixture
def setup(user: DbsealUser, mariadb: MariaDBSandbox, evt_db: str) -> Setup:
    return Setup(user, mariadb, evt_db, user.password_file(mariadb))


def _syslog(sock_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    return sock


def test_good_backup_hooks_log_syslog_and_pings(setup: Setup) -> None:
    home = setup.user.home
    seen = home / "after.txt"
    before = _script(home / "before.sh", 'echo "about to back up $1"\n')
    after = _script(home / "after.sh", f'echo "$1 $2 $3 $DBSEAL_BACKUP_ID $DBSEAL_REPO" > {seen}\n')
    with PingServer() as hc, _syslog(setup.sock) as sock:
        setup.config(
            f"""[hooks.backup]
before = ["{before}", "{{source}}"]
after = ["{after}", "{{backup_id}}", "{{source}}", "{{exit_code}}"]

[ping]
url = "{hc.url}"
"""
        )
        res = setup.backup().ok()
        line = sock.recv(4096).decode()
        paths, bodies = hc.paths(), [h.body for h in hc.hits]
    bid = re.match(r"backup (\S+) ok: ", res.stdout)
    assert bid, res.stdout
    bid_s = bid.group(1)
    assert "dbseal: hook backup.before: about to back up shop" in res.stderr
    # the after hook got the id of the backup that is listed, as argument and in its environment
    assert seen.read_text().split() == [bid_s, "shop", "0", bid_s, str(setup.repo)]
    listed = setup.user.listing(setup.repo)["backups"]
    assert [(b["id"], b["status"]) for b in listed] == [(bid_s, "ok")]

    lines = setup.lines()
    kinds = [x["event"] for x in lines]
    assert kinds[0] == "command.start" and kinds[-1] == "command.end"
    assert kinds.index("hook.end") < kinds.index("backup.start") < kinds.index("backup.end")
    assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
    assert len({x["run"] for x in lines}) == 1
    end = lines[-1]
    assert end["status"] == "ok" and end["exit_code"] == 0
    assert end["backup_id"] == bid_s and end["source"] == "shop" and end["bytes"] > 0
    backup_end = next(x for x in lines if x["event"] == "backup.end")
    assert backup_end["status"] == "ok" and backup_end["backup_id"] == bid_s
    assert backup_end["bytes"] == end["bytes"]

    assert re.fullmatch(
        rf"<14>dbseal\[\d+\]: backup shop ok \d+(\.\d)? (B|KiB) in \d+\.\d s id={bid_s}\x00", line
    ), line
    assert paths == ["/check-uuid/start", "/check-uuid"]
    assert bodies[1] == line.split(": ", 1)[1].rstrip("\x00")
    setup.secrets_absent(setup.log.read_text(), line, *bodies, res.stderr)


def test_failing_before_hook_stops_the_backup(setup: Setup) -> None:
    home = setup.user.home
    got = home / "on_error.txt"
    before = _script(home / "before.sh", "echo 'app refuses to quiesce' >&2\nexit 4\n")
    on_error = _script(home / "on_error.sh", f'echo "$@" > {got}\n')
    with PingServer() as hc:
        setup.config(
            f"""[hooks.backup]
before = ["{before}"]
on_error = ["{on_error}", "{{error_class}}", "{{exit_code}}", "{{source}}"]

[ping]
url = "{hc.url}"
"""
        )
        res = setup.backup()
        paths = hc.paths()
    assert res.rc == 38, res.stderr
    assert "dbseal: hook backup.before: app refuses to quiesce" in res.stderr
    assert "hook backup.before failed (exit status 4): the backup did not start" in res.stderr
    assert got.read_text().split() == ["HookFailed", "38", "shop"]
    # nothing in the repository: no backup listed, no object written
    assert setup.user.listing(setup.repo)["backups"] == []
    objects = [p for p in setup.repo.rglob("*") if p.is_file() and p.name != "config.json"]
    assert all("data" not in p.parts and "manifest" not in p.name for p in objects), objects
    kinds = [x["event"] for x in setup.lines()]
    assert "backup.start" not in kinds
    assert paths == ["/check-uuid/start", "/check-uuid/fail"]


def test_failed_backup_on_error_log_and_fail_ping(setup: Setup) -> None:
    home = setup.user.home
    got = home / "on_error.txt"
    on_error = _script(home / "on_error.sh", f'echo "$1|$2|$DBSEAL_ERROR" > {got}\n')
    setup.password = setup.user.secret_file("wrong.pw", "not-the-password")
    with PingServer() as hc, _syslog(setup.sock) as sock:
        setup.config(
            f"""[hooks.backup]
on_error = ["{on_error}", "{{error_class}}", "{{exit_code}}"]

[ping]
url = "{hc.url}"
"""
        )
        res = setup.backup("-q")
        line = sock.recv(4096).decode()
        hits = list(hc.hits)
    listed = setup.user.listing(setup.repo)["backups"]
    assert [b["status"] for b in listed] == ["failed"]  # recorded as failed, never latest
    assert res.rc not in (0, 38, 41)
    # -q: the failure is still one line on stderr, nothing else
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("dbseal: error: ")
    assert res.stdout == ""
    end = setup.end()
    assert end["status"] == "failed"
    assert end["exit_code"] == res.rc and end["hint"]
    assert end["backup_id"] == listed[0]["id"]
    cls, code, message = got.read_text().rstrip("\n").split("|")
    assert (cls, int(code)) == (end["error_class"], res.rc)
    assert message == end["error"] and message in res.stderr
    assert re.match(rf"<11>dbseal\[\d+\]: backup shop failed \(exit {res.rc}, {cls}\)", line), line
    assert [h.path for h in hits] == ["/check-uuid/start", "/check-uuid/fail"]
    tail = [json.loads(x) for x in hits[1].body.splitlines()]
    assert tail[-1]["event"] == "command.end" and tail[-1]["error_class"] == cls
    setup.secrets_absent(setup.log.read_text(), line, hits[1].body)


def test_failing_after_hook_keeps_the_backup_good(setup: Setup) -> None:
    after = _script(setup.user.home / "after.sh", "echo 'upload failed'\nexit 2\n")
    setup.config(f'[hooks.backup]\nafter = ["{after}"]\n')
    res = setup.backup("-v")
    assert res.rc == 41, res.stderr
    # -v: the phases as human lines, the hook's output prefixed
    assert re.search(r"^dbseal: \d\d:\d\d:\d\d backup\.start id=\S+ label=", res.stderr, re.M)
    assert re.search(r"^dbseal: .* backup\.end id=\S+ status=ok .*source=shop", res.stderr, re.M)
    assert "dbseal: hook backup.after: upload failed" in res.stderr
    assert "the backup succeeded, but hook backup.after failed (exit status 2)" in res.stderr
    assert re.match(r"backup \S+ ok: ", res.stdout)
    listed = setup.user.listing(setup.repo)["backups"]
    assert [b["status"] for b in listed] == ["ok"]
    end = setup.end()
    assert end["exit_code"] == 41 and end["error_class"] == "HookAfterFailed"
    assert end["backup_id"] == listed[0]["id"]


def test_quiet_backup_prints_nothing_with_a_dead_ping_endpoint(setup: Setup) -> None:
    with PingServer(mode="hang") as hc:
        setup.config(f'[ping]\nurl = "{hc.url}"\ntimeout = "2s"\n')
        res = setup.backup("-q")
    assert (res.rc, res.stdout, res.stderr) == (0, "", "")
    assert [b["status"] for b in setup.user.listing(setup.repo)["backups"]] == ["ok"]
    assert any(x["event"] == "ping.failed" for x in setup.lines())
