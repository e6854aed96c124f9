"""The event log, syslog, pings, hooks, -v and -q, as a user sees them (no database needed:
`init`, `list`, `verify` and `forget` on an empty repository; backups: tests/integration).
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cli.clikit import KeyPair, Runner
from cli.pingkit import PingServer


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dbseal.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def repo(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> Path:
    assert dbseal("init", "repo", "-r", keypair.recipient).rc == 0
    return tmp_path / "repo"


def test_event_log_lines_of_a_success_and_a_failure(dbseal: Runner, repo: Path, tmp_path: Path):
    log = tmp_path / "logs" / "sub" / "events.jsonl"  # the directories do not exist yet
    ok = dbseal("--log-json", log, "list", "--repo", repo)
    assert ok.rc == 0, ok.stderr
    bad = dbseal("list", "--repo", tmp_path / "nothere", "--log-json", log)  # after the command
    assert bad.rc == 15
    assert stat.S_IMODE(log.stat().st_mode) == 0o640
    lines = _lines(log)
    assert [(x["command"], x["event"], x["seq"]) for x in lines] == [
        ("list", "command.start", 1),
        ("list", "command.end", 2),
        ("list", "command.start", 1),
        ("list", "command.end", 2),
    ]
    first, second = lines[:2], lines[2:]
    assert first[0]["run"] == first[1]["run"] != second[0]["run"]  # one random id per run
    assert re.fullmatch(r"[0-9a-f]{16}", first[0]["run"])
    for x in lines:
        assert x["v"] == 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", x["time"]), x["time"]
    end_ok, end_bad = first[1], second[1]
    assert end_ok["status"] == "ok" and end_ok["exit_code"] == 0 and end_ok["duration_s"] >= 0
    assert "error_class" not in end_ok
    assert end_bad["status"] == "failed" and end_bad["exit_code"] == 15
    assert end_bad["error_class"] == "RepositoryError"
    assert "not a dbseal repository" in end_bad["error"] and end_bad["hint"]


def test_event_log_from_config_and_no_secret_in_it(dbseal: Runner, repo: Path, tmp_path: Path):
    """The log named in dbseal.toml (relative to it); a password in a URL is never written."""
    _config(tmp_path, '[log]\njson = "var/events.jsonl"\n')
    secret = "Hunter2-not-in-the-log"
    res = dbseal("list", "--repo", f"dbseal+tls://backup:{secret}@127.0.0.1:1/x")
    assert res.rc != 0
    text = (tmp_path / "var" / "events.jsonl").read_text()
    assert secret not in text
    end = _lines(tmp_path / "var" / "events.jsonl")[-1]
    assert end["event"] == "command.end" and end["status"] == "failed"


def test_concurrent_runs_share_one_log_without_torn_lines(tmp_path: Path) -> None:
    """Four processes append 300 long lines each: every line is whole, none lost."""
    code = (
        "import sys\n"
        "from dbseal.monitoring.eventlog import AppendFile, EventRecorder\n"
        "rec = EventRecorder('test')\n"
        "f = AppendFile(sys.argv[1])\n"
        "rec.sinks.append(lambda r, line: f.write(line))\n"
        "for i in range(300):\n"
        "    rec.event('storage.retry', error='x' * 3000, attempt=i)\n"
    )
    log = tmp_path / "shared.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(log)]) for _ in range(4)]
    assert all(p.wait(60) == 0 for p in procs)
    lines = _lines(log)
    assert len(lines) == 1200
    assert len({x["run"] for x in lines}) == 4
    for run in {x["run"] for x in lines}:
        assert [x["seq"] for x in lines if x["run"] == run] == list(range(1, 301))


def test_syslog_line_and_priority(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    sock_path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(10)
        _config(tmp_path, f'[log]\nsyslog = true\nsyslog_socket = "{sock_path}"\n')
        assert dbseal("list", "--repo", repo).rc == 0
        ok = sock.recv(4096).decode()
        assert dbseal("verify", "--repo", repo).rc == 15
        bad = sock.recv(4096).decode()
    # facility user (1): info = 8 + 6, err = 8 + 3
    assert re.fullmatch(r"<14>dbseal\[\d+\]: list - ok in \d+\.\d s\x00", ok), ok
    assert re.fullmatch(
        r"<11>dbseal\[\d+\]: verify - failed \(exit 15, BackupNotFound\) in \d+\.\d s: "
        r"no successful backup in .*\x00",
        bad,
    ), bad


def test_a_missing_syslog_socket_never_fails_the_command(dbseal: Runner, repo: Path, tmp_path):
    _config(tmp_path, f'[log]\nsyslog = true\nsyslog_socket = "{tmp_path}/no.sock"\n')
    res = dbseal("list", "--repo", repo, "--log-json", "e.jsonl")
    assert res.rc == 0
    assert "warning: no syslog line sent" in res.stderr
    # the syslog line is sent after command.end: its failure is the run's last line
    assert [x["event"] for x in _lines(tmp_path / "e.jsonl")][-2:] == [
        "command.end",
        "syslog.failed",
    ]
    quiet = dbseal("-q", "list", "--repo", repo)  # -q: not even the warning
    assert quiet.rc == 0 and quiet.stderr == "" and quiet.out == ""


def _ping_config(tmp_path: Path, url: str, extra: str = "") -> None:
    _config(tmp_path, f'[ping]\nurl = "{url}"\ntimeout = "2s"\n{extra}')


def test_pings_start_then_success(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    with PingServer() as hc:
        _ping_config(tmp_path, hc.url)
        res = dbseal("forget", "--keep-last", "1", "--repo", repo)
        assert res.rc == 0, res.stderr
        assert hc.paths() == ["/check-uuid/start", "/check-uuid"]
        assert hc.hits[1].body.startswith("forget - ok in ")
        assert dbseal("list", "--repo", repo).rc == 0  # list is not pinged
        assert len(hc.hits) == 2


def test_pings_start_then_fail_with_the_log_tail(dbseal: Runner, repo: Path, tmp_path: Path):
    with PingServer() as hc:
        _ping_config(tmp_path, hc.url)
        assert dbseal("verify", "--repo", repo).rc == 15
        assert hc.paths() == ["/check-uuid/start", "/check-uuid/fail"]
        body = [json.loads(line) for line in hc.hits[1].body.splitlines()]
        assert body[0]["event"] == "command.start"
        assert body[-1]["event"] == "command.end" and body[-1]["error_class"] == "BackupNotFound"


def test_a_source_table_replaces_the_ping_url(dbseal: Runner, repo: Path, tmp_path: Path):
    with PingServer() as top, PingServer() as shop:
        _ping_config(
            tmp_path, top.url, f'[sources.shop]\n[sources.shop.ping]\nurl = "{shop.url}"\n'
        )
        assert dbseal("forget", "--keep-last", "1", "--source", "shop", "--repo", repo).rc == 0
        assert len(shop.hits) == 2 and top.hits == []


def test_a_dead_endpoint_does_not_block_the_command(dbseal: Runner, repo: Path, tmp_path: Path):
    with PingServer(mode="hang") as hc:
        _ping_config(tmp_path, hc.url)
        t0 = time.monotonic()
        res = dbseal("forget", "--keep-last", "1", "--repo", repo, "--log-json", "e.jsonl")
        took = time.monotonic() - t0
    assert res.rc == 0, res.stderr
    assert took < 9, took  # start in the background, the end ping within its 2 s budget
    assert "warning: ping success to 127.0.0.1:" in res.stderr
    failed = [x for x in _lines(tmp_path / "e.jsonl") if x["event"] == "ping.failed"]
    assert failed and all(x["status"] == "warning" for x in failed)
    assert "check-uuid" not in (tmp_path / "e.jsonl").read_text()  # the URL is a capability


def test_an_erroring_endpoint_is_retried_then_ignored(dbseal: Runner, repo: Path, tmp_path):
    with PingServer(mode="error") as hc:
        _ping_config(tmp_path, hc.url, "retries = 2\n")
        res = dbseal("-q", "forget", "--keep-last", "1", "--repo", repo)
        assert res.rc == 0 and res.stderr == "" and res.out == ""
        assert hc.paths() == ["/check-uuid/start"] * 3 + ["/check-uuid"] * 3


def _hooks(tmp_path: Path, command: str, body: str, ping: str = "") -> None:
    _config(tmp_path, f"[hooks.{command}]\n{body}\n{ping}")


def test_before_hook_failure_stops_forget_and_runs_on_error(
    dbseal: Runner, repo: Path, tmp_path: Path
):
    out = tmp_path / "on_error.txt"
    before = _script(tmp_path / "before.sh", 'echo "checking $1"\nexit 3\n')
    on_error = _script(tmp_path / "on_error.sh", f'echo "$@|$DBSEAL_ERROR_CLASS" > {out}\n')
    _hooks(
        tmp_path,
        "forget",
        f'before = ["{before}", "{{source}}"]\n'
        f'on_error = ["{on_error}", "{{command}}", "{{exit_code}}", "{{error_class}}"]\n',
    )
    res = dbseal("forget", "--keep-last", "1", "--source", "shop", "--repo", repo)
    assert res.rc == 38
    assert "dbseal: hook forget.before: checking shop" in res.stderr
    assert res.stderr.splitlines()[-1].startswith(
        "dbseal: error: hook forget.before failed (exit status 3): the forget did not start"
    )
    assert out.read_text() == "forget 38 HookFailed|HookFailed\n"


def test_after_hook_failure_is_exit_41_and_on_error_does_not_mask(
    dbseal: Runner, repo: Path, tmp_path: Path
):
    after = _script(tmp_path / "after.sh", "exit 1\n")
    _hooks(tmp_path, "forget", f'after = ["{after}"]\n')
    res = dbseal("forget", "--keep-last", "1", "--repo", repo)
    assert res.rc == 41, res.stderr
    assert "the forget succeeded, but hook forget.after failed (exit status 1)" in res.stderr
    # a failing on_error hook leaves the original exit status
    bad = _script(tmp_path / "bad.sh", "exit 9\n")
    _hooks(tmp_path, "verify", f'on_error = ["{bad}"]\n')
    res = dbseal("verify", "--repo", repo)
    assert res.rc == 15
    assert "hook verify.on_error failed (exit status 9); exit status stays 15" in res.stderr


def test_hook_timeout_kills_its_whole_process_group(dbseal: Runner, repo: Path, tmp_path):
    pidfile = tmp_path / "child.pid"
    before = _script(tmp_path / "slow.sh", f"sleep 300 &\necho $! > {pidfile}\nsleep 300\n")
    _hooks(tmp_path, "forget", f'before = ["{before}"]\ntimeout = "1s"\n')
    t0 = time.monotonic()
    res = dbseal("forget", "--keep-last", "1", "--repo", repo)
    assert res.rc == 38 and time.monotonic() - t0 < 20
    assert "timed out after 1 s" in res.stderr
    child = int(pidfile.read_text())
    for _ in range(50):  # the background child got the group's signal too
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        pytest.fail("the hook's background child survived its timeout")


def test_shell_hook_quotes_placeholders(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    _hooks(
        tmp_path,
        "verify",
        f"shell = true\non_error = \"printf '%s\\\\n' {{error}} > {out}\"\n",
    )
    res = dbseal("verify", "--repo", repo, "--source", "x; touch pwned")
    assert res.rc != 0
    assert not (tmp_path / "pwned").exists()
    assert out.read_text().count("\n") == 1  # one argument, however many words


def test_a_hook_others_can_write_is_refused(dbseal: Runner, repo: Path, tmp_path: Path):
    ran = tmp_path / "ran"
    hook = _script(tmp_path / "hook.sh", f"touch {ran}\n")
    hook.chmod(0o775)
    _hooks(tmp_path, "forget", f'before = ["/bin/true"]\non_error = ["{hook}"]\n')
    res = dbseal("forget", "--keep-last", "1", "--repo", repo)
    line = res.assert_error(29)
    assert "hook program" in line and "writable by group or others" in line
    assert not ran.exists()
    hook.chmod(0o755)
    _hooks(tmp_path, "forget", 'before = ["no-such-hook-program"]\n')
    assert "no program 'no-such-hook-program'" in dbseal(
        "forget", "--keep-last", "1", "--repo", repo
    ).assert_error(38)


def test_unknown_placeholder_is_a_config_error(dbseal: Runner, repo: Path, tmp_path: Path):
    _hooks(tmp_path, "backup", 'before = ["/bin/true", "{sorce}"]\n')
    line = dbseal("list", "--repo", repo).assert_error(29)
    assert "unknown placeholder {sorce}" in line


def test_quiet_success_prints_nothing_and_verbose_shows_events(
    dbseal: Runner, repo: Path, tmp_path: Path
):
    for argv in (["-q", "forget"], ["forget", "-q"]):
        res = dbseal(*argv, "--keep-last", "1", "--repo", repo)
        assert (res.rc, res.out, res.stderr) == (0, "", "")
    bad = dbseal("-q", "verify", "--repo", repo)
    bad.assert_error(15)
    res = dbseal("-v", "forget", "--keep-last", "1", "--repo", repo)
    assert res.rc == 0
    assert re.search(r"^dbseal: \d\d:\d\d:\d\d forget\.lock_taken$", res.stderr, re.M), res.stderr
    assert re.search(r"^dbseal: .* command\.end status=ok exit_code=0", res.stderr, re.M)
    assert dbseal("forget", "--keep-last", "1", "--repo", repo, "-v").stderr.count("command.") == 2


def test_hook_environment_has_the_facts_and_no_dbseal_secrets(
    dbseal: Runner, repo: Path, tmp_path: Path
):
    env_out = tmp_path / "env.txt"
    hook = _script(tmp_path / "env.sh", f"env > {env_out}\n")
    _hooks(tmp_path, "forget", f'after = ["{hook}"]\n')
    pw = tmp_path / "pw"
    pw.write_text("x")
    pw.chmod(0o600)
    res = dbseal(
        "forget",
        "--keep-last",
        "1",
        "--source",
        "shop",
        "--repo",
        repo,
        env={"DBSEAL_PASSPHRASE_FILE": str(pw), "MYSQL_PWD": "hunter2", "KEEP_ME": "1"},
    )
    assert res.rc == 0, res.stderr
    env = dict(line.split("=", 1) for line in env_out.read_text().splitlines() if "=" in line)
    assert env["DBSEAL_HOOK"] == "after" and env["DBSEAL_COMMAND"] == "forget"
    assert env["DBSEAL_SOURCE"] == "shop" and env["DBSEAL_EXIT_CODE"] == "0"
    assert env["DBSEAL_REPO"] == str(repo) and env["KEEP_ME"] == "1"
    assert "DBSEAL_PASSPHRASE_FILE" not in env and "MYSQL_PWD" not in env
