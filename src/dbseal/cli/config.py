"""`dbseal.toml`: named sources and the repository, so cron lines stay short.

Looked up in order: ``--config PATH``, ``$DBSEAL_CONFIG``, ``./dbseal.toml``,
``/etc/dbseal/dbseal.toml``. Example::

    repository = "/var/backups/dbseal"
    keyring = "/etc/dbseal/keyring"
    keyring_passphrase_file = "/etc/dbseal/keyring.pass"   # a 0600 file
    identity_files = ["/etc/dbseal/restore.key"]

    [sources.prod]
    url = "mysql://backup@db1.example.com/shop,crm"
    password_secret = "prod-db"          # sealed in the repository (`dbseal secret set`)
    ssl_ca = "/etc/dbseal/db-ca.pem"
    ssl_mode = "verify-identity"
    compress = "zstd:3"

The file holds no secret values: only names of files, commands and sealed
secrets. It is validated strictly (:mod:`dbseal.config`): an unknown key, a wrong
type or a bad value is an error naming the file and line. Command-line options
override it.
"""

from __future__ import annotations

import argparse
from typing import Any

from dbseal.config.loader import SEARCH, find_config, load_config
from dbseal.errors import UsageError

__all__ = ["SEARCH", "apply_config", "find_config", "load_config"]

# config key -> argparse destination (the schema is dbseal.config.schema; a test keeps them in step)
TOP_KEYS = {
    "repository": "repo",
    "keyring": "keyring",
    "keyring_passphrase_file": "keyring_passphrase_file",
    "keyring_passphrase_command": "keyring_passphrase_command",
    "identity_files": "identity",
}
SOURCE_KEYS = {
    "url": "source",
    "socket": "socket",
    "password_file": "password_file",
    "password_command": "password_command",
    "password_secret": "password_secret",
    "ssl_ca": "ssl_ca",
    "ssl_cert": "ssl_cert",
    "ssl_key": "ssl_key",
    "ssl_mode": "ssl_mode",
    "tls_version": "tls_version",
    "ssl_cipher": "ssl_cipher",
    "allow_insecure_remote": "allow_insecure_remote",
    "compress": "compress",
    "recipients": "recipient",
    "accounts": "accounts",
    "exclude_databases": "exclude_database",
    "exclude_tables": "exclude_table",
    "postgresql": "pg_source",
    "method": "method",
    "scratch_dir": "scratch_dir",
    "no_key_material": "no_key_material",
}


_LISTS = ("exclude_database", "exclude_table")


def _fill(args: argparse.Namespace, table: dict[str, Any], mapping: dict[str, str]) -> None:
    for key, dest in mapping.items():
        if key in table and getattr(args, dest, None) in (None, False, []):
            value = table[key]
            if dest in ("identity", "recipient", *_LISTS) and isinstance(value, str):
                value = [value]
            setattr(args, dest, value)


def apply_config(args: argparse.Namespace, source_name: str | None) -> None:
    """Fill unset options from the config file; a named source must exist there."""
    path = find_config(getattr(args, "config", None))
    if path is None:
        if source_name:
            raise UsageError(
                f"source {source_name!r} needs a config file",
                hint="create dbseal.toml with a [sources.NAME] table, or pass --source mysql://...",
            )
        return
    doc = load_config(path)
    _fill(args, doc, TOP_KEYS)
    if source_name:
        sources = doc.get("sources", {})
        if source_name not in sources:
            known = ", ".join(sorted(sources)) or "none"
            raise UsageError(
                f"no source {source_name!r} in {path} (known: {known})",
                hint="add a [sources.NAME] table, or pass --source mysql://...",
            )
        _fill(args, sources[source_name], SOURCE_KEYS)
        args.backup_name = source_name
