"""`dbseal check`, run as a monitoring system runs it, against real repositories.

Backups with chosen times are written through the catalog (retentionkit), and
verification records through the verify module's own ``record``, as if `dbseal
backup` and `dbseal verify` had run then; one test takes a real backup of the
sandbox MariaDB and verifies it for real. The `dbseal` command runs as a
separate process.
"""

from __future__ import annotations

import datetime
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from retentionkit import open_repo, write_backup

from cli.clikit import DBSEAL, clean_env, private_file
from conftest import CliResult, DbsealUser
from dbseal.crypto.keyring import Keyring, KeyringRecipient
from dbseal.crypto.secret import Secret
from dbseal.crypto.x25519 import X25519Recipient
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.ops.verify import Verification, record

UTC = datetime.UTC
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
WARNING, CRITICAL = 33, 34  # ChecksWarning, ChecksCritical
STATUSES = {"OK", "WARNING", "CRITICAL", "UNKNOWN"}

# monitoring-plugins perfdata: 'label'=value[UOM];[warn];[crit];[min];[max]
_NUM = r"-?\d+(?:\.\d+)?"
PERF = re.compile(
    rf"^(?P<label>[^'=\s]+|'[^'=]+')=(?P<value>{_NUM}|U)(?P<uom>s|ms|us|%|B|KB|MB|GB|TB|c)?"
    rf"(?:;(?P<warn>{_NUM})?(?:;(?P<crit>{_NUM})?(?:;(?P<min>{_NUM})?(?:;(?P<max>{_NUM})?)?)?)?)?$"
)


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def backup(user: DbsealUser, repo: Path, ago: datetime.timedelta, **kw: Any) -> str:
    return write_backup(open_repo(repo), user.recipient, now() - ago, **kw)


def verified(
    repo: Path,
    bid: str,
    ago: datetime.timedelta = HOUR,
    result: str = "ok",
    level: str = "decrypt",
    restore_s: float | None = None,
) -> None:
    """A verification record as `dbseal verify` writes it, for a run ``ago`` ago."""
    problems = [] if result == "ok" else [f"backup {bid}: the data object's SHA-256 differs"]
    v = Verification(bid, level, (now() - ago).isoformat(), result, 12.5, restore_s, problems)
    record(open_repo(repo), v, None)


def healthy(user: DbsealUser, repo: Path, source: str = "shop") -> str:
    """A backup of 2 hours ago, verified an hour ago."""
    bid = backup(user, repo, 2 * HOUR, source=source)
    verified(repo, bid)
    return bid


def check(user: DbsealUser, repo: Path | str, *args: object, timeout: float = 60) -> CliResult:
    return user.run("check", "--repo", repo, *args, timeout=timeout)


def checks(doc: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    [src] = [s for s in doc["sources"] if s["source"] == source]
    return {c["check"]: c for c in src["checks"]}


def status_of(user: DbsealUser, repo: Path, source: str, *args: object) -> dict[str, str]:
    doc = check(user, repo, "--json", *args).json()
    return {name: c["status"] for name, c in checks(doc, source).items()}


def config(user: DbsealUser, text: str) -> Path:
    return private_file(user.home / "check.toml", text)  # not ./dbseal.toml: only with --config


def nagios(user: DbsealUser, repo: Path | str, *args: object) -> tuple[CliResult, str, list[str]]:
    """`check --nagios`: exactly one line `DBSEAL STATUS - text | perfdata`, parsed strictly."""
    res = check(user, repo, "--nagios", *args)
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res.stdout
    m = re.fullmatch(r"DBSEAL (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.+))?", lines[0])
    assert m, lines[0]
    assert res.rc == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[m.group(1)], res
    perf = m.group(3).split(" ") if m.group(3) else []
    for item in perf:
        assert PERF.match(item), f"perfdata item {item!r} does not parse"
    return res, m.group(1), perf


def perf_item(perf: list[str], label: str) -> re.Match[str]:
    [item] = [p for p in perf if p.startswith(label + "=")]
    m = PERF.match(item)
    assert m
    return m


# --------------------------------------------------------------------------- backup age


def test_a_fresh_verified_backup_is_ok_in_every_output(user: DbsealUser) -> None:
    repo = user.init("repo")
    bid = healthy(user, repo)
    res = check(user, repo)
    assert res.rc == 0, res.stderr
    rows = {tuple(line.split()[:3]) for line in res.stdout.splitlines()}
    assert ("shop", "backup", "OK") in rows and ("repository", "repository", "OK") in rows
    assert res.stdout.splitlines()[-1].startswith("summary: OK: 1 source(s)")
    doc = check(user, repo, "--json").json()
    assert doc["status"] == "OK" and checks(doc, "shop")["backup"]["facts"]["id"] == bid
    _res, status, perf = nagios(user, repo)
    assert status == "OK"
    age = perf_item(perf, "shop_backup_age")
    assert age["uom"] == "s" and 2 * 3600 - 60 <= float(age["value"]) < 2 * 3600  # from its end
    assert (age["warn"], age["crit"], age["min"]) == ("93600", "180000", "0")  # 26h, 50h
    assert perf_item(perf, "shop_backup_size")["uom"] == "B"


def test_a_stale_backup_is_a_warning_then_critical(user: DbsealUser) -> None:
    repo = user.init("repo")
    bid = backup(user, repo, 30 * HOUR)
    verified(repo, bid)
    res = check(user, repo)
    assert res.rc == WARNING, res.stderr
    assert "shop backup: newest good backup" in res.stderr and "(> 26h)" in res.stderr
    assert status_of(user, repo, "shop")["backup"] == "WARNING"
    _res, status, _perf = nagios(user, repo)
    assert status == "WARNING"

    # -w/-c move the thresholds: 30 hours is fine under 2d/3d, critical over 10h/20h
    assert nagios(user, repo, "-w", "2d", "-c", "3d")[1] == "OK"
    _res, status, perf = nagios(user, repo, "-w", "10h", "-c", "72000")
    assert status == "CRITICAL"
    age = perf_item(perf, "shop_backup_age")
    assert (age["warn"], age["crit"]) == ("36000", "72000")
    assert check(user, repo, "-w", "10h", "-c", "20h").rc == CRITICAL


def test_thresholds_come_from_check_tables_per_source(user: DbsealUser) -> None:
    repo = user.init("repo")
    for source in ("shop", "crm"):
        verified(repo, backup(user, repo, 30 * HOUR, source=source))
    cfg = config(
        user,
        f'repository = "{repo}"\n[check]\nmax_age_warning = "12h"\nmax_age_critical = "24h"\n'
        '[sources.crm.check]\nmax_age_warning = "2d"\nmax_age_critical = "3d"\n',
    )
    doc = user.run("check", "--config", cfg, "--json").json()  # the repository from the file
    assert checks(doc, "shop")["backup"]["status"] == "CRITICAL"
    assert checks(doc, "crm")["backup"]["status"] == "OK"
    # one source on the command line: only it is checked
    only = user.run("check", "crm", "--config", cfg, "--json")
    assert only.rc == 0 and [s["source"] for s in only.json()["sources"]] == ["crm"]


def test_no_good_backup_is_critical_and_a_configured_source_without_backups_shows(
    user: DbsealUser,
) -> None:
    repo = user.init("repo")
    healthy(user, repo)
    cfg = config(user, f'repository = "{repo}"\n[sources.billing]\nurl = "mysql://b@db9/bill"\n')
    res = user.run("check", "--config", cfg, "--json")
    assert res.rc == CRITICAL
    assert checks(res.json(), "billing")["backup"] == checks(res.json(), "billing")["backup"] | {
        "status": "CRITICAL",
        "reason": "no good backup",
    }
    assert checks(res.json(), "shop")["backup"]["status"] == "OK"
    # the file's sources back up into its repository, not into another one checked with --repo
    other = user.init("other")
    healthy(user, other, "crm")
    doc = user.run("check", "--config", cfg, "--repo", other, "--json").ok().json()
    assert [s["source"] for s in doc["sources"]] == ["crm"]


# --------------------------------------------------------------------------- failures


def test_failed_backups_since_the_last_good_one(user: DbsealUser) -> None:
    repo = user.init("repo")
    healthy(user, repo)
    backup(user, repo, 5 * HOUR, status="failed")  # before the good one: does not count
    assert status_of(user, repo, "shop")["failed"] == "OK"
    backup(user, repo, HOUR, status="failed")
    doc = check(user, repo, "--json").json()
    failed = checks(doc, "shop")["failed"]
    assert failed["status"] == "WARNING" and failed["facts"]["count"] == 1
    assert "the dump tool failed" in failed["reason"]
    backup(user, repo, 50 * datetime.timedelta(minutes=1), status="failed")
    backup(user, repo, 40 * datetime.timedelta(minutes=1), status="failed")
    assert status_of(user, repo, "shop")["failed"] == "CRITICAL"  # 3 = failed_critical
    _res, status, perf = nagios(user, repo)
    assert status == "CRITICAL" and perf_item(perf, "shop_failed")["value"] == "3"
    # a good backup after them: the count starts again
    verified(repo, backup(user, repo, 30 * datetime.timedelta(minutes=1)))
    assert status_of(user, repo, "shop")["failed"] == "OK"


# --------------------------------------------------------------------------- verification


def test_verification_never_failed_or_too_old(user: DbsealUser) -> None:
    repo = user.init("repo")
    bid = backup(user, repo, 2 * HOUR)
    doc = check(user, repo, "--json").json()
    assert checks(doc, "shop")["verify"]["status"] == "WARNING"
    assert "never verified" in checks(doc, "shop")["verify"]["reason"]

    verified(repo, bid, ago=9 * DAY)
    verify = checks(check(user, repo, "--json").json(), "shop")["verify"]
    assert verify["status"] == "WARNING" and "(> 8d)" in verify["reason"]
    cfg = config(user, '[check]\nverify_max_age = "10d"\n')
    assert status_of(user, repo, "shop", "--config", cfg)["verify"] == "OK"

    verified(repo, bid, ago=HOUR, result="failed", level="integrity")  # the newest verify
    res = check(user, repo, "--json")
    assert res.rc == CRITICAL
    verify = checks(res.json(), "shop")["verify"]
    assert verify["status"] == "CRITICAL" and "SHA-256 differs" in verify["reason"]
    assert verify["facts"]["result"] == "failed" and verify["facts"]["level"] == "integrity"

    # a newer backup verifies fine: the damaged one still in the repository is a WARNING
    verified(repo, backup(user, repo, 30 * datetime.timedelta(minutes=1)))
    verify = checks(check(user, repo, "--json").json(), "shop")["verify"]
    assert (
        verify["status"] == "WARNING"
        and f"failed their last verify, e.g. {bid}" in verify["reason"]
    )
    user.run("forget", "--repo", repo, bid).ok()
    assert status_of(user, repo, "shop")["verify"] == "OK"


def test_restore_time_against_the_rto(user: DbsealUser) -> None:
    repo = user.init("repo")
    bid = healthy(user, repo)
    assert (
        check(user, repo, "--json").json()["sources"][0]["metrics"][
            "verify_last_restore_duration_s"
        ]
        is None
    )
    cfg = config(user, '[check]\nrto = "10m"\n[sources.crm.check]\nrto = "1h"\n')
    restore = checks(check(user, repo, "--config", cfg, "--json").json(), "shop")["restore"]
    assert restore["status"] == "WARNING" and "never measured" in restore["reason"]

    verified(repo, bid, level="restore", restore_s=900.0)  # 15 minutes
    res = check(user, repo, "--config", cfg, "--json")
    assert res.rc == CRITICAL
    restore = checks(res.json(), "shop")["restore"]
    assert restore["status"] == "CRITICAL" and "over the rto 10m" in restore["reason"]
    _res, status, perf = nagios(user, repo, "--config", cfg)
    assert status == "CRITICAL"
    assert perf_item(perf, "shop_restore_time")[0] == "shop_restore_time=900s;;600;0"

    # crm has its own, looser objective
    verified(repo, healthy(user, repo, "crm"), level="restore", restore_s=900.0)
    assert status_of(user, repo, "crm", "--config", cfg)["restore"] == "OK"
    # without an rto nothing is judged, but the time is reported
    doc = check(user, repo, "--json").json()
    assert checks(doc, "shop")["restore"]["configured"] is False
    assert doc["sources"][1]["metrics"]["verify_last_restore_duration_s"] == 900.0


def test_a_real_backup_and_restore_test_make_a_green_check(
    user: DbsealUser, mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox
) -> None:
    from conftest import run_sql

    run_sql(
        mariadb,
        "CREATE DATABASE IF NOT EXISTS chk_real",
        "CREATE TABLE IF NOT EXISTS chk_real.t (id INT PRIMARY KEY, v TEXT)",
        "REPLACE INTO chk_real.t VALUES (1, 'a'), (2, 'b')",
    )
    try:
        repo = user.init("repo")
        user.good_backup(repo, mariadb, "chk_real")
        user.run(
            "verify", "--repo", repo, "latest", "--level", "restore", "-i", user.identity,
            "--scratch", f"mysql://root@127.0.0.1:{mariadb_restore.port}",
            "--scratch-password-file", user.password_file(mariadb_restore),
            "--scratch-ssl-ca", mariadb_restore.ca_cert,
        ).ok()  # fmt: skip
        cfg = config(user, '[check]\nrto = "1h"\nrequire_escrow = true\n')
        res = check(user, repo, "--config", cfg)
        assert res.rc == 0, res.stdout + res.stderr
        source = f"127.0.0.1:{mariadb.port}/chk_real"
        doc = check(user, repo, "--config", cfg, "--json").json()
        got = checks(doc, source)
        assert {k: v["status"] for k, v in got.items() if v["configured"]} == {
            "backup": "OK",
            "failed": "OK",
            "verify": "OK",
            "restore": "OK",
            "escrow": "OK",  # the user's age1 key is an offline recipient
        }
        assert 0 < got["restore"]["facts"]["restore_s"] < 3600
        assert got["verify"]["facts"]["level"] == "restore"
    finally:
        run_sql(mariadb, "DROP DATABASE IF EXISTS chk_real")


# --------------------------------------------------------------------------- keys, escrow


def _keyring(user: DbsealUser) -> Keyring:
    return Keyring.init(str(user.home / "ring"), Secret(b"ring passphrase"), "backup")


def test_a_key_in_use_too_long_is_due_for_rotation(user: DbsealUser) -> None:
    repo = user.init("repo")
    ring = _keyring(user)
    key = KeyringRecipient(ring, "backup")
    for ago in (400 * DAY, 2 * HOUR):  # the key first sealed a backup 400 days ago
        bid = backup(user, repo, ago, recipients=[key])
    verified(repo, bid)
    res = check(user, repo, "--json")
    assert res.rc == WARNING
    got = checks(res.json(), "shop")["key"]
    assert got["status"] == "WARNING" and "backup:1 first used 400d" in got["reason"]
    assert "rotation due (> 365d" in got["reason"]  # the repository policy's max_key_age_days
    assert 400 * 86400 <= got["facts"]["age_s"] < 400 * 86400 + 3600
    cfg = config(user, '[check]\nkey_rotation = "500d"\n')
    assert status_of(user, repo, "shop", "--config", cfg)["key"] == "OK"
    _res, status, perf = nagios(user, repo)
    assert status == "WARNING"
    assert perf_item(perf, "shop_key_age")["warn"] == str(365 * 86400)

    # with the keyring and its passphrase configured, the key's own creation time counts
    good = user.secret_file("ring.pass", "ring passphrase")
    keyring = f'keyring = "{user.home / "ring"}"\nkeyring_passphrase_file = "{good}"\n'
    doc = check(user, repo, "--config", config(user, keyring), "--json").json()
    got = checks(doc, "shop")["key"]
    assert got["status"] == "OK" and "backup:1 created" in got["reason"] and doc["notes"] == []
    # a keyring that does not open is a note; the ages come from the backups again
    bad = user.secret_file("bad.pass", "not the passphrase")
    cfg = config(user, keyring.replace(str(good), str(bad)))
    res = check(user, repo, "--config", cfg)
    assert (
        res.rc == WARNING
        and "note: keyring not opened (the keyring passphrase is wrong" in res.stdout
    )


def test_every_recent_backup_needs_an_escrow_recipient_when_required(user: DbsealUser) -> None:
    repo = user.init("repo")
    ring = _keyring(user)
    key = KeyringRecipient(ring, "backup")
    escrow = X25519Recipient.parse(user.recipient)
    backup(user, repo, 3 * DAY, recipients=[key, escrow])
    bid = backup(user, repo, 2 * HOUR, recipients=[key, escrow])
    verified(repo, bid)
    assert checks(check(user, repo, "--json").json(), "shop")["escrow"]["configured"] is False
    cfg = config(
        user, f'[check]\nrequire_escrow = true\nescrow_recipients = ["{user.recipient}"]\n'
    )
    assert check(user, repo, "--config", cfg).rc == 0

    lost = backup(user, repo, HOUR, recipients=[key])  # keyring only: no offline copy
    verified(repo, lost)
    res = check(user, repo, "--config", cfg, "--json")
    assert res.rc == CRITICAL
    escrow_check = checks(res.json(), "shop")["escrow"]
    assert escrow_check["status"] == "CRITICAL"
    assert escrow_check["facts"] == {"examined": 3, "missing": [lost]}
    assert lost in escrow_check["reason"]
    # another age1 key than the configured escrow key does not count
    stranger = X25519Recipient.parse(DbsealUser(user.home / "other").recipient)
    other = config(
        user, f'[check]\nrequire_escrow = true\nescrow_recipients = "{stranger.encode()}"\n'
    )
    missing = checks(check(user, repo, "--config", other, "--json").json(), "shop")["escrow"]
    assert missing["status"] == "CRITICAL" and len(missing["facts"]["missing"]) == 3


# --------------------------------------------------------------------------- repository


def test_an_unreachable_repository_is_unknown(user: DbsealUser, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-repo"
    _res, status, perf = nagios(user, missing)
    assert status == "UNKNOWN" and perf == []
    assert "unreachable" in _res.stdout
    res = check(user, missing, "--json")
    assert res.rc == CRITICAL
    doc = res.json()
    assert doc["status"] == "UNKNOWN" and doc["repository_check"]["reachable"] is False
    # a storage service that refuses connections: reported within the timeout, not retried past it
    port = _free_port()
    t0 = time.monotonic()
    res, status, _perf = nagios(user, f"s3://b/p?endpoint=http://127.0.0.1:{port}", "-t", "6")
    assert status == "UNKNOWN" and time.monotonic() - t0 < 6 + 4, res.stdout


def test_lost_objects_and_leftovers_show_in_the_repository_check(user: DbsealUser) -> None:
    repo = user.init("repo")
    bid = healthy(user, repo)
    (repo / "data" / f"{bid}.dbseal").unlink()
    res = check(user, repo, "--json")
    assert res.rc == CRITICAL
    got = res.json()["repository_check"]
    assert got["status"] == "CRITICAL" and f"{bid}: data object missing" in got["reason"]
    # --no-integrity skips the scan
    skipped = check(user, repo, "--json", "--no-integrity").json()["repository_check"]
    assert skipped["status"] == "OK" and skipped["facts"]["integrity_checked"] is False


# --------------------------------------------------------------------------- nagios specifics


@pytest.mark.parametrize(
    "args",
    [
        ("--bogus",),
        ("-w",),
        ("-t", "soon"),
        ("-w", "5h", "-c", "1h"),
        ("--json",),
    ],
)
def test_bad_arguments_are_unknown_with_nagios_and_usage_errors_without(
    user: DbsealUser, args: tuple[str, ...]
) -> None:
    repo = user.init("repo")
    healthy(user, repo)
    res, status, _perf = nagios(user, repo, *args)
    assert status == "UNKNOWN" and res.rc == 3, res
    if args != ("--json",):
        plain = check(user, repo, *args)
        plain.error(2)


class _Silent:
    """A TCP server on loopback that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Silent]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = _Silent()
    yield server
    server.close()


def test_a_repository_that_hangs_is_unknown_within_the_timeout(
    user: DbsealUser, silent_server: _Silent
) -> None:
    repo = f"s3://bucket/repo?endpoint=http://127.0.0.1:{silent_server.port}&region=us-east-1"
    t0 = time.monotonic()
    res, status, _perf = nagios(user, repo, "-t", "3")
    elapsed = time.monotonic() - t0
    assert status == "UNKNOWN" and "no result within 3s" in res.stdout, res.stdout
    assert elapsed < 3 + 5, elapsed  # the timeout, plus the start-up of a loaded machine
    assert silent_server.conns, "dbseal never connected to the repository"
    # without --nagios: exit 34, the same reason
    plain = check(user, repo, "-t", "2", "--json")
    assert plain.rc == CRITICAL and "no result within 2s" in plain.stdout


# --------------------------------------------------------------------------- prometheus


def _promtool(path: Path) -> None:
    proc = subprocess.run(
        ["promtool", "check", "metrics"],
        input=path.read_bytes(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _samples(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def test_the_prometheus_textfile_passes_promtool_and_has_the_facts(user: DbsealUser) -> None:
    repo = user.init("repo")
    bid = backup(user, repo, 2 * HOUR)
    verified(repo, bid, level="restore", restore_s=42.5)
    backup(user, repo, HOUR, status="failed")
    prom = user.home / "textfile" / "dbseal.prom"
    prom.parent.mkdir()
    res = check(user, repo, "--prometheus", prom, "-q")
    assert res.rc == WARNING and res.stdout == ""
    _promtool(prom)
    text = prom.read_text()
    for family in ("dbseal_backup_last_success_timestamp_seconds", "dbseal_check_status"):
        assert f"# HELP {family} " in text and f"# TYPE {family} gauge" in text
    got = _samples(prom)
    manifest = open_repo(repo).manifest(bid)
    ended = datetime.datetime.fromisoformat(manifest["ended"]).timestamp()
    base = '{source="shop",method="logical"}'
    assert got[f"dbseal_backup_last_success_timestamp_seconds{base}"] == pytest.approx(ended)
    assert got[f"dbseal_backup_last_size_bytes{base}"] == manifest["sizes"]["stored"]
    assert got[f"dbseal_backup_last_duration_seconds{base}"] == 60
    assert got['dbseal_verify_last_restore_duration_seconds{source="shop"}'] == 42.5
    assert got['dbseal_backups_failed_since_success{source="shop"}'] == 1
    assert got['dbseal_check_status{source="shop",check="failed"}'] == 1
    assert got['dbseal_check_status{source="shop",check="backup"}'] == 0
    assert got[f'dbseal_repository_up{{repository="{repo}"}}'] == 1
    assert bid not in text  # no backup ids as labels
    assert [p.name for p in prom.parent.iterdir()] == ["dbseal.prom"]  # no temporary file left


def test_the_prometheus_file_is_replaced_atomically(user: DbsealUser) -> None:
    repo = user.init("repo")
    healthy(user, repo)
    prom = user.home / "dbseal.prom"
    check(user, repo, "--prometheus", prom, "-q").ok()
    old = prom.read_bytes()
    inode = prom.stat().st_ino

    # killed just before the rename (as a power cut would): the old file is intact, and the
    # temporary file's name is not one node_exporter reads (*.prom)
    argv = [*DBSEAL, "check", "--repo", str(repo), "--prometheus", str(prom), "-q"]
    env = {**clean_env(), "DBSEAL_TEST_CRASH_AT": "before-rename"}
    crashed = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    assert crashed.returncode == 99
    assert prom.read_bytes() == old and prom.stat().st_ino == inode
    left = [p.name for p in prom.parent.iterdir() if p.name != prom.name]
    assert not [n for n in left if n.endswith(".prom")]

    # a reader polling the file while it is rewritten never sees a partial file
    seen: list[bytes] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            seen.append(prom.read_bytes())

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for _ in range(3):
            check(user, repo, "--prometheus", prom, "-q").ok()
    finally:
        stop.set()
        reader.join()
    assert prom.stat().st_ino != inode  # replaced by a rename, not rewritten in place
    assert seen and all(
        s.endswith(b"\n") and b"dbseal_check_run_timestamp_seconds " in s for s in seen
    )
    assert oct(prom.stat().st_mode & 0o777) == "0o644"  # node_exporter runs as another user


def test_a_timeout_still_writes_a_complete_textfile_saying_the_repository_is_down(
    user: DbsealUser, silent_server: _Silent
) -> None:
    prom = user.home / "dbseal.prom"
    repo = f"s3://bucket/repo?endpoint=http://127.0.0.1:{silent_server.port}&region=us-east-1"
    res = check(user, repo, "--prometheus", prom, "-t", "2", "--nagios")
    assert res.rc == 3
    _promtool(prom)
    got = _samples(prom)
    assert got['dbseal_repository_up{repository="s3://bucket/repo"}'] == 0  # no URL parameters
    assert got['dbseal_check_status{check="repository"}'] == 3


# --------------------------------------------------------------------------- json


def test_the_json_report_schema(user: DbsealUser) -> None:
    repo = user.init("repo")
    healthy(user, repo)
    res = check(user, repo, "--json")
    assert res.rc == 0
    doc = res.json()
    assert doc["dbseal_check"] == 1 and doc["status"] == "OK" and doc["code"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["checked_at"])
    assert abs(doc["checked_at_epoch"] - time.time()) < 60
    assert doc["repository"] == str(repo)
    assert set(doc["repository_check"]) >= {"check", "status", "code", "reason", "reachable"}
    [src] = doc["sources"]
    assert set(src) == {"source", "status", "code", "checks", "metrics", "thresholds"}
    assert [c["check"] for c in src["checks"]] == [
        "backup", "failed", "verify", "restore", "key", "escrow", "binlog"
    ]  # fmt: skip
    for c in src["checks"]:
        assert c["status"] in STATUSES and isinstance(c["reason"], str) and c["reason"]
        assert isinstance(c["configured"], bool) and isinstance(c["facts"], dict)
    backup_facts = src["checks"][0]["facts"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", backup_facts["ended"])
    assert 7140 <= backup_facts["age_s"] < 7200  # measured from its end (started + 1m)
    binlog = src["checks"][-1]
    assert binlog["configured"] is False and "no archived binlogs" in binlog["reason"]
    assert binlog["facts"] == {}  # no fake lag or gap numbers
    assert src["thresholds"]["max_age_warning_s"] == 26 * 3600
    assert src["thresholds"]["max_age_critical_s"] == 50 * 3600
    assert isinstance(src["metrics"]["last_success_timestamp"], float)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
