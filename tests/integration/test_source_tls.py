"""TLS: refused clearly before dumping when the server cannot prove who it is, enforced by the client too."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb import MysqlClientSink, MysqldumpSource, parse_mysql_url
from dbseal.engines.mariadb.defaults_file import ClientOptionsFile
from dbseal.engines.mariadb.mysql_url import MySQLTarget
from dbseal.engines.mariadb.sandbox import MariaDBSandbox
from dbseal.engines.mariadb.tools import CLIENT_PROGRAMS, find_tool
from dbseal.errors import DatabaseTLSError

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def plain_server(
    mariadb_binaries: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MariaDBSandbox]:
    with MariaDBSandbox(tls=False, parent_dir=tmp_path_factory.mktemp("plain")) as server:
        yield server


@pytest.fixture(scope="module")
def misnamed_server(
    mariadb_binaries: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MariaDBSandbox]:
    with MariaDBSandbox(
        server_names=["wrong.example"], parent_dir=tmp_path_factory.mktemp("wrong")
    ) as server:
        yield server


def target(server: MariaDBSandbox, mode: str, ca: Path | None) -> MySQLTarget:
    return parse_mysql_url(
        f"mysql://root@127.0.0.1:{server.port}/mysql",
        ssl_mode=mode,
        ssl_ca=str(ca) if ca else None,
    )


def start_fails(server: MariaDBSandbox, mode: str, ca: Path | None) -> DatabaseTLSError:
    source = MysqldumpSource(target(server, mode, ca), Secret(server.root_password.encode()))
    with pytest.raises(DatabaseTLSError) as info:
        source.start()
    assert info.value.exit_code == 22
    return info.value


@pytest.mark.parametrize("mode", ["required", "verify-ca", "verify-identity"])
def test_server_without_tls(
    plain_server: MariaDBSandbox, mariadb: MariaDBSandbox, mode: str
) -> None:
    error = start_fails(plain_server, mode, mariadb.ca_cert)
    assert "the server offers no TLS" in error.message


def test_certificate_for_another_host(misnamed_server: MariaDBSandbox) -> None:
    error = start_fails(misnamed_server, "verify-identity", misnamed_server.ca_cert)
    assert "does not match host '127.0.0.1'" in error.message


def test_certificate_from_another_ca(
    misnamed_server: MariaDBSandbox, mariadb: MariaDBSandbox
) -> None:
    for mode in ("verify-ca", "verify-identity"):
        error = start_fails(misnamed_server, mode, mariadb.ca_cert)
        assert "not signed by the CA" in error.message and str(mariadb.ca_cert) in error.message


def test_verify_ca_accepts_the_misnamed_server_and_says_what_it_cannot_enforce(
    misnamed_server: MariaDBSandbox,
) -> None:
    source = MysqldumpSource(
        target(misnamed_server, "verify-ca", misnamed_server.ca_cert),
        Secret(misnamed_server.root_password.encode()),
    )
    assert source.describe()["tls_enforced_by_client"] is False
    with source.start() as run:
        run.read()
        result = run.finish()
    assert result.status == "warnings"
    assert result.tls is not None
    assert any("cannot be made to refuse plaintext" in r for r in result.reasons)


def test_preferred_over_a_plain_server_is_plaintext_and_recorded(
    plain_server: MariaDBSandbox,
) -> None:
    source = MysqldumpSource(
        target(plain_server, "preferred", None), Secret(plain_server.root_password.encode())
    )
    with source.start() as run:
        run.read()
        result = run.finish()
    assert result.tls is None
    assert result.status != "failed", result.reasons


def _client_with_options(
    server: MariaDBSandbox, mode: str, ca: Path
) -> subprocess.CompletedProcess[bytes]:
    """The mariadb client alone, with dbseal's option file: does it enforce TLS itself?"""
    tool = find_tool(CLIENT_PROGRAMS)
    secret = Secret(server.root_password.encode())
    with ClientOptionsFile(target(server, mode, ca), secret, tool.flavor) as opts:
        return subprocess.run(
            [tool.path, opts.argument, "--batch", "-e", "SHOW SESSION STATUS LIKE 'Ssl_cipher'"],
            capture_output=True,
            env=opts.env,
            check=False,
        )


def test_the_client_program_itself_refuses_with_verify_identity(
    plain_server: MariaDBSandbox, misnamed_server: MariaDBSandbox, mariadb: MariaDBSandbox
) -> None:
    plain = _client_with_options(plain_server, "verify-identity", mariadb.ca_cert)
    assert (
        plain.returncode != 0
        and b"SSL is required, but the server does not support it" in plain.stderr
    )
    wrong = _client_with_options(misnamed_server, "verify-identity", misnamed_server.ca_cert)
    assert wrong.returncode != 0 and b"certificate" in wrong.stderr.lower()
    good = _client_with_options(mariadb, "verify-identity", mariadb.ca_cert)
    assert good.returncode == 0 and b"TLS_" in good.stdout


def test_sink_checks_tls_before_sending_anything(misnamed_server: MariaDBSandbox) -> None:
    with pytest.raises(DatabaseTLSError, match="does not match host"):
        MysqlClientSink(
            target(misnamed_server, "verify-identity", misnamed_server.ca_cert),
            Secret(misnamed_server.root_password.encode()),
        )
