"""Command-line options for secrets: a file, a descriptor, a command or a prompt; never a value."""

from __future__ import annotations

import argparse

from dbseal.crypto.secret import SecretSource


def add_secret_options(
    parser: argparse.ArgumentParser, name: str, what: str, prompt_flag: str | None
) -> None:
    g = parser.add_argument_group(f"{what} (never given on the command line)")
    dest = name.replace("-", "_")
    g.add_argument(
        f"--{name}-file",
        metavar="PATH",
        dest=f"{dest}_file",
        help=f"read the {what} from a file that only you can read (chmod 600)",
    )
    g.add_argument(
        f"--{name}-fd",
        metavar="N",
        type=int,
        dest=f"{dest}_fd",
        help=f"read the {what} from open file descriptor N",
    )
    g.add_argument(
        f"--{name}-command",
        metavar="CMD",
        dest=f"{dest}_command",
        help=f"run CMD with /bin/sh; its standard output is the {what}",
    )
    flags = [prompt_flag] if prompt_flag else []
    g.add_argument(
        *flags,
        f"--{name}-prompt",
        action="store_true",
        dest=f"{dest}_prompt",
        help=f"ask for the {what} on the terminal",
    )


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
