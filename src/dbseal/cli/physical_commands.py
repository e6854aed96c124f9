"""The source `dbseal backup` builds for ``--method physical`` (full or incremental)."""

from __future__ import annotations

import argparse
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.catalog.source_names import derive_source_name
from dbseal.cli.keyargs import identities_from_args
from dbseal.crypto.secret import Secret
from dbseal.engines.base import BackupSource, Engine
from dbseal.errors import UsageError
from dbseal.ops.incremental import incremental_base


def backup_method(args: argparse.Namespace) -> str:
    method = str(getattr(args, "method", None) or "logical")
    if method != "physical":
        if getattr(args, "incremental", False) or getattr(args, "base", None):
            raise UsageError(
                "--incremental and --base are for physical backups",
                hint='add --method physical (or method = "physical" in dbseal.toml)',
            )
        return method
    unsupported = [
        flag
        for flag, value in (
            ("--accounts/--no-accounts", getattr(args, "accounts", None)),
            ("--exclude-database", getattr(args, "exclude_database", None)),
            ("--exclude-table", getattr(args, "exclude_table", None)),
        )
        if value
    ]
    if unsupported:
        raise UsageError(
            f"{', '.join(unsupported)} cannot be used with --method physical "
            "(a physical backup copies the whole server, accounts included)",
            hint="drop them, or use --method logical",
        )
    if getattr(args, "base", None) and not getattr(args, "incremental", False):
        raise UsageError("--base is for --incremental backups", hint="add --incremental")
    return method


def physical_source(
    args: argparse.Namespace,
    repo: Repository,
    engine: Engine,
    target: Any,
    password: Secret | None,
) -> BackupSource:
    options: dict[str, Any] = {"scratch_dir": getattr(args, "scratch_dir", None)}
    if getattr(args, "incremental", False):
        full = engine.backup_source("physical", target, password, options)
        name = getattr(args, "backup_name", None) or derive_source_name(full.describe())
        base = incremental_base(repo, name, identities_from_args(args), args.base)
        options |= {"parent": base.id, "incremental_lsn": base.to_lsn}
    return engine.backup_source("physical", target, password, options)


__all__ = ["backup_method", "physical_source"]
