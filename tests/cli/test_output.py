"""The command line: no abbreviations, --json on failures too, -q for cron, IEC sizes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cli.clikit import KeyPair, Result, Runner, private_file


def _error_doc(res: Result, code: int) -> dict[str, str]:
    """One JSON document on stdout: the error, with the process's exit code."""
    assert res.rc == code, (res.rc, res.stderr)
    doc = json.loads(res.stdout)
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert err["exit_code"] == code and err["message"] and err["hint"]
    assert err["message"] in res.stderr  # the human line is still on stderr
    return dict(err)


@pytest.fixture
def repo(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> Path:
    res = dbseal("init", "repo", "-r", keypair.recipient)
    assert res.rc == 0, res.stderr
    return tmp_path / "repo"


def test_an_abbreviated_option_is_refused(dbseal: Runner, repo: Path, keypair: KeyPair) -> None:
    line = dbseal("list", "--rep", repo).assert_error(2)
    assert "--rep" in line
    line = dbseal("init", "r2", "-r", keypair.recipient, "--require-pass").assert_error(2)
    assert "--require-pass" in line
    assert not (repo.parent / "r2").exists()


def test_json_error_for_a_path_that_is_not_a_repository(dbseal: Runner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    err = _error_doc(dbseal("list", "--json", "--repo", "empty"), 15)
    assert err["class"] == "RepositoryError" and "not a dbseal repository" in err["message"]


def test_json_error_for_bad_usage(dbseal: Runner, repo: Path) -> None:
    err = _error_doc(dbseal("list", "--json", "--repo", repo, "--bogus"), 2)
    assert err["class"] == "UsageError" and "--bogus" in err["message"]
    err = _error_doc(dbseal("verify", "--json", "--repo", repo, "--since", "yesterday"), 2)
    assert "invalid duration" in err["message"]


def test_json_error_for_a_wrong_key(dbseal: Runner, tmp_path: Path) -> None:
    right = private_file(tmp_path / "right.pw", "correct horse battery\n")
    wrong = private_file(tmp_path / "wrong.pw", "not the passphrase\n")
    assert dbseal("keys", "init", "--keyring", "ring", "--keyring-passphrase-file", right).rc == 0
    res = dbseal("keys", "list", "--json", "--keyring", "ring", "--keyring-passphrase-file", wrong)
    err = _error_doc(res, 5)
    assert err["class"] == "NoMatchingKey"
    assert "correct horse" not in res.out + res.stderr


def test_json_error_for_a_bad_config(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    private_file(tmp_path / "dbseal.toml", 'repository = "repo"\nrepositry = "x"\n')
    err = _error_doc(dbseal("list", "--json"), 29)
    assert err["class"] == "ConfigError" and "did you mean 'repository'?" in err["message"]


def test_quiet_prints_nothing_on_success(dbseal: Runner, keypair: KeyPair, tmp_path: Path) -> None:
    res = dbseal("init", "-q", "repo", "-r", keypair.recipient)
    assert (res.rc, res.stdout, res.stderr) == (0, b"", "")
    assert (tmp_path / "repo" / "config.json").exists()
    for argv in (["list"], ["repo", "check"], ["secret", "list"]):
        res = dbseal(*argv, "--repo", "repo", "-q")
        assert (res.rc, res.stdout, res.stderr) == (0, b"", ""), argv


def test_quiet_still_prints_errors(dbseal: Runner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = dbseal("list", "-q", "--repo", "empty")
    res.assert_error(15)
    assert res.stdout == b""


def test_quiet_never_swallows_data(dbseal: Runner) -> None:
    res = dbseal("keygen", "-q")
    assert res.rc == 0 and res.out.startswith("# created")


def test_sizes_are_iec_in_human_output_and_bytes_in_json(
    dbseal: Runner, keypair: KeyPair, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024)  # incompressible: about 3.0 MiB sealed
    sealed = dbseal("seal", "-r", keypair.recipient, "--compress", "none", stdin=data).stdout
    (tmp_path / "f.dbseal").write_bytes(sealed)
    human = dbseal("inspect", "f.dbseal").out
    assert re.search(r"^size:\s+3\.0 MiB \(3\.0 MiB payload\)$", human, re.M), human
    assert json.loads(dbseal("inspect", "--json", "f.dbseal").out)["file_bytes"] == len(sealed)
