"""`dbseal backup` options of PostgreSQL sources (``--pg-*``), and their dbseal.toml table
``[sources.NAME.postgresql]`` (:mod:`dbseal.config.schema_postgresql`)."""

from __future__ import annotations

import argparse
from typing import Any


def add_pg_backup_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PostgreSQL sources (postgresql://)")
    g.add_argument(
        "--pg-jobs",
        type=int,
        metavar="N",
        help="pg_dump --jobs N (directory format, via a 0700 scratch directory on tmpfs when it "
        "has room); 1 (default) streams pg_dump --format=custom directly",
    )
    g.add_argument(
        "--pg-role-passwords",
        action="store_true",
        default=None,
        help="keep the roles' password hashes in the sealed globals (default: roles without passwords)",
    )
    g.add_argument(
        "--pg-no-globals",
        action="store_true",
        default=None,
        help="leave out pg_dumpall --globals-only (roles, tablespaces)",
    )


def pg_options(args: argparse.Namespace, source: str) -> dict[str, Any]:
    """:func:`pg_policy` for a PostgreSQL source; {} for another, which refuses --pg-*."""
    if source.split("://", 1)[0].lower() in ("postgresql", "postgres"):
        return pg_policy(args)
    given = [
        flag
        for flag, dest in (
            ("--pg-jobs", "pg_jobs"),
            ("--pg-role-passwords", "pg_role_passwords"),
            ("--pg-no-globals", "pg_no_globals"),
        )
        if getattr(args, dest, None)
    ]
    if given or getattr(args, "pg_source", None):
        from dbseal.errors import UsageError

        what = ", ".join(given) or "[sources.NAME.postgresql]"
        raise UsageError(
            f"{what} is for PostgreSQL sources; this source is {source.split('://', 1)[0]}://",
            hint="drop it, or back up a postgresql:// source",
        )
    return {}


def pg_policy(args: argparse.Namespace) -> dict[str, Any]:
    """The PostgreSQL dump policy from the options, then ``[sources.NAME.postgresql]``."""
    table: dict[str, Any] = getattr(args, "pg_source", None) or {}
    jobs = getattr(args, "pg_jobs", None) or table.get("jobs") or 1
    if jobs < 1 or jobs > 64:
        from dbseal.errors import UsageError

        raise UsageError(f"--pg-jobs {jobs} is out of range", hint="use 1 to 64")
    role_passwords = getattr(args, "pg_role_passwords", None)
    no_globals = getattr(args, "pg_no_globals", None)
    return {
        "jobs": jobs,
        "role_passwords": bool(
            role_passwords if role_passwords is not None else table.get("role_passwords", False)
        ),
        "globals_": not (no_globals if no_globals is not None else not table.get("globals", True)),
        # --scratch-dir (shared with physical MariaDB backups): where --pg-jobs > 1 dumps to
        "scratch_dir": getattr(args, "scratch_dir", None) or table.get("scratch_dir"),
    }


__all__ = ["add_pg_backup_options", "pg_options", "pg_policy"]
