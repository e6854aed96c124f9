"""dbseal.toml is validated strictly and trusted only when nobody else could have written it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli.clikit import Runner


def _config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "dbseal.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def repo(dbseal: Runner, keypair: object, tmp_path: Path) -> Path:
    res = dbseal("init", "repo", "-r", keypair.recipient)  # type: ignore[attr-defined]
    assert res.rc == 0, res.stderr
    return tmp_path / "repo"


VALID = """\
repository = "repo"
identity_files = ["id.txt"]

[sources.prod]
url = "mysql://backup@db1.example.com/shop,crm"
password_secret = "prod-db"
ssl_ca = "/etc/dbseal/db-ca.pem"
ssl_mode = "verify-identity"
compress = "zstd:3"
recipients = ["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"]
allow_insecure_remote = false
"""


def test_a_valid_config_still_works(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    _config(tmp_path, VALID)
    res = dbseal("list")  # the repository comes from the file, relative to it
    assert res.rc == 0, res.stderr
    assert "no backups in" in res.out


def test_an_unknown_key_is_refused_with_a_suggestion_and_its_line(
    dbseal: Runner, repo: Path, tmp_path: Path
) -> None:
    path = _config(
        tmp_path, VALID.replace('ssl_mode = "verify-identity"', 'ssl_mod = "verify-identity"')
    )
    line = dbseal("list").assert_error(29)
    assert f"{path.name}:8:" in line
    assert "unknown key 'ssl_mod' in [sources.prod]" in line
    assert "did you mean 'ssl_mode'?" in line


def test_an_unknown_key_is_found_in_dotted_and_inline_tables(
    dbseal: Runner, repo: Path, tmp_path: Path
) -> None:
    _config(tmp_path, 'repository = "repo"\n\nsources.prod.url = "x"\nsources.prod.sslca = "ca"\n')
    line = dbseal("list").assert_error(29)
    assert "dbseal.toml:4:" in line and "did you mean 'ssl_ca'?" in line
    _config(tmp_path, 'repository = "repo"\n[sources]\nprod = { url = "x", passwd_file = "p" }\n')
    line = dbseal("list").assert_error(29)
    assert "dbseal.toml:3:" in line and "did you mean 'password_file'?" in line


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            'allow_insecure_remote = "yes"',
            "allow_insecure_remote must be true or false, not a string",
        ),
        ('recipients = ["age1...", 5]', "recipients[1] must be a recipient or a list"),
        ("ssl_ca = 5", "ssl_ca must be a path (a string), not an integer"),
        ('compress = "zstd:99"', "zstd level must be between 1 and 22"),
        ('compress = "brotli"', "unknown compression 'brotli'"),
    ],
)
def test_a_wrong_type_or_value_is_refused(
    dbseal: Runner, repo: Path, tmp_path: Path, setting: str, expected: str
) -> None:
    _config(tmp_path, f'repository = "repo"\n\n[sources.prod]\nurl = "x"\n{setting}\n')
    line = dbseal("list").assert_error(29)
    assert "dbseal.toml:5:" in line and expected in line, line


def test_a_bad_ssl_mode_is_refused_not_weakened(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    _config(
        tmp_path, 'repository = "repo"\n[sources.prod]\nurl = "x"\nssl_mode = "verify-identy"\n'
    )
    line = dbseal("backup", "prod").assert_error(29)
    assert "dbseal.toml:4:" in line
    assert (
        "ssl_mode must be one of disabled, preferred, required, verify-ca, verify-identity" in line
    )
    assert "did you mean 'verify-identity'?" in line


def test_a_secret_value_is_still_refused(dbseal: Runner, repo: Path, tmp_path: Path) -> None:
    _config(tmp_path, 'repository = "repo"\n[sources.prod]\npassword = "hunter2"\n')
    line = dbseal("list").assert_error(29)
    assert "dbseal.toml:3: sources.prod.password is a secret value" in line
    assert "hunter2" not in line


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_config_writable_by_others_is_refused(
    dbseal: Runner, repo: Path, tmp_path: Path, mode: int
) -> None:
    path = _config(tmp_path, VALID, mode)
    line = dbseal("list", "--config", path).assert_error(29)
    assert f"{path}" in line and "writable by group or others" in line
    assert f"chmod go-w {path}" in line


def test_a_directory_writable_by_others_is_refused(
    dbseal: Runner, repo: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone may replace the file
    path = shared / "dbseal.toml"
    path.write_text(VALID.replace('"repo"', f'"{repo}"'))
    path.chmod(0o600)
    line = dbseal("list", "--config", path).assert_error(29)
    assert f"directory of the config file '{shared}'" in line and f"chmod go-w {shared}" in line
    shared.chmod(0o1777)  # sticky, like /tmp: accepted
    assert dbseal("list", "--config", path).rc == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_config_owned_by_another_user_is_refused(
    dbseal: Runner, repo: Path, tmp_path: Path
) -> None:
    path = _config(tmp_path, VALID)
    os.chown(path, 65534, 65534)  # nobody
    line = dbseal("list").assert_error(29)
    assert "owned by another user (uid 65534)" in line and "chown root" in line
