"""argparse helpers shared by the commands; imports nothing heavy (start-up time matters)."""

from __future__ import annotations

import argparse

from dbseal.config import SSL_MODES


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


def add_keyring_options(p: argparse.ArgumentParser, with_key: bool) -> None:
    p.add_argument("--keyring", metavar="DIR", help="keyring directory (see `dbseal keys init`)")
    if with_key:
        p.add_argument(
            "--key",
            metavar="NAME[:VERSION]",
            help="keyring key to seal for (newest version by default)",
        )
    add_secret_options(p, "keyring-passphrase", "keyring passphrase", None)


def add_mysql_options(p: argparse.ArgumentParser, prefix: str, what: str) -> None:
    g = p.add_argument_group(f"{what} connection")
    d = prefix.replace("-", "_")
    g.add_argument(
        f"--{prefix}socket",
        dest=f"{d}socket",
        metavar="PATH",
        help="connect through this Unix socket",
    )
    g.add_argument(
        f"--{prefix}ssl-mode",
        dest=f"{d}ssl_mode",
        choices=SSL_MODES,
        help="TLS: default verify-identity for remote hosts, preferred for local ones",
    )
    g.add_argument(
        f"--{prefix}ssl-ca",
        dest=f"{d}ssl_ca",
        metavar="FILE",
        help="CA certificate(s) to verify the server",
    )
    g.add_argument(
        f"--{prefix}ssl-cert", dest=f"{d}ssl_cert", metavar="FILE", help="client certificate"
    )
    g.add_argument(f"--{prefix}ssl-key", dest=f"{d}ssl_key", metavar="FILE", help="client key")
    g.add_argument(
        f"--{prefix}tls-version",
        dest=f"{d}tls_version",
        metavar="LIST",
        help="e.g. TLSv1.2,TLSv1.3",
    )
    g.add_argument(
        f"--{prefix}ssl-cipher", dest=f"{d}ssl_cipher", metavar="LIST", help="allowed TLS ciphers"
    )
    g.add_argument(
        f"--{prefix}allow-insecure-remote",
        dest=f"{d}allow_insecure_remote",
        action="store_true",
        help="allow a remote server without verified TLS (not recommended)",
    )
    add_secret_options(p, f"{prefix}password", f"{what} password", None)
    if not prefix:
        p.add_argument(
            "--password-secret",
            metavar="NAME",
            help="use a password sealed in the repository (`dbseal secret set`)",
        )


# Commands with a JSON result (--json); every other command still takes -q/--quiet.
# Commands whose standard output is data or a key, never muted by -q.
DATA_COMMANDS = {"keygen", "seal", "unseal", "keys export", "serve"}


def add_output_options(parser: argparse.ArgumentParser, name: str = "") -> None:
    """--json and -q/--quiet on every command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subs:
        for cmd, sub in action.choices.items():
            add_output_options(sub, f"{name} {cmd}".strip())
    if subs:
        return
    have = parser._option_string_actions
    if "--json" not in have:
        parser.add_argument(
            "--json",
            action="store_true",
            help='the result as one JSON document on stdout (a failure too: {"error": ...})',
        )
    if "-q" not in have and "--quiet" not in have:
        parser.add_argument(
            "-q", "--quiet", action="store_true", help="no progress and no success output (cron)"
        )
    parser.set_defaults(reports=name not in DATA_COMMANDS)
