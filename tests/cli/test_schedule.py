"""`dbseal schedule install|show|remove` run as a user would."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli.clikit import Runner, private_file

SECRET = "correct horse battery staple 8f1c"


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    config = tmp_path / "dbseal.toml"
    config.write_text(
        f'repository = "{repo}"\n[state]\ndir = "state"\n'
        '[sources.shop]\nurl = "mysql://backup@127.0.0.1:3399/shop"\n'
    )
    units = tmp_path / "units"
    units.mkdir()
    cron = tmp_path / "cron.d"
    cron.mkdir()
    return {
        "config": config,
        "units": units,
        "cron": cron,
        "repo": repo,
        "pass": private_file(tmp_path / "pass", SECRET + "\n"),
    }


def install_args(s: dict[str, Path], *extra: str) -> list[str | Path]:
    return [
        "schedule", "install", "shop", "--config", s["config"], "--unit-dir", s["units"],
        "--backup", "daily", "--verify", "weekly", "--forget", "daily", "--prune",
        "--passphrase-file", s["pass"], *extra,
    ]  # fmt: skip


def test_install_writes_units_that_name_only_paths(dbseal: Runner, setup: dict[str, Path]) -> None:
    res = dbseal(*install_args(setup))
    assert res.rc == 0, res.stderr
    names = sorted(p.name for p in setup["units"].iterdir())
    assert names == sorted(
        f"dbseal-{k}-shop.{ext}"
        for k in ("backup", "verify", "forget")
        for ext in ("service", "timer")
    )
    assert "systemctl daemon-reload && systemctl enable --now dbseal-backup-shop.timer" in res.out
    for path in setup["units"].iterdir():
        text = path.read_text()
        assert SECRET not in text
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    service = (setup["units"] / "dbseal-backup-shop.service").read_text()
    assert f"LoadCredential=passphrase:{setup['pass']}\n" in service
    assert f"--config {setup['config']} " in service
    # the local repository and the [state] dir are writable under ProtectSystem=strict
    assert f"ReadWritePaths={setup['repo']} {setup['config'].parent / 'state'}\n" in service
    assert f"note: {setup['config'].parent / 'state'} does not exist yet" in res.out
    # running it again changes nothing; -q prints nothing
    again = dbseal(*install_args(setup, "-q"))
    assert again.rc == 0 and again.out == "" and again.stderr == ""


def test_show_prints_what_install_writes(dbseal: Runner, setup: dict[str, Path]) -> None:
    shown = dbseal(*install_args(setup)[:1], "show", *install_args(setup)[2:], "--json")
    assert shown.rc == 0, shown.stderr
    doc = json.loads(shown.out)
    assert dbseal(*install_args(setup)).rc == 0
    for f in doc["files"]:
        assert Path(f["path"]).read_text() == f["text"]
    assert doc["next"][0] == "systemctl daemon-reload"


def test_dry_run_writes_nothing(dbseal: Runner, setup: dict[str, Path]) -> None:
    res = dbseal(*install_args(setup, "--dry-run"))
    assert res.rc == 0 and "would create" in res.out
    assert list(setup["units"].iterdir()) == []


def test_a_different_unit_is_not_overwritten_without_force(
    dbseal: Runner, setup: dict[str, Path]
) -> None:
    assert dbseal(*install_args(setup)).rc == 0
    before = {p.name: p.read_text() for p in setup["units"].iterdir()}
    changed = [a if a != "daily" else "hourly" for a in install_args(setup)]
    line = dbseal(*changed).assert_error(47)
    assert "differs" in line and "nothing was written" in line
    assert {p.name: p.read_text() for p in setup["units"].iterdir()} == before
    assert dbseal(*changed, "--force").rc == 0
    # a job left out this time keeps its units, and install says so
    fewer = [a for a in changed if a not in ("--verify", "weekly")]
    res = dbseal(*fewer, "--json")
    assert res.rc == 0, res.stderr
    left = json.loads(res.out)["left_over"]
    assert sorted(Path(p).name for p in left) == [
        "dbseal-verify-shop.service",
        "dbseal-verify-shop.timer",
    ]
    timer = (setup["units"] / "dbseal-backup-shop.timer").read_text()
    assert "OnCalendar=*-*-* *:00:00\n" in timer


def test_remove_deletes_only_files_dbseal_wrote(dbseal: Runner, setup: dict[str, Path]) -> None:
    assert dbseal(*install_args(setup)).rc == 0
    foreign = setup["units"] / "dbseal-forget-shop.timer"
    foreign.write_text("[Timer]\nOnCalendar=daily\n")
    line = dbseal("schedule", "remove", "shop", "--unit-dir", setup["units"]).assert_error(47)
    assert "not written by" in line and str(foreign) in line
    assert len(list(setup["units"].iterdir())) == 6  # nothing removed
    foreign.unlink()
    res = dbseal("schedule", "remove", "shop", "--unit-dir", setup["units"], "--json")
    assert res.rc == 0, res.stderr
    assert len(json.loads(res.out)["removed"]) == 5
    assert list(setup["units"].iterdir()) == []


def test_install_refuses_foreign_unit_without_force(dbseal: Runner, setup: dict[str, Path]) -> None:
    (setup["units"] / "dbseal-backup-shop.service").write_text("[Service]\nExecStart=/bin/true\n")
    line = dbseal(*install_args(setup)).assert_error(47)
    assert "someone else" in line
    assert [p.name for p in setup["units"].iterdir()] == ["dbseal-backup-shop.service"]


def test_cron_file(dbseal: Runner, setup: dict[str, Path]) -> None:
    args = install_args(setup, "--cron", "--cron-dir", str(setup["cron"]), "--user", "backup")
    res = dbseal(*args, "--mailto", "ops@example.com")
    assert res.rc == 0, res.stderr
    path = setup["cron"] / "dbseal-shop"
    text = path.read_text()
    assert text.startswith("# dbseal-schedule:") and "MAILTO=ops@example.com\n" in text
    jobs = [line for line in text.splitlines() if line and line[0].isdigit()]
    assert len(jobs) == 3 and all(j.split()[5] == "backup" for j in jobs)
    assert all(" -q " in j and "flock" not in j for j in jobs) and SECRET not in text
    assert os.stat(path).st_mode & 0o022 == 0  # cron ignores group/other-writable files
    res = dbseal("schedule", "remove", "shop", "--cron", "--cron-dir", setup["cron"])
    assert res.rc == 0 and not path.exists()


def test_bad_requests_are_usage_errors(dbseal: Runner, setup: dict[str, Path]) -> None:
    base = ["schedule", "show", "shop", "--config", setup["config"]]
    assert "nothing to schedule" in dbseal(*base).assert_error(2)
    assert "OnCalendar" in dbseal(*base, "--backup", "sometimes").assert_error(2)
    line = dbseal(*base[:2], "nope", *base[3:], "--backup", "daily").assert_error(2)
    assert "no source 'nope'" in line and "shop" in line
    os.chmod(setup["pass"], 0o644)
    dbseal(*base, "--backup", "daily", "--passphrase-file", setup["pass"]).assert_error(10)


def test_enable_without_systemd_says_what_to_run(dbseal: Runner, setup: dict[str, Path]) -> None:
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is running here: --enable would really enable the timers")
    line = dbseal(*install_args(setup, "--enable")).assert_error(47)
    assert "systemd is not running" in line and "systemctl enable --now" in line
    assert len(list(setup["units"].iterdir())) == 6
