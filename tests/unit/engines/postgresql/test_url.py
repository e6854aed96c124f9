"""postgresql:// URLs: what a user writes, and the mistakes that are refused."""

from __future__ import annotations

import pytest

from dbseal.engines.postgresql.globals_sql import roles_to_create
from dbseal.engines.postgresql.url import parse_pg_url
from dbseal.errors import UsageError


def test_host_port_and_several_databases() -> None:
    t = parse_pg_url("postgresql://backup@127.0.0.1:6543/shop,crm")
    assert (t.user, t.host, t.port, t.databases) == ("backup", "127.0.0.1", 6543, ("shop", "crm"))
    assert t.ssl_mode == "prefer"  # loopback: TLS when offered
    assert "password" not in t.conninfo("shop")


def test_socket_directory_from_the_query_or_an_empty_host() -> None:
    t = parse_pg_url("postgresql://backup@/shop?host=/run/postgresql")
    assert t.host is None and t.socket == "/run/postgresql"
    assert "host='/run/postgresql'" in t.conninfo("shop") and "sslmode" not in t.conninfo("shop")
    assert parse_pg_url("postgres://backup@localhost/x?host=/tmp/s").socket == "/tmp/s"


def test_a_remote_server_gets_verify_full_and_weaker_modes_need_an_opt_out() -> None:
    t = parse_pg_url("postgresql://backup@db.example.com/shop?sslrootcert=/etc/ca.pem")
    assert t.ssl_mode == "verify-full" and "sslrootcert='/etc/ca.pem'" in t.conninfo("shop")
    with pytest.raises(UsageError, match="its identity would not be checked") as info:
        parse_pg_url("postgresql://backup@db.example.com/shop?sslmode=require")
    assert "--allow-insecure-remote" in info.value.one_line()
    ok = parse_pg_url(
        "postgresql://backup@db.example.com/shop", ssl_mode="require", allow_insecure_remote=True
    )
    assert ok.ssl_mode == "require"


def test_mariadb_mode_names_mean_the_same() -> None:
    assert (
        parse_pg_url("postgresql://u@db.example.com/x", ssl_mode="verify-identity").ssl_mode
        == "verify-full"
    )
    assert parse_pg_url("postgresql://u@127.0.0.1/x", ssl_mode="disabled").ssl_mode == "disable"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:secret@h/x", "contains a password"),
        ("postgresql://h/x", "names no role"),
        ("postgresql://u@h/x?sslmode=sometimes", "unknown sslmode"),
        ("postgresql://u@h/x?options=-c", "unknown URL parameter"),
        ("mysql://u@h/x", "not a PostgreSQL URL"),
    ],
)
def test_mistakes_are_refused(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_pg_url(url)
    assert "secret" not in info.value.message


def test_conninfo_quotes_values() -> None:
    t = parse_pg_url("postgresql://o%27brien@127.0.0.1/we%20ird")
    assert "user='o\\'brien'" in t.conninfo("we ird") and "dbname='we ird'" in t.conninfo("we ird")


def test_globals_create_only_the_roles_the_target_lacks() -> None:
    sql = (
        "SET default_transaction_read_only = off;\n"
        "CREATE ROLE app;\nALTER ROLE app WITH NOSUPERUSER LOGIN;\n"
        'CREATE ROLE "Mixed Case";\nALTER ROLE "Mixed Case" WITH LOGIN;\n'
        "CREATE ROLE dbseal;\nALTER ROLE dbseal WITH SUPERUSER;\n"
        'GRANT app TO "Mixed Case" GRANTED BY dbseal;\n'
    )
    script, created = roles_to_create(sql, {"dbseal"})
    assert created == ["app", "Mixed Case"]
    assert "ALTER ROLE dbseal" not in script and "CREATE ROLE dbseal" not in script
    assert 'GRANT app TO "Mixed Case"' in script
