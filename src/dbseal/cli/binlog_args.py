"""The parsers of `dbseal binlog archive|status` and the point-in-time options of `restore`."""

from __future__ import annotations

import argparse
from typing import Any

from dbseal.cli.args import add_keyring_options, add_mysql_options, add_secret_options


def _lazy(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from dbseal.cli import binlog_commands

        rc: int = getattr(binlog_commands, name)(args)
        return rc

    return run


def _repo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", metavar="REPO", help="repository (path, s3://..., dbseal+tls://...)")
    g = p.add_argument_group("dbseal+tls:// receiver (mutual TLS)")
    g.add_argument("--tls-ca", metavar="FILE", help="CA that signed the receiver's certificate")
    g.add_argument("--tls-cert", metavar="FILE", help="this client's certificate")
    g.add_argument("--tls-key", metavar="FILE", help="this client's private key (0600)")
    p.add_argument("--config", metavar="FILE", help="dbseal.toml")


def register_binlog_commands(sub: Any) -> None:
    """`dbseal binlog archive` and `dbseal binlog status`."""
    top = sub.add_parser("binlog", help="archive binary logs for point-in-time recovery")
    bsub = top.add_subparsers(dest="binlog_command", required=True, parser_class=type(top))
    p = bsub.add_parser("archive", help="stream the server's binary logs into the repository")
    p.add_argument("name", nargs="?", metavar="SOURCE", help="a source from dbseal.toml")
    _repo(p)
    p.add_argument("--source", metavar="mysql://USER@HOST[:PORT]")
    add_mysql_options(p, "", "source")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="archive what the server has now, exit")
    mode.add_argument("--follow", action="store_true", help="keep streaming (a service)")
    p.add_argument(
        "--flush-interval",
        default="60s",
        metavar="DURATION",
        help="seal the log being written every DURATION (default 60s): what a crash can lose",
    )
    p.add_argument("--scratch-dir", metavar="DIR", help="where the logs wait to be sealed (0700)")
    p.add_argument("-r", "--recipient", action="append", metavar="age1...")
    add_secret_options(p, "passphrase", "passphrase", None)
    add_keyring_options(p, with_key=False)
    p.add_argument("-i", "--identity", action="append", metavar="FILE")
    p.set_defaults(func=_lazy("cmd_binlog_archive"))
    p = bsub.add_parser("status", help="what is archived, the lag and the gaps (no key needed)")
    p.add_argument("name", nargs="?", metavar="SOURCE")
    _repo(p)
    p.set_defaults(func=_lazy("cmd_binlog_status"))


def _until_options(g: Any) -> None:
    g.add_argument(
        "--until",
        metavar="'YYYY-MM-DD HH:MM:SS[+TZ]'",
        help="replay archived binary logs up to this time, exclusive (UTC unless an offset is given)",
    )
    g.add_argument("--until-gtid", metavar="D-S-N", help="replay up to and including this GTID")
    g.add_argument(
        "--until-position",
        metavar="FILE:POS",
        help="replay the transactions that end at or before POS in FILE",
    )


def add_pitr_verify_options(p: argparse.ArgumentParser) -> None:
    """`dbseal verify --pitr --until T [ID|auto]`: a point-in-time recovery into a throwaway server."""
    g = p.add_argument_group("point-in-time recovery check (docs/pitr.md)")
    g.add_argument(
        "--pitr",
        action="store_true",
        help="restore the base (the backup given, default auto) and replay the archived binary "
        "logs into a throwaway server; reports the restored position",
    )
    _until_options(g)
    p.set_defaults(func=_lazy("cmd_verify_maybe_pitr"))


def add_pitr_restore_options(p: argparse.ArgumentParser) -> None:
    """--until / --until-gtid / --until-position / --dry-run on `dbseal restore`."""
    g = p.add_argument_group("point-in-time recovery (docs/pitr.md)")
    _until_options(g)
    g.add_argument("--dry-run", action="store_true", help="print the recovery plan; apply nothing")
    p.set_defaults(func=_lazy("cmd_restore_maybe_pitr"))
