"""Command-line options for secrets: a file, a descriptor, a command or a prompt; never a value."""

from __future__ import annotations

import argparse

from dbseal.crypto.secret import SecretSource


def secret_source(
    args: argparse.Namespace, name: str, env_file_var: str | None = None
) -> SecretSource:
    dest = name.replace("-", "_")
    given = [
        getattr(args, f"{dest}_file"),
        getattr(args, f"{dest}_fd"),
        getattr(args, f"{dest}_command"),
        getattr(args, f"{dest}_prompt") or None,
    ]
    if sum(v is not None for v in given) > 1:
        from dbseal.errors import UsageError

        raise UsageError(f"give the {name.replace('-', ' ')} only one way")
    return SecretSource(
        file=getattr(args, f"{dest}_file"),
        fd=getattr(args, f"{dest}_fd"),
        command=getattr(args, f"{dest}_command"),
        prompt=bool(getattr(args, f"{dest}_prompt")),
        env_file_var=env_file_var,
    )
