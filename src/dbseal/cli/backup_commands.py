"""`dbseal backup`, `restore` and `secret set`."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.cli.config import apply_config
from dbseal.cli.keyargs import PASSPHRASE_ENV, identities_from_args, open_keyring, parse_recipient
from dbseal.cli.output import make_reporter
from dbseal.cli.pg_args import pg_options
from dbseal.cli.pg_commands import cmd_pg_restore, is_pg_url, refuse_postgresql_backup
from dbseal.cli.physical_commands import backup_method, physical_source
from dbseal.cli.repoopen import open_repo
from dbseal.cli.runlock_args import run_lock
from dbseal.cli.secrets_args import secret_source
from dbseal.cli.targets import target_from_args
from dbseal.codecs import backup_threads, parse_codec
from dbseal.crypto.keyring import KeyringRecipient
from dbseal.crypto.passphrase import PassphraseRecipient
from dbseal.crypto.recipients import Recipient
from dbseal.crypto.secret import Secret
from dbseal.engines.mariadb.accounts_restore import (
    accounts_lines,
    accounts_tap,
    raise_if_accounts_failed,
    restore_accounts,
)
from dbseal.engines.mariadb.selection import Selection
from dbseal.errors import KeyringError, UsageError
from dbseal.monitoring.retries import StorageRetries
from dbseal.monitoring.sizes import human_size
from dbseal.ops.backup import run_backup
from dbseal.ops.restore import RestoreOptions, restore_backup
from dbseal.ops.secrets import load_secret, store_secret


def _password(args: argparse.Namespace, prefix: str, repo: Repository | None) -> Secret | None:
    src = secret_source(args, f"{prefix}password")
    if src.is_given():
        return src.get("database password")
    name = getattr(args, "password_secret", None) if not prefix else None
    if name and repo is not None:
        return load_secret(repo, name, identities_from_args(args))
    return None


def repo_recipients(repo: Repository, args: argparse.Namespace, for_what: str) -> list[Recipient]:
    """The repository's default recipients (age1..., awskms:...) plus any given with -r."""
    out: list[Recipient] = [parse_recipient(r) for r in repo.config.recipients]
    out += [parse_recipient(r) for r in getattr(args, "recipient", None) or []]
    ring_cfg = repo.config.keyring
    if ring_cfg:
        if not args.keyring:
            raise UsageError(
                f"the repository seals {for_what} for keyring {ring_cfg['id']} key {ring_cfg['key']}",
                hint="pass --keyring DIR (or set keyring in dbseal.toml)",
            )
        ring = open_keyring(args)
        if ring.keyring_id.hex() != ring_cfg["id"]:
            raise KeyringError(
                f"keyring {args.keyring} is {ring.keyring_id.hex()}, the repository uses {ring_cfg['id']}"
            )
        out.append(KeyringRecipient(ring, ring_cfg["key"]))
    src = secret_source(args, "passphrase", PASSPHRASE_ENV)
    if repo.config.passphrase and not src.is_given():
        raise UsageError(
            "the repository requires a passphrase recipient", hint="pass --passphrase-file F"
        )
    if src.is_given():  # required by the repository, or an extra recipient like -r
        out.append(PassphraseRecipient(src.get("passphrase", confirm=not repo.config.passphrase)))
    return out


def cmd_backup(args: argparse.Namespace) -> int:
    apply_config(args, args.name)
    if not args.source:
        raise UsageError(
            "no source given",
            hint="pass --source mysql://USER@HOST[:PORT][/DB,...] or a NAME from dbseal.toml",
        )
    with run_lock(args, "backup"):  # held for the whole backup (docs/operations.md, Run lock)
        return _backup(args)


def _backup(args: argparse.Namespace) -> int:
    from dbseal.engines.registry import engine_for_url

    repo = open_repo(args.repo, args)
    target = target_from_args(args, args.source, "")
    policy = {
        "client_older": repo.config.policy.client_older,
        "warnings": repo.config.policy.dump_warnings,
        "checksum_max_bytes": repo.config.policy.checksum_max_bytes,
        "table_checksum": repo.config.policy.table_checksum,
        "accounts": _accounts_choice(args.accounts),
        "exclude_databases": tuple(args.exclude_database or ()),
        "exclude_tables": tuple(args.exclude_table or ()),
        **pg_options(args, args.source),  # PostgreSQL's own fields (none for MariaDB)
    }
    engine = engine_for_url(args.source)
    method = backup_method(args)
    if method == "physical":
        source = physical_source(args, repo, engine, target, _password(args, "", repo))
    else:
        source = engine.backup_source(method, target, _password(args, "", repo), policy)
    recipients = repo_recipients(repo, args, "backups")
    codec = parse_codec(args.compress, threads=backup_threads()) if args.compress else None
    reporter = make_reporter(args)
    retries = StorageRetries(reporter, repo.backend)
    # A failure's error carries the failed manifest: with --json, main prints its id and reasons.
    manifest = run_backup(
        repo, source, recipients, codec, reporter, getattr(args, "backup_name", None)
    )
    if args.json:
        print(
            json.dumps(
                {
                    "id": manifest["id"],
                    "status": manifest["status"],
                    "reasons": manifest["reasons"],
                    "storage_retries": retries.count,
                }
            )
        )
    else:
        sizes = manifest["sizes"]
        print(
            f"backup {manifest['id']} {manifest['status']}: {human_size(sizes['raw'])} dumped, "
            f"{human_size(sizes['stored'])} stored, {manifest['duration_s']} s{retries.summary()}"
        )
        for reason in manifest["reasons"]:
            print(f"  warning: {reason}")
    return 0


def _accounts_choice(value: object) -> bool | None:
    """--accounts / --no-accounts, or ``accounts = true|false`` from dbseal.toml; None: default."""
    if value in ("yes", True):
        return True
    if value in ("no", False):
        return False
    return None


def _rename_map(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"invalid --rename-db {item!r}", hint="write --rename-db OLD=NEW")
        out[old] = new
    return out


def cmd_restore(args: argparse.Namespace) -> int:
    from dbseal.engines.mariadb.parallel_sink import MAX_JOBS, client_sink
    from dbseal.engines.mariadb.target_databases import MysqlTargetDatabases

    apply_config(args, None)
    if is_pg_url(args.target):  # the PostgreSQL engine's restore (cli/pg_commands.py)
        return cmd_pg_restore(args)
    if not 1 <= args.jobs <= MAX_JOBS:
        raise UsageError(f"--jobs must be between 1 and {MAX_JOBS}", hint="the default is 2")
    repo = open_repo(args.repo, args)
    target = target_from_args(args, args.target, "target-")
    if target.databases:
        raise UsageError(
            "the --target URL names a database; a restore recreates the backup's databases",
            hint="drop it from the URL; use --database NAME to pick databases, --rename-db OLD=NEW to rename",
        )
    rename = _rename_map(args.rename_db)
    only = frozenset(args.database) if args.database else None
    bid = repo.resolve(args.backup, args.source_name)
    manifest = repo.manifest(bid)  # read once, as before: storage tests count the reads
    refuse_postgresql_backup(manifest, bid, args.target)
    in_backup = set(manifest.get("databases") or [])
    unknown = sorted((set(rename) | (only or set())) - in_backup)
    if unknown:
        raise UsageError(
            f"backup {bid} has no database {', '.join(unknown)}; nothing was restored",
            hint=f"the backup holds: {', '.join(sorted(in_backup)) or 'no databases'}",
        )
    password = _password(args, "target-", None)
    identities = identities_from_args(args)
    reporter = make_reporter(args)
    retries = StorageRetries(reporter, repo.backend)
    tap = accounts_tap(repo.manifest(bid), bid, None) if args.accounts else None
    result = restore_backup(
        repo,
        bid,
        identities,
        lambda: client_sink(target, password, args.jobs),
        Selection(
            rename,
            only,
            keep_events_enabled=args.keep_events_enabled,
            allow_old_references=args.allow_old_references,
        ),
        MysqlTargetDatabases(target, password),
        RestoreOptions(
            replace=args.replace,
            verify_first=not args.no_verify_first,
            allow_failed=args.allow_failed,
            spool=not args.no_spool and not _is_local(repo),
            spool_dir=args.spool_dir,
        ),
        reporter=reporter,
        tap=tap.around if tap is not None else None,
    )
    applied = restore_accounts(target, password, tap.accounts) if tap is not None else None
    if applied is not None:
        result["accounts"] = dataclasses.asdict(applied)
    if args.json:
        print(json.dumps({**result, "storage_retries": retries.count}, default=str))
    else:
        print(_restore_summary(result, not args.no_verify_first, retries.summary()))
        for line in accounts_lines(applied) if applied is not None else []:
            print(f"  {line}")
    if applied is not None:
        raise_if_accounts_failed(bid, applied)
    return 0


def _is_local(repo: Repository) -> bool:
    """A repository on a local path (read directly: no spool), under any retry wrapper."""
    from dbseal.storage.local import LocalBackend

    backend = getattr(repo.backend, "inner", repo.backend)
    return isinstance(backend, LocalBackend)


def _restore_summary(result: dict[str, Any], verified: bool, retried: str = "") -> str:
    spooled = " (sealed data spooled locally)" if result.get("spooled") else ""
    first = (
        f"authenticated first{spooled} in {result['authenticate_s']} s, "
        if verified
        else "not authenticated first (--no-verify-first), "
    )
    line = f"restored backup {result['id']}: {human_size(result['bytes'])}; {first}applied in {result['apply_s']} s{retried}"
    labels = (
        ("created", "created"),
        ("replaced", "replaced (old contents dropped)"),
        ("existing_empty", "restored into existing empty database"),
    )
    for key, label in labels:
        if result.get(key):
            line += f"\n  {label}: {', '.join(result[key])}"
    if result.get("disabled_events"):
        line += (
            f"\n  disabled {len(result['disabled_events'])} event(s) in the renamed copy so it "
            f"does not run the source's jobs: {', '.join(result['disabled_events'])} "
            "(--keep-events-enabled keeps them enabled)"
        )
    if result.get("old_references"):
        line += "\n  warning: still naming a renamed database (allowed): " + ", ".join(
            result["old_references"]
        )
    return line


def cmd_secret_set(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    value = secret_source(args, "value").get(f"value of secret {args.name}", confirm=True)
    store_secret(repo, args.name, value, repo_recipients(repo, args, "secrets"))
    if args.json:
        print(json.dumps({"secret": args.name, "location": repo.backend.location}))
    else:
        print(f"stored sealed secret {args.name!r} in {repo.backend.location}")
    return 0


def cmd_secret_list(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    names = [name.removesuffix(".dbseal") for name in repo.backend.list("secret")]
    if args.json:
        print(json.dumps({"location": repo.backend.location, "secrets": names}))
    for name in [] if args.json else names:
        print(name)
    return 0


__all__ = [
    "cmd_backup",
    "cmd_restore",
    "cmd_secret_list",
    "cmd_secret_set",
    "io",
]
