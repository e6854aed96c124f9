"""dbseal.toml keys of the backup methods: ``method`` and ``scratch_dir`` per source."""

from __future__ import annotations

from typing import Literal

BackupMethod = Literal["logical", "physical"]
METHOD_HELP = (
    "logical (mariadb-dump, the default) or physical (mariadb-backup, on the database host)"
)
SCRATCH_HELP = "a directory path (a string) for mariadb-backup's metadata files"

__all__ = ["METHOD_HELP", "SCRATCH_HELP", "BackupMethod"]
