"""``mariadb-backup --prepare`` of an extracted chain, and the checks before it.

The full backup is prepared first (``--prepare --target-dir=full``), then each
incremental is applied in order (``--prepare --target-dir=full --incremental-dir=inc_N``,
MariaDB 10.2+ needs no ``--apply-log-only``). As for the backup, the exit status alone is
not trusted: the messages must end with ``completed OK!`` and hold no ``[ERROR]``.

mariadb-backup reads the key plugin's settings from ``backup-my.cnf`` in the backup; when
the backup carries the key file (:mod:`dbseal.engines.mariadb.keyfile`), the copies in the
staging directory replace the original paths there, so prepare works on a machine that
never had them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dbseal.errors import BackupToolMismatch, PrepareFailed

PROGRAMS = ("mariadb-backup", "mariabackup")
SEARCH_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin")
COMPLETED = "completed OK!"
DEFAULT_MAX_MEMORY = 1 << 30
MIN_MEMORY = 64 << 20
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_SIZE = re.compile(r"(\d+)([KMGT]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_FILEKEY = "file_key_management_filekey"
_FILENAME = "file_key_management_filename"


def parse_size(text: str) -> int:
    """``512M``, ``1G``, ``2GiB``, ``1073741824`` -> bytes."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 512M or 2G)")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def default_memory() -> int:
    """A quarter of MemAvailable, at most 1 GiB, at least 64 MiB."""
    available = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    if not available:
        return DEFAULT_MAX_MEMORY
    return max(MIN_MEMORY, min(DEFAULT_MAX_MEMORY, available // 4))


def find_tool() -> tuple[str, str]:
    """``(path, version line)`` of mariadb-backup, or BackupToolMismatch."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SEARCH_DIRS])
    for name in PROGRAMS:
        path = shutil.which(name, path=search)
        if path is None:
            continue
        try:
            out = subprocess.run([path, "--version"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupToolMismatch(f"{path} --version failed: {exc}") from None
        text = (out.stdout + out.stderr).decode("utf-8", "replace").strip()
        return path, text.splitlines()[0] if text else ""
    raise BackupToolMismatch(
        "a physical restore needs mariadb-backup (to prepare the backup), and it was not "
        f"found in PATH or {', '.join(SEARCH_DIRS)}"
    )


def _major_minor(text: str | None) -> tuple[int, int] | None:
    m = _VERSION.search(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_tool(tool_version: str, chain: Sequence[Mapping[str, Any]]) -> None:
    """The local mariadb-backup must be of the backed-up server's major.minor."""
    mine = _major_minor(tool_version.split("server", 1)[-1])
    for m in chain:
        server = str(m.get("server_version") or "")
        theirs = _major_minor(server)
        if theirs is not None and mine is not None and theirs != mine:
            raise BackupToolMismatch(
                f"backup {m.get('id')} is of a MariaDB {server} server and this "
                f"mariadb-backup is {tool_version!r}: prepare needs the same major.minor "
                f"({theirs[0]}.{theirs[1]})",
                hint=f"install mariadb-backup {theirs[0]}.{theirs[1]} on this machine "
                "(with the matching server package) and restore again",
            )


def point_at_keys(member_dir: Path, keyfile: Path | None, filekey: Path | None) -> None:
    """Rewrite ``backup-my.cnf`` so the key plugin reads the staged copies."""
    cnf = member_dir / "backup-my.cnf"
    if not cnf.is_file() or (keyfile is None and filekey is None):
        return
    lines = []
    for line in cnf.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key == _FILENAME and keyfile is not None:
            line = f"{_FILENAME}={keyfile}"
        elif key == _FILEKEY and filekey is not None:
            line = f"{_FILEKEY}=FILE:{filekey}"
        lines.append(line)
    cnf.write_text("\n".join(lines) + "\n")


def _redact(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if len(s) >= 4:
            text = text.replace(s, "***")
    # mariadb-backup prints each plugin parameter, a literal filekey included
    return re.sub(rf"({_FILEKEY}=)(?!FILE:)[^'\s]+", r"\1***", text)


def run_prepare(
    tool: str,
    full: Path,
    incremental: Path | None,
    memory: int,
    log: Path,
    secrets: Sequence[str] = (),
) -> None:
    """One ``--prepare`` step; raises PrepareFailed quoting mariadb-backup."""
    args = [tool, "--prepare", f"--target-dir={full}", f"--use-memory={memory}"]
    if incremental is not None:
        args.append(f"--incremental-dir={incremental}")
    what = (
        f"applying {incremental.name}" if incremental is not None else "preparing the full backup"
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait()
        except BaseException:  # Ctrl-C, SIGTERM: the child goes too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    text = log.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "[ERROR]" in ln or "FATAL" in ln]
    if rc != 0 or errors or not lines or COMPLETED not in lines[-1]:
        shown = (errors or lines[-3:] or ["no output"])[:3]
        raise PrepareFailed(
            f"mariadb-backup failed {what} (exit status {rc}): "
            + _redact(" | ".join(s.strip() for s in shown), secrets)
        )


__all__ = [
    "check_tool",
    "default_memory",
    "find_tool",
    "parse_size",
    "point_at_keys",
    "run_prepare",
]
