"""Helpers of the physical-backup tests: a binlog sandbox, the stream extracted for real."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.crypto.recipients import Identity
from dbseal.crypto.x25519 import parse_identity_file
from dbseal.ops.restore import apply_backup
from dbseal.storage import open_backend


class MbstreamSink:
    """A restore sink that is ``mbstream -x -C DIR`` (the real extractor of the format)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["mbstream", "-x", "-C", str(directory)], stdin=subprocess.PIPE
        )

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(60)

    def abort(self) -> None:
        self.proc.kill()
        self.proc.wait()


def identities(path: Path) -> Sequence[Identity]:
    return parse_identity_file(path.read_text(), str(path))


def extract(location: str, bid: str, identity: Path, into: Path) -> Path:
    """Decrypt backup ``bid`` of the repository at ``location`` through ``mbstream -x``."""
    repo = Repository.open(open_backend(location))
    sink = MbstreamSink(into)
    apply_backup(repo, bid, identities(identity), sink)
    assert sink.proc.returncode == 0
    return into


def checkpoints(directory: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in (directory / "xtrabackup_checkpoints").read_text().splitlines():
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out
