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
