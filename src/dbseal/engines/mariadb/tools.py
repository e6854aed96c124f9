"""Finding the client programs (``mariadb-dump``/``mysqldump``, ``mariadb``/``mysql``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Final

from dbseal.engines.mariadb.defaults_file import Flavor, child_env
from dbseal.engines.mariadb.versions import Version, parse_client_version
from dbseal.errors import DumpToolError

SEARCH_DIRS: Final = ("/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin")
DUMP_PROGRAMS: Final = ("mariadb-dump", "mysqldump")
CLIENT_PROGRAMS: Final = ("mariadb", "mysql")


@dataclass(frozen=True)
class Tool:
    """A client program, its ``--version`` line and the version parsed from it."""

    path: str
    version_line: str
    version: Version | None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def flavor(self) -> Flavor:
        """``mariadb`` or ``mysql``; an unrecognised client is treated as MariaDB's."""
        return self.version.flavor if self.version else "mariadb"


def find_tool(names: tuple[str, ...]) -> Tool:
    """The first of ``names`` found in PATH or :data:`SEARCH_DIRS`, with its version."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SEARCH_DIRS])
    for name in names:
        path = shutil.which(name, path=search)
        if path is not None:
            return Tool(path, *_version(path))
    raise DumpToolError(
        f"{' or '.join(names)} not found in PATH or {', '.join(SEARCH_DIRS)}",
    )


def _version(path: str) -> tuple[str, Version | None]:
    try:
        proc = subprocess.run(
            [path, "--no-defaults", "--version"],
            capture_output=True,
            timeout=30,
            check=False,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DumpToolError(f"cannot run {path} --version: {exc}") from None
    line = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or not line:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise DumpToolError(
            f"{path} --version failed with status {proc.returncode}: {err[:200] or 'no output'}"
        )
    line = line.splitlines()[0]
    return line, parse_client_version(line)


# Rows of system-versioned tables FOR SYSTEM_TIME ALL, with their row_start/row_end.
HISTORY_OPTIONS: tuple[str, ...] = ("--dump-history",)


def dumps_history(tool: Tool) -> bool:
    """MariaDB's client dumps system-versioned history since 10.11 (``--dump-history``)."""
    v = tool.version
    return v is not None and v.flavor == "mariadb" and v.number >= (10, 11, 0)
