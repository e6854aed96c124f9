"""The client option file: exact quoting, private, always removed; a clean child environment."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.defaults_file import (
    ClientOptionsFile,
    child_env,
    client_enforces_tls,
    option_lines,
    quote_value,
)
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.errors import UsageError

NASTY = b"p a\"s's\\w#o;r=d\t\\n\\\\ #end\\"
TCP = MySQLTarget(user="backup", host="127.0.0.1", port=3307)


def _print_defaults(path: Path) -> bytes:
    """What the real option-file parser (mysys, via my_print_defaults) reads from ``path``."""
    tool = shutil.which("my_print_defaults") or shutil.which("mariadb-print-defaults")
    if tool is None:
        pytest.skip("my_print_defaults is not installed")
    proc = subprocess.run(
        [tool, f"--defaults-file={path}", "client"], capture_output=True, check=True
    )
    return proc.stdout


def _parsed_password(path: Path) -> bytes:
    out = _print_defaults(path)
    start = out.index(b"--password=") + len(b"--password=")
    end = out.index(b"\n--protocol=", start)
    return out[start:end]


def test_quote_value_escapes_what_the_parser_unescapes() -> None:
    assert quote_value(b"plain") == b'"plain"'
    assert quote_value(b"a\"b'c\\d\ne\tf") == b'"a\\"b\\\'c\\\\d\\ne\\tf"'
    with pytest.raises(UsageError, match="NUL"):
        quote_value(b"a\0b", "password")


def test_the_real_parser_reads_a_nasty_password_back(tmp_path: Path) -> None:
    with ClientOptionsFile(TCP, Secret(NASTY), "mariadb") as opts:
        assert _parsed_password(opts.path) == NASTY


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=200).filter(lambda b: b"\0" not in b))
def test_any_password_round_trips_through_the_parser(password: bytes) -> None:
    with ClientOptionsFile(TCP, Secret(password), "mariadb") as opts:
        assert _parsed_password(opts.path) == password


def test_file_is_private_and_removed_even_on_error() -> None:
    with pytest.raises(RuntimeError), ClientOptionsFile(TCP, Secret(b"pw"), "mariadb") as opts:
        path = opts.path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert opts.argument == f"--defaults-file={path}"
        raise RuntimeError("boom")
    assert not path.exists()
    assert not path.parent.exists()


def test_early_remove_is_idempotent() -> None:
    with ClientOptionsFile(TCP, None, "mariadb") as opts:
        opts.remove()
        assert not opts.path.exists()
        opts.remove()


def test_too_long_a_password_is_refused() -> None:
    with pytest.raises(UsageError, match="too long"):
        option_lines(TCP, Secret(b"x" * 5000), "mariadb")


def test_child_env_has_no_mysql_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYSQL_PWD", "leak")
    monkeypatch.setenv("MYSQL_HOST", "elsewhere")
    monkeypatch.setenv("MARIADB_HOME", "/x")
    monkeypatch.setenv("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "1")
    env = child_env()
    assert not {
        "MYSQL_PWD",
        "MYSQL_HOST",
        "MARIADB_HOME",
        "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN",
    } & set(env)
    assert env["MYSQL_TEST_LOGIN_FILE"].endswith("no-login-file.cnf")
    assert env.get("PATH") is not None


def _lines(target: MySQLTarget, flavor: str = "mariadb") -> list[bytes]:
    return option_lines(target, None, flavor)  # type: ignore[arg-type]


def test_tcp_and_socket_addresses() -> None:
    assert _lines(TCP)[1:5] == [
        b'user="backup"',
        b'protocol="tcp"',
        b'host="127.0.0.1"',
        b'port="3307"',
    ]
    sock = MySQLTarget(user="u", socket="/run/my sock#1")
    assert b'protocol="socket"' in _lines(sock)
    assert b'socket="/run/my sock#1"' in _lines(sock)


@pytest.mark.parametrize(
    ("mode", "mariadb", "mysql"),
    [
        ("disabled", [b"skip-ssl"], [b'ssl-mode="DISABLED"']),
        ("preferred", [b'ssl-verify-server-cert="0"'], [b'ssl-mode="PREFERRED"']),
        ("required", [b"ssl", b'ssl-verify-server-cert="0"'], [b'ssl-mode="REQUIRED"']),
        ("verify-ca", [b"ssl", b'ssl-verify-server-cert="0"'], [b'ssl-mode="VERIFY_CA"']),
        (
            "verify-identity",
            [b"ssl", b'ssl-verify-server-cert="1"'],
            [b'ssl-mode="VERIFY_IDENTITY"'],
        ),
    ],
)
def test_tls_options_per_mode_and_flavour(
    mode: str, mariadb: list[bytes], mysql: list[bytes]
) -> None:
    target = MySQLTarget(user="u", host="127.0.0.1", ssl_mode=mode, ssl_ca="/ca.pem")  # type: ignore[arg-type]
    ca = [] if mode == "disabled" else [b'ssl-ca="/ca.pem"']
    assert _lines(target, "mariadb")[5:] == mariadb + ca
    assert _lines(target, "mysql")[5:] == mysql + ca


def test_which_modes_the_client_enforces() -> None:
    def enforced(mode: str, flavor: str) -> bool:
        return client_enforces_tls(MySQLTarget(user="u", ssl_mode=mode), flavor)  # type: ignore[arg-type]

    assert [
        enforced(m, "mariadb")
        for m in ("disabled", "preferred", "required", "verify-ca", "verify-identity")
    ] == [False, False, False, False, True]
    assert [
        enforced(m, "mysql")
        for m in ("disabled", "preferred", "required", "verify-ca", "verify-identity")
    ] == [False, False, True, True, True]
