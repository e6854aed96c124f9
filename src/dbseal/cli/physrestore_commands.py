"""`dbseal restore ID --datadir DIR`: a physical chain into a datadir (else: logical)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dbseal.cli.config import apply_config
from dbseal.cli.keyargs import identities_from_args
from dbseal.cli.output import make_reporter
from dbseal.cli.repoopen import open_repo
from dbseal.errors import UsageError
from dbseal.monitoring.sizes import human_size

# restore options that only mean something for a logical restore into a server
_LOGICAL_ONLY = (
    ("--target", "target"),
    ("--database", "database"),
    ("--rename-db", "rename_db"),
    ("--replace", "replace"),
    ("--accounts", "accounts"),
    ("--keep-events-enabled", "keep_events_enabled"),
    ("--allow-old-references", "allow_old_references"),
    ("--no-verify-first", "no_verify_first"),
    ("--allow-failed", "allow_failed"),
)
_PHYSICAL_ONLY = (
    ("--prepare-memory", "prepare_memory"),
    ("--user", "datadir_user"),
    ("--key-file", "key_file"),
    ("--key-dir", "key_dir"),
)


def cmd_restore_any(args: argparse.Namespace) -> int:
    if getattr(args, "datadir", None):
        return cmd_restore_datadir(args)
    given = [flag for flag, dest in _PHYSICAL_ONLY if getattr(args, dest, None)]
    if given:
        raise UsageError(f"{', '.join(given)} are for a physical restore", hint="add --datadir DIR")
    if not getattr(args, "target", None):
        raise UsageError(
            "restore needs --target mysql://USER@HOST (a logical backup into a server) or "
            "--datadir DIR (a physical backup into a new datadir)",
            hint="see `dbseal restore --help`",
        )
    _refuse_physical(args)
    from dbseal.cli.backup_commands import cmd_restore

    return cmd_restore(args)


def _refuse_physical(args: argparse.Namespace) -> None:
    """A physical backup is data files, not SQL: it never goes to --target."""
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    bid = repo.resolve(args.backup, args.source_name)
    if str(repo.manifest(bid).get("method") or "logical") == "physical":
        raise UsageError(
            f"backup {bid} is a physical backup (mariadb-backup's files, not SQL): it is "
            "restored into a datadir, not into a server",
            hint=f"dbseal restore {bid} --datadir NEW_DIR (then start a server on it)",
        )


def _options(args: argparse.Namespace) -> Any:
    from dbseal.engines.mariadb.physical_restore import RestorerOptions, default_owner
    from dbseal.engines.mariadb.prepare import default_memory, parse_size

    memory = default_memory()
    if args.prepare_memory:
        try:
            memory = parse_size(args.prepare_memory)
        except ValueError as exc:
            raise UsageError(f"--prepare-memory: {exc}") from None
    return RestorerOptions(
        memory=memory,
        owner=args.datadir_user or default_owner(),
        key_file=Path(args.key_file) if args.key_file else None,
        key_dir=Path(args.key_dir).absolute() if args.key_dir else None,
    )


def cmd_restore_datadir(args: argparse.Namespace) -> int:
    from dbseal.engines.mariadb.physical_restore import MariabackupRestorer
    from dbseal.ops.restore_physical import restore_physical

    given = [flag for flag, dest in _LOGICAL_ONLY if getattr(args, dest, None)]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be used with --datadir (a physical restore writes a "
            "whole new datadir)",
            hint="drop them, or restore a logical backup with --target instead of --datadir",
        )
    apply_config(args, None)
    options = _options(args)  # usage errors before the repository is opened
    repo = open_repo(args.repo, args)
    restorer = MariabackupRestorer(Path(args.datadir), options)
    result = restore_physical(
        repo,
        args.backup,
        identities_from_args(args),
        restorer,
        make_reporter(args),
        args.source_name,
    )
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(summary(result))
    return 0


def by_method(logical: Any) -> Any:
    """A verify restore check: ``logical`` for logical backups, the physical check (a
    restored datadir and a throwaway mariadbd on it) for physical ones."""
    from dbseal.ops.verify import RoutedCheck

    def choose(manifest: Any) -> Any:
        if str(manifest.get("method") or "logical") == "physical":
            from dbseal.engines.mariadb.verify_physical import physical_check

            return physical_check
        return logical

    return RoutedCheck(choose)


def summary(result: dict[str, Any]) -> str:
    chain = result["chain"]
    of = f" (chain: full {chain[0]} + {len(chain) - 1} incremental(s))" if len(chain) > 1 else ""
    lines = [
        f"restored backup {result['id']}{of} into {result['datadir']}: "
        f"{human_size(result['bytes'])}; authenticated in {result['authenticate_s']} s, "
        f"extracted in {result['extract_s']} s, prepared in {result['prepare_s']} s",
    ]
    if result.get("owner"):
        lines.append(f"  owner: {result['owner']}")
    for path in result.get("key_files_written") or []:
        lines.append(f"  key file written: {path} (0600)")
    for path in result.get("removed_leftovers") or []:
        lines.append(f"  removed what an interrupted restore left: {path}")
    binlog = result.get("binlog")
    if isinstance(binlog, dict) and binlog.get("file"):
        gtid = f", GTID {binlog['gtid']}" if binlog.get("gtid") else ""
        lines.append(
            f"  binary log position of the backup: {binlog['file']}:{binlog.get('position')}{gtid}"
        )
    lines.append("  to start a server on it, put these lines in its my.cnf, then start it:")
    lines += [f"    {line}" for line in result.get("my_cnf") or []]
    lines.append("  (e.g. `systemctl start mariadb`, or `mariadbd --defaults-file=THAT_FILE`)")
    return "\n".join(lines)


__all__ = ["by_method", "cmd_restore_any", "cmd_restore_datadir", "summary"]
