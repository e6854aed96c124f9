"""A database server from a mysql:// URL plus the --[PREFIX]ssl-*/--socket options."""

from __future__ import annotations

import argparse
from typing import Any


def target_from_args(args: argparse.Namespace, url: str, prefix: str) -> Any:
    """``prefix`` is "" for --source, "target-" for restore, "scratch-" for verify."""
    from dbseal.engines.registry import engine_for_url

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
    return engine_for_url(url).parse_target(url, **overrides)
