"""`dbseal restore --target postgresql://...` (cmd_restore hands PostgreSQL targets here)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from dbseal.cli.keyargs import identities_from_args
from dbseal.cli.output import make_reporter
from dbseal.cli.repoopen import open_repo
from dbseal.cli.secrets_args import secret_source
from dbseal.cli.targets import target_from_args
from dbseal.crypto.secret import Secret
from dbseal.errors import UsageError
from dbseal.monitoring.sizes import human_size


def is_pg_url(url: str | None) -> bool:
    return bool(url) and str(url).split("://", 1)[0].lower() in ("postgresql", "postgres")


def refuse_postgresql_backup(manifest: Mapping[str, Any], bid: str, target: str) -> None:
    """A PostgreSQL backup never goes into a MariaDB restore (the other way: cmd_pg_restore)."""
    if (manifest.get("source") or {}).get("engine") == "postgresql":
        raise UsageError(
            f"backup {bid} is a PostgreSQL backup; it cannot be restored into {target.split('?')[0]}",
            hint="restore it with --target postgresql://USER@HOST[:PORT]",
        )


def _password(args: argparse.Namespace) -> Secret | None:
    src = secret_source(args, "target-password")
    return src.get("database password") if src.is_given() else None


def _rename_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"invalid --rename-db {item!r}", hint="write --rename-db OLD=NEW")
        out[old] = new
    return out


def cmd_pg_restore(args: argparse.Namespace) -> int:
    from dbseal.engines.postgresql.restore import MAX_JOBS, PgRestorePlan
    from dbseal.engines.postgresql.restore_run import (
        encodings_of,
        is_postgresql,
        restore_pg,
        target_names,
    )

    if not 1 <= args.jobs <= MAX_JOBS:
        raise UsageError(f"--jobs must be between 1 and {MAX_JOBS}", hint="the default is 2")
    repo = open_repo(args.repo, args)
    target = target_from_args(args, args.target, "target-")
    bid = repo.resolve(args.backup, args.source_name)
    manifest = repo.manifest(bid)
    if not is_postgresql(manifest):
        raise UsageError(
            f"backup {bid} is not a PostgreSQL backup; it cannot be restored into {target.describe()}",
            hint="restore it into a server of its own engine (mysql://...)",
        )
    if (manifest.get("source") or {}).get("kind") == "postgresql-physical":
        raise UsageError(
            f"backup {bid} is a base backup (pg_basebackup) of a whole cluster; it cannot be "
            "restored into a running server",
            hint="`dbseal verify --level restore` recovers it in a throwaway server; restoring "
            "it into a data directory is not supported yet (docs/postgresql.md)",
        )
    if len(target.databases) > 1:
        raise UsageError("the --target URL names several databases", hint="name at most one")
    names = target_names(
        manifest,
        args.database,
        _rename_map(args.rename_db or []),
        target.databases[0] if target.databases else None,
    )
    plan = PgRestorePlan(
        target.with_databases(()),
        _password(args),
        names,
        jobs=args.jobs,
        replace=args.replace,
        accounts=args.accounts,
        scratch_dir=args.spool_dir,
        encodings=encodings_of(manifest),
    )
    result = restore_pg(
        repo,
        bid,
        identities_from_args(args),
        plan,
        make_reporter(args),
        verify_first=not args.no_verify_first,
        allow_failed=args.allow_failed,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    first = (
        f"authenticated first in {result['authenticate_s']} s, "
        if not args.no_verify_first
        else "not authenticated first (--no-verify-first), "
    )
    print(
        f"restored backup {bid}: {human_size(result['bytes'])}; {first}applied in "
        f"{result['apply_s']} s with pg_restore --jobs {plan.jobs}"
    )
    for key, label in (
        ("created", "created"),
        ("replaced", "replaced (old contents dropped)"),
        ("existing_empty", "restored into existing empty database"),
        ("roles_created", "roles created"),
    ):
        if result.get(key):
            print(f"  {label}: {', '.join(result[key])}")
    for msg in result["messages"]:
        print(f"  note: {msg}")
    return 0


__all__ = ["cmd_pg_restore", "is_pg_url", "refuse_postgresql_backup"]
