"""Helpers for running `dbseal` as a user would: a separate process, real files, real pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The same entry point as the `dbseal` console script (dbseal.cli.main:main).
DBSEAL = [sys.executable, "-m", "dbseal.cli.main"]


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    rc: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def assert_error(self, code: int) -> str:
        """Exit ``code`` and exactly one `dbseal: error: ... (hint: ...)` line on stderr."""
        lines = self.stderr.splitlines()
        assert self.rc == code, f"{self.args}: exit {self.rc}, stderr {self.stderr!r}"
        assert len(lines) == 1, f"{self.args}: expected one stderr line, got {self.stderr!r}"
        assert lines[0].startswith("dbseal: error:"), lines[0]
        assert "hint:" in lines[0], lines[0]
        assert "Traceback" not in self.stderr
        return lines[0]


Runner = Callable[..., Result]


@dataclass(frozen=True)
class KeyPair:
    identity_file: Path
    recipient: str


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBSEAL_")}
    env.update(extra)
    return env


def run_dbseal(
    cwd: Path,
    *args: str | Path,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    pass_fds: tuple[int, ...] = (),
    timeout: float = 60,
) -> Result:
    """Run dbseal in ``cwd``; stdin is the given bytes (never a terminal)."""
    argv = tuple(str(a) for a in args)
    proc = subprocess.run(
        [*DBSEAL, *argv],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        cwd=cwd,
        env=clean_env(**(env or {})),
        pass_fds=pass_fds,
        timeout=timeout,
        check=False,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def private_file(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    path.chmod(0o600)
    return path
