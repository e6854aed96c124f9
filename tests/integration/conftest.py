"""Fixtures for tests against real servers that the suite starts itself on loopback.

Without the MariaDB binaries the tests are skipped on a workstation, but fail under CI
(``CI`` set), where the CI script installs mariadb-server and a skip would hide a gap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dbseal.errors import SandboxError
from dbseal.sandbox import MariaDBSandbox, find_binaries


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def mariadb_binaries() -> tuple[str, str]:
    """``(mariadb-install-db, mariadbd)``; skips (or fails under CI) when they are missing."""
    try:
        return find_binaries()
    except SandboxError as e:
        if _in_ci():
            pytest.fail(f"{e.message} (CI is set, so the CI script should have installed them)")
        pytest.skip(f"{e.message}; install mariadb-server to run the MariaDB integration tests")


@pytest.fixture(scope="session")
def mariadb(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """One throwaway MariaDB server with TLS for the whole test session."""
    with MariaDBSandbox(tls=True) as sandbox:
        yield sandbox


# -- sources and sinks (tests/integration/test_source_*.py, test_sink_*.py) ----------------


@pytest.fixture(scope="session")
def mariadb_restore(mariadb_binaries: tuple[str, str]) -> Iterator[MariaDBSandbox]:
    """A second throwaway MariaDB server (with TLS) to restore dumps into."""
    with MariaDBSandbox(tls=True) as sandbox:
        yield sandbox


@pytest.fixture
def scratch_dbs(mariadb: MariaDBSandbox, mariadb_restore: MariaDBSandbox) -> Iterator[list[str]]:
    """Names for fresh databases (append yours); dropped afterwards on both servers."""
    names: list[str] = []
    yield names
    for server in (mariadb, mariadb_restore):
        with server.connect() as conn, conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="session")
def big_db(mariadb: MariaDBSandbox) -> Iterator[str]:
    """A database on ``mariadb`` whose dump takes a moment: ``big`` holds about 24 MB."""
    name = "dbseal_big"
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("SET autocommit = 1")  # sandbox connections do not autocommit
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(
            f"CREATE TABLE `{name}`.big (id INT PRIMARY KEY AUTO_INCREMENT, pad VARCHAR(1000))"
        )
        cur.execute(
            f"INSERT INTO `{name}`.big (pad) SELECT REPEAT(MD5(seq), 25) FROM `{name}`.seq_1_to_30000"
        )
    yield name
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
