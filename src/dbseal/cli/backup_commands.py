"""`dbseal backup`, `restore` and `secret set`."""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import Any

from dbseal.catalog.repository import Repository
from dbseal.catalog.secrets import load_secret, store_secret
from dbseal.cli.config import apply_config
from dbseal.cli.keyargs import PASSPHRASE_ENV, identities_from_args, open_keyring, parse_recipient
from dbseal.cli.repo_commands import open_repo
from dbseal.cli.secrets_args import secret_source
from dbseal.codecs import backup_threads, parse_codec
from dbseal.crypto.keyring import KeyringRecipient
from dbseal.crypto.passphrase import PassphraseRecipient
from dbseal.crypto.recipients import Recipient
from dbseal.crypto.secret import Secret
from dbseal.errors import DbsealError, KeyringError, UsageError
from dbseal.monitoring.progress import ProgressReporter
from dbseal.monitoring.reporter import JsonLinesReporter, NullReporter, Reporter
from dbseal.monitoring.retries import StorageRetries
from dbseal.ops.backup import run_backup
from dbseal.ops.restore import restore_backup


def _target(args: argparse.Namespace, url: str, prefix: str) -> Any:
    from dbseal.sources.mysql_url import parse_mysql_url

    d = prefix.replace("-", "_")
    overrides = {
        k: getattr(args, f"{d}{k}")
        for k in ("socket", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key", "ssl_cipher")
        if getattr(args, f"{d}{k}", None)
    }
    if getattr(args, f"{d}tls_version", None):
        overrides["tls_versions"] = getattr(args, f"{d}tls_version")
    if getattr(args, f"{d}allow_insecure_remote", False):
        overrides["allow_insecure_remote"] = True
    return parse_mysql_url(url, **overrides)


def _password(args: argparse.Namespace, prefix: str, repo: Repository | None) -> Secret | None:
    src = secret_source(args, f"{prefix}password")
    if src.is_given():
        return src.get("database password")
    name = getattr(args, "password_secret", None) if not prefix else None
    if name and repo is not None:
        return load_secret(repo, name, identities_from_args(args))
    return None


def _reporter(args: argparse.Namespace) -> Reporter:
    if getattr(args, "json", False):
        return JsonLinesReporter(sys.stderr)
    if sys.stderr.isatty():
        return ProgressReporter()
    return NullReporter()


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
    from dbseal.sources.mysqldump import DumpPolicy, MysqldumpSource

    repo = open_repo(args.repo, args)
    target = _target(args, args.source, "")
    policy = DumpPolicy(
        client_older=repo.config.policy.client_older,  # type: ignore[arg-type]
        warnings=repo.config.policy.dump_warnings,  # type: ignore[arg-type]
        checksum_max_bytes=repo.config.policy.checksum_max_bytes,
        table_checksum=repo.config.policy.table_checksum,  # type: ignore[arg-type]
    )
    source = MysqldumpSource(target, _password(args, "", repo), policy)
    recipients = repo_recipients(repo, args, "backups")
    codec = parse_codec(args.compress, threads=backup_threads()) if args.compress else None
    reporter = _reporter(args)
    retries = StorageRetries(reporter, repo.backend)
    try:
        manifest = run_backup(
            repo, source, recipients, codec, reporter, getattr(args, "backup_name", None)
        )
    except DbsealError as exc:
        failed = getattr(exc, "manifest", None)
        if args.json and failed is not None:
            doc = {"id": failed["id"], "status": failed["status"], "reasons": failed["reasons"]}
            print(json.dumps({**doc, "exit_code": exc.exit_code, "storage_retries": retries.count}))
        raise
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
            f"backup {manifest['id']} {manifest['status']}: {sizes['raw']} bytes dumped, "
            f"{sizes['stored']} stored, {manifest['duration_s']} s{retries.summary()}"
        )
        for reason in manifest["reasons"]:
            print(f"  warning: {reason}")
    return 0


def _rename_map(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"invalid --rename-db {item!r}", hint="write --rename-db OLD=NEW")
        out[old] = new
    return out


def cmd_restore(args: argparse.Namespace) -> int:
    from dbseal.sources.mysql_sink import RenameFilter
    from dbseal.sources.parallel_sink import MAX_JOBS, client_sink

    apply_config(args, None)
    if not 1 <= args.jobs <= MAX_JOBS:
        raise UsageError(f"--jobs must be between 1 and {MAX_JOBS}", hint="the default is 2")
    repo = open_repo(args.repo, args)
    target = _target(args, args.target, "target-")
    if target.databases:
        raise UsageError(
            "the --target URL names a database; a restore recreates the backup's databases",
            hint="drop it from the URL; use --database NAME to pick databases, --rename-db OLD=NEW to rename",
        )
    rename = _rename_map(args.rename_db)
    only = set(args.database) if args.database else None
    bid = repo.resolve(args.backup)
    in_backup = set(repo.manifest(bid).get("databases") or [])
    unknown = sorted((set(rename) | (only or set())) - in_backup)
    if unknown:
        raise UsageError(
            f"backup {bid} has no database {', '.join(unknown)}; nothing was restored",
            hint=f"the backup holds: {', '.join(sorted(in_backup)) or 'no databases'}",
        )
    password = _password(args, "target-", None)
    identities = identities_from_args(args)
    byte_filter = RenameFilter(rename or None, only) if (rename or only) else None
    reporter = _reporter(args)
    retries = StorageRetries(reporter, repo.backend)
    result = restore_backup(
        repo,
        bid,
        identities,
        lambda: client_sink(target, password, args.jobs),
        byte_filter,
        verify_first=not args.no_verify_first,
        allow_failed=args.allow_failed,
        reporter=reporter,
    )
    if args.json:
        print(json.dumps({**result, "storage_retries": retries.count}, default=str))
    else:
        first = (
            f"authenticated first in {result['authenticate_s']} s, "
            if not args.no_verify_first
            else "not authenticated first (--no-verify-first), "
        )
        print(
            f"restored backup {result['id']}: {result['bytes']} bytes; {first}applied in "
            f"{result['apply_s']} s{retries.summary()}"
        )
    return 0


def cmd_secret_set(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    value = secret_source(args, "value").get(f"value of secret {args.name}", confirm=True)
    store_secret(repo, args.name, value, repo_recipients(repo, args, "secrets"))
    print(f"stored sealed secret {args.name!r} in {repo.backend.location}")
    return 0


def cmd_secret_list(args: argparse.Namespace) -> int:
    apply_config(args, None)
    repo = open_repo(args.repo, args)
    for name in repo.backend.list("secret"):
        print(name.removesuffix(".dbseal"))
    return 0


__all__ = [
    "cmd_backup",
    "cmd_restore",
    "cmd_secret_list",
    "cmd_secret_set",
    "io",
]
