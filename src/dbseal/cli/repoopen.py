"""Opening the repository named by --repo (and the dbseal+tls:// client files)."""

from __future__ import annotations

import argparse

from dbseal.catalog.repository import Repository
from dbseal.errors import UsageError
from dbseal.storage import TlsClientFiles, open_backend


def tls_files(args: argparse.Namespace | None) -> TlsClientFiles:
    """Client TLS files for a dbseal+tls:// repository (--tls-ca/--tls-cert/--tls-key)."""
    return TlsClientFiles(
        getattr(args, "tls_ca", None),
        getattr(args, "tls_cert", None),
        getattr(args, "tls_key", None),
    )


def open_repo(location: str | None, args: argparse.Namespace | None = None) -> Repository:
    if not location:
        raise UsageError(
            "no repository given", hint="pass --repo REPO or set `repository` in dbseal.toml"
        )
    return Repository.open(open_backend(location, tls_files(args)))
