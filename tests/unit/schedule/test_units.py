"""The generated units and cron lines: what systemd and cron would read."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbseal.errors import UsageError
from dbseal.schedule import systemd
from dbseal.schedule.calendar import cron_schedule, on_calendar
from dbseal.schedule.cron import cron_file, cron_lines
from dbseal.schedule.escape import cron_name, systemd_escape
from dbseal.schedule.spec import Credential, ScheduleSpec

DBSEAL_BIN = str(Path(sys.executable).parent / "dbseal")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def spec(source: str = "prod", dbseal: str = DBSEAL_BIN, **kw: object) -> ScheduleSpec:
    base: dict[str, object] = {
        "jobs": {"backup": "daily", "verify": "weekly", "forget": "daily"},
        "prune": True,
        "credentials": (
            Credential("passphrase", "/etc/dbseal/pass", "--passphrase-file", ("backup", "verify")),
            Credential("identity", "/etc/dbseal/restore key", "-i", ("backup", "verify")),
        ),
        "rw_paths": ("/var/backups/dbseal", "/var/log/db seal"),
    }
    base.update(kw)
    return ScheduleSpec(source, "/etc/dbseal/dbseal.toml", dbseal, **base)  # type: ignore[arg-type]


def settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def analyze_verify(tmp_path: Path, s: ScheduleSpec) -> subprocess.CompletedProcess[str]:
    for unit in systemd.units(s):
        (tmp_path / unit.name).write_text(unit.text)
    names = [str(tmp_path / u.name) for u in systemd.units(s)]
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", "--man=no", *names],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


@needs_analyze
@pytest.mark.parametrize(
    "dbseal", [DBSEAL_BIN, os.path.realpath(DBSEAL_BIN)], ids=["venv", "realpath"]
)
@pytest.mark.parametrize("source", ["prod", "prod-eu.db", "shop/eu west", ".hidden", "bäckerei"])
def test_systemd_analyze_verify_accepts_every_unit(
    tmp_path: Path, source: str, dbseal: str
) -> None:
    res = analyze_verify(tmp_path, spec(source, dbseal))
    # systemd-analyze reports unknown keys and bad values as warnings with exit status 0
    assert res.returncode == 0 and res.stderr == "" and res.stdout == "", res.stderr


@needs_analyze
def test_systemd_rates_the_sandbox_ok(tmp_path: Path) -> None:
    """`systemd-analyze security` scores exposure 0 (locked down) to 10 (none): ours is
    at most 3.0 (a plain service is 9.6); a unit without the sandbox fails this."""
    assert ANALYZE is not None
    for unit, ok in [(systemd.service(spec(), "backup"), True), (None, False)]:
        path = tmp_path / "dbseal-backup-prod.service"
        text = unit.text if unit else f"[Service]\nType=oneshot\nExecStart={DBSEAL_BIN}\n"
        path.write_text(text)
        res = subprocess.run(
            [ANALYZE, "security", "--offline=true", "--threshold=30", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (res.returncode == 0) is ok, res.stdout[-300:] + res.stderr


@needs_analyze
def test_systemd_analyze_verify_catches_a_missing_executable(tmp_path: Path) -> None:
    res = analyze_verify(tmp_path, spec(dbseal="/nonexistent/bin/dbseal"))
    assert res.returncode != 0 and "/nonexistent/bin/dbseal" in res.stderr


def test_service_is_a_hardened_oneshot_with_credentials() -> None:
    s = spec()
    backup = settings(systemd.service(s, "backup").text)
    assert backup["Type"] == ["oneshot"] and backup["User"] == ["root"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER",
        "PrivateMounts": "yes",
        "UMask": "0077",
        "RuntimeDirectory": "dbseal",
        "RuntimeDirectoryPreserve": "yes",
    }.items():
        assert backup[key] == [value], key
    assert backup["ReadWritePaths"] == ['/var/backups/dbseal "/var/log/db seal"']
    assert sorted(backup["LoadCredential"]) == [
        "identity:/etc/dbseal/restore key",
        "passphrase:/etc/dbseal/pass",
    ]
    assert backup["ExecStart"] == [
        f"{DBSEAL_BIN} backup prod -q --config /etc/dbseal/dbseal.toml "
        "--passphrase-file ${CREDENTIALS_DIRECTORY}/passphrase -i ${CREDENTIALS_DIRECTORY}/identity"
    ]
    forget = settings(systemd.service(s, "forget").text)
    assert forget["ExecStart"] == [
        f"{DBSEAL_BIN} forget --source prod --prune -q --config /etc/dbseal/dbseal.toml"
    ]
    assert "LoadCredential" not in forget  # forget needs no key


def test_timers_are_persistent_and_spread() -> None:
    s = spec(randomized_delay="45m")
    for kind, calendar in (
        ("backup", "*-*-* 01:00:00"),
        ("verify", "Sun *-*-* 03:00:00"),
        ("forget", "*-*-* 05:00:00"),
    ):
        t = settings(systemd.timer(s, kind).text)
        assert t["OnCalendar"] == [calendar]
        assert t["Persistent"] == ["true"] and t["RandomizedDelaySec"] == ["45m"]
        assert t["AccuracySec"] == ["1min"] and t["WantedBy"] == ["timers.target"]
        assert t["Unit"] == [f"dbseal-{kind}-prod.service"]


def test_every_file_starts_with_the_marker_and_holds_no_secret() -> None:
    for f in [*systemd.units(spec()), cron_file(spec())]:
        assert f.text.startswith("# dbseal-schedule:")
        assert "PASSWORD=" not in f.text.upper() and "Environment=" not in f.text


def test_unit_names_use_the_systemd_escape_rules() -> None:
    tool = shutil.which("systemd-escape")
    names = ["prod", "prod-eu", "a/b", ".x", "sp ace", "bäckerei", "x\\y", "50%"]
    for name in names:
        if tool:
            want = subprocess.run(
                [tool, "--", name], capture_output=True, text=True, check=True
            ).stdout.strip()
            assert systemd_escape(name) == want, name
    assert len({systemd_escape(n) for n in ["prod-eu", "prod/eu", "prod_eu"]}) == 3
    assert systemd.unit_base("backup", "prod-eu") == "dbseal-backup-prod\\x2deu"


def test_special_characters_in_paths_are_quoted_for_systemd() -> None:
    s = ScheduleSpec("prod", "/etc/db seal/100%$HOME.toml", DBSEAL_BIN, {"backup": "daily"})
    exec_start = settings(systemd.service(s, "backup").text)["ExecStart"][0]
    assert exec_start.endswith('--config "/etc/db seal/100%%$$HOME.toml"')


@pytest.mark.parametrize("bad", ["prod\nExecStartPre=/bin/evil", "-q", ""])
def test_unschedulable_source_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        systemd.units(spec(bad))


def test_calendar_keywords_and_expressions() -> None:
    assert on_calendar("backup", "monthly") == "*-*-01 01:00:00"
    assert on_calendar("forget", "hourly") == "*-*-* *:00:00"
    assert on_calendar("backup", "Mon..Fri *-*-* 02:30") == "Mon..Fri *-*-* 02:30"
    for bad in ["every day", "25:99", "daily\nOnCalendar=minutely", ""]:
        with pytest.raises(UsageError):
            on_calendar("backup", bad)


_CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if base == "*":
            continue
        lo, _, hi = base.partition("-")
        values = [lo, hi] if hi else [lo]
        if not all(v.isdigit() and low <= int(v) <= high for v in values):
            return False
    return True


def test_cron_lines_are_valid_and_deterministic() -> None:
    s = spec(user="dbseal")
    lines = cron_lines(s)
    assert lines == cron_lines(spec(user="dbseal"))  # same source: same minutes
    assert len(lines) == 3
    for line in lines:
        fields = line.split(None, 6)
        assert all(_cron_field_ok(f, *r) for f, r in zip(fields[:5], _CRON_RANGES, strict=True))
        assert fields[5] == "dbseal"
        assert " -q " in fields[6] and "flock" not in fields[6]
    assert lines[0].split()[1] == "1" and lines[1].split()[4] == "0"  # daily 01h, weekly Sunday
    assert lines[2].split()[7:10] == ["forget", "--source", "prod"]
    minutes = {
        cron_lines(spec(f"src{i}", jobs={"backup": "daily"}))[0].split()[0] for i in range(20)
    }
    assert len(minutes) > 5  # sources spread over the hour
    # the identity path with a space is quoted for /bin/sh
    assert "-i '/etc/dbseal/restore key'" in lines[0]


def test_cron_escapes_percent_and_takes_five_fields() -> None:
    s = ScheduleSpec("prod", "/etc/dbseal/100%.toml", DBSEAL_BIN, {"backup": "30 2 * * 1-5"})
    (line,) = cron_lines(s)
    assert line.startswith("30 2 * * 1-5 root ") and "/etc/dbseal/100\\%.toml" in line
    assert cron_schedule("backup", "weekly", "x").endswith(" 1 * * 0")
    with pytest.raises(UsageError):
        cron_schedule("backup", "Mon *-*-* 02:00", "x")


def test_cron_file_names_are_run_parts_safe() -> None:
    assert cron_name("prod") == "dbseal-prod"
    for name in ["prod.eu", "a/b", "bäckerei"]:
        assert re.fullmatch(r"dbseal-[A-Za-z0-9_-]+", cron_name(name)), name
    assert cron_name("prod.eu") != cron_name("prod_eu")


def test_without_systemd_analyze_a_documented_subset_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemd-analyze to ask
    for good in [
        "Mon..Fri *-*-* 02:30",
        "Sat,Sun *-*-* 04:00:00",
        "*-*-01 03:15",
        "2027-01-* 1:05",
    ]:
        assert on_calendar("backup", good) == good
    for bad in ["minutely", "Mon 02:30", "*-*-* 02", "Funday *-*-* 02:00"]:
        with pytest.raises(UsageError):
            on_calendar("backup", bad)
