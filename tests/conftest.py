"""Fixtures shared by the unit and CLI tests. Helpers live in tests/unit/sealkit.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbseal.crypto.x25519 import X25519Identity


@pytest.fixture
def identity() -> X25519Identity:
    return X25519Identity.generate()


@pytest.fixture
def identity_file(tmp_path: Path, identity: X25519Identity) -> Path:
    """An identity file as `dbseal keygen -o` writes it (mode 0600)."""
    path = tmp_path / "identity.txt"
    path.write_text(identity.identity_file_text())
    path.chmod(0o600)
    return path
