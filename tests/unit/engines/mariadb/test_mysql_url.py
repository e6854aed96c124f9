"""mysql:// URLs: no password ever, TLS by default for remote servers, loopback stays easy."""

from __future__ import annotations

import pytest

from dbseal.engines.mariadb.mysql_url import MySQLTarget, is_local_host, parse_mysql_url
from dbseal.errors import UsageError


def test_full_url() -> None:
    t = parse_mysql_url("mysql://backup@db.example.com:3307/shop,crm")
    assert t == MySQLTarget(
        user="backup",
        host="db.example.com",
        port=3307,
        databases=("shop", "crm"),
        ssl_mode="verify-identity",
    )
    assert t.address() == "backup@db.example.com:3307"


def test_mariadb_scheme_defaults_and_all_databases() -> None:
    t = parse_mysql_url("mariadb://root@127.0.0.1")
    assert (t.host, t.port, t.databases, t.ssl_mode) == ("127.0.0.1", 3306, (), "preferred")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:Hunter2xyz@db.example.com/shop",
        "mysql://root:@localhost/",
        "mysql://root@h/db?password=Hunter2xyz",
    ],
)
def test_password_in_url_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(UsageError, match="password") as info:
        parse_mysql_url(url)
    assert "Hunter2xyz" not in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("mode", ["disabled", "preferred"])
def test_remote_without_tls_is_refused_and_names_the_opt_out(mode: str) -> None:
    with pytest.raises(UsageError, match="TLS is required for remote servers") as info:
        parse_mysql_url("mysql://u@db.example.com/shop", ssl_mode=mode)
    assert "--allow-insecure-remote" in info.value.hint
    t = parse_mysql_url("mysql://u@db.example.com/shop", ssl_mode=mode, allow_insecure_remote=True)
    assert t.ssl_mode == mode


def test_remote_with_required_tls_is_accepted() -> None:
    assert parse_mysql_url("mysql://u@10.0.0.5/x?ssl-mode=required").ssl_mode == "required"


@pytest.mark.parametrize(
    ("host", "local"),
    [
        (None, True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.4.5.6", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("db.example.com", False),
        ("localhost.example.com", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_local_hosts(host: str | None, local: bool) -> None:
    assert is_local_host(host) is local


def test_loopback_may_be_plaintext() -> None:
    assert parse_mysql_url("mysql://u@localhost/db?ssl-mode=disabled").ssl_mode == "disabled"
    assert parse_mysql_url("mysql://u@[::1]:3310/db").port == 3310


def test_socket_and_query_parameters() -> None:
    t = parse_mysql_url("mysql://u@/a%2Cb,c?socket=/run/my.sock&ssl-ca=/ca.pem&tls-version=TLSv1.3")
    assert t.host is None and t.socket == "/run/my.sock"
    assert t.databases == ("a,b", "c")
    assert (t.ssl_ca, t.tls_versions, t.ssl_mode) == ("/ca.pem", "TLSv1.3", "preferred")
    assert t.address() == "u@socket:/run/my.sock"


def test_overrides_win_over_the_url() -> None:
    t = parse_mysql_url(
        "mysql://u@db.example.com/x", ssl_ca="/etc/ca.pem", port=3399, ssl_mode=None
    )
    assert (t.ssl_ca, t.port, t.ssl_mode) == ("/etc/ca.pem", 3399, "verify-identity")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://u@h/db", "not a MySQL URL"),
        ("mysql://h/db", "no user"),
        ("mysql://u@h:99999/db", "port"),
        ("mysql://u@h/db?ssl-mode=sometimes", "unknown ssl mode"),
        ("mysql://u@h/db?colour=blue", "unknown URL parameter"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_mysql_url(url)


def test_unknown_override_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown connection setting"):
        parse_mysql_url("mysql://u@localhost/", password="x")
