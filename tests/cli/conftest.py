"""Fixtures for the CLI tests: a `dbseal` runner in a temporary directory, and a key pair."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from cli.clikit import KeyPair, Runner, run_dbseal


@pytest.fixture
def dbseal(tmp_path: Path) -> Runner:
    """``dbseal(*args, stdin=b"...", env={...})`` run in tmp_path."""
    return functools.partial(run_dbseal, tmp_path)


@pytest.fixture
def keypair(dbseal: Runner, tmp_path: Path) -> KeyPair:
    """An identity made by `dbseal keygen -o`, and the recipient it printed."""
    res = dbseal("keygen", "-o", "id.txt")
    assert res.rc == 0, res.stderr
    return KeyPair(tmp_path / "id.txt", res.out.strip())
