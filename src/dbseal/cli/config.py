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
secrets. Command-line options override it.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from typing import Any

from dbseal.errors import UsageError

SEARCH = ("./dbseal.toml", "/etc/dbseal/dbseal.toml")
_FORBIDDEN = ("password", "passphrase", "secret_value")
_TOP_KEYS = {
    "repository": "repo",
    "keyring": "keyring",
    "keyring_passphrase_file": "keyring_passphrase_file",
    "keyring_passphrase_command": "keyring_passphrase_command",
    "identity_files": "identity",
}
_SOURCE_KEYS = {
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
}


def find_config(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    env = os.environ.get("DBSEAL_CONFIG")
    if env:
        return env
    for path in SEARCH:
        if os.path.exists(path):
            return path
    return None


def load_config(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path!r} is not valid TOML: {exc}") from None
    _refuse_secrets(doc, path)
    return doc


def _refuse_secrets(doc: dict[str, Any], path: str, where: str = "") -> None:
    for key, value in doc.items():
        if key in _FORBIDDEN:
            raise UsageError(
                f"config file {path!r} has a secret value in {where}{key}",
                hint="use password_file, password_command or password_secret; never the password itself",
            )
        if isinstance(value, dict):
            _refuse_secrets(value, path, f"{where}{key}.")


_PATH_KEYS = {
    "repository",
    "keyring",
    "keyring_passphrase_file",
    "identity_files",
    "password_file",
    "ssl_ca",
    "ssl_cert",
    "ssl_key",
    "socket",
}


def _resolve_paths(table: dict[str, Any], base: str) -> dict[str, Any]:
    """Relative paths in the config file are relative to the file's directory."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value:
            return os.path.normpath(os.path.join(base, value))
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return {k: fix(v) if k in _PATH_KEYS else v for k, v in table.items()}


def _fill(args: argparse.Namespace, table: dict[str, Any], mapping: dict[str, str]) -> None:
    for key, dest in mapping.items():
        if key in table and getattr(args, dest, None) in (None, False, []):
            value = table[key]
            if dest in ("identity", "recipient") and isinstance(value, str):
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
    base = os.path.dirname(os.path.abspath(path))
    _fill(args, _resolve_paths(doc, base), _TOP_KEYS)
    if source_name:
        sources = doc.get("sources", {})
        if source_name not in sources:
            known = ", ".join(sorted(sources)) or "none"
            raise UsageError(f"no source {source_name!r} in {path} (known: {known})")
        _fill(args, _resolve_paths(sources[source_name], base), _SOURCE_KEYS)
        args.backup_name = source_name
