"""The options of `dbseal check` (kept apart from main.py; no heavy imports).

With ``--nagios`` a bad command line is the plugin status UNKNOWN: one
``DBSEAL UNKNOWN - ...`` line on standard output and exit status 3 (the
monitoring-plugins guidelines), instead of dbseal's usual usage error (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from dbseal.cli.args import add_keyring_options
from dbseal.errors import UsageError

NAGIOS_UNKNOWN = 3


def nagios_unknown(text: str) -> NoReturn:
    """Print the UNKNOWN status line and exit 3 (argparse exits the same way)."""
    print(f"DBSEAL UNKNOWN - {' '.join(text.split())}", file=sys.__stdout__, flush=True)
    raise SystemExit(NAGIOS_UNKNOWN)


def _wants_nagios(argv: Sequence[str] | None) -> bool:
    for arg in argv or ():
        if arg == "--":
            return False
        if arg == "--nagios":
            return True
    return False


def _nagios_errors(p: argparse.ArgumentParser) -> None:
    """Bad arguments after ``--nagios`` (in this subcommand's part) exit 3, not 2."""
    parse = p.parse_known_args

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        nagios = _wants_nagios(args)
        try:
            ns, extras = parse(args, namespace)
        except UsageError as exc:
            if nagios:
                nagios_unknown(f"bad arguments: {exc.message} (see `dbseal check --help`)")
            raise
        if nagios and extras:
            nagios_unknown(f"bad arguments: unrecognized {' '.join(extras)}")
        if nagios and getattr(ns, "json", False):
            nagios_unknown("bad arguments: --nagios and --json exclude each other")
        return ns, extras

    p.parse_known_args = parse_known_args  # type: ignore[method-assign,assignment]


def add_check_command(sub: Any, lazy: Callable[[str, str], Any]) -> None:
    p = sub.add_parser(
        "check",
        help="monitoring: backup age, failures, verification, restore time, keys, escrow, "
        "repository (table, --json, --nagios, --prometheus FILE)",
        description="Judge each source's backups. Exit 0: all OK; 33: some WARNING; "
        "34: some CRITICAL or UNKNOWN. With --nagios: 0/1/2/3 and one status line.",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="sources to check (default: all)")
    p.add_argument(
        "--repo",
        metavar="REPO",
        help="repository: a path, file:///path, s3://bucket/prefix or dbseal+tls://host:port",
    )
    g = p.add_argument_group("dbseal+tls:// receiver (mutual TLS)")
    g.add_argument("--tls-ca", metavar="FILE", help="CA that signed the receiver's certificate")
    g.add_argument("--tls-cert", metavar="FILE", help="this client's certificate")
    g.add_argument("--tls-key", metavar="FILE", help="this client's private key (0600)")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="dbseal.toml (default: ./dbseal.toml, /etc/dbseal/dbseal.toml); "
        "thresholds from [check] and [sources.NAME.check]",
    )
    out = p.add_argument_group("output (default: a table)")
    out.add_argument("--json", action="store_true", help="the report as one JSON document")
    out.add_argument(
        "--nagios",
        action="store_true",
        help="one monitoring-plugins status line with perfdata; exit 0 OK, 1 WARNING, "
        "2 CRITICAL, 3 UNKNOWN",
    )
    out.add_argument(
        "--prometheus",
        metavar="FILE",
        help="also write a node_exporter textfile (name it *.prom), replaced atomically",
    )
    p.add_argument(
        "-w",
        "--warning",
        metavar="DURATION",
        help="backup age that is a WARNING, e.g. 26h (overrides max_age_warning for all sources)",
    )
    p.add_argument(
        "-c",
        "--critical",
        metavar="DURATION",
        help="backup age that is CRITICAL, e.g. 50h (overrides max_age_critical)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        metavar="DURATION",
        help="give up after this long: UNKNOWN (default 30s with --nagios, else none)",
    )
    p.add_argument(
        "--no-integrity",
        action="store_true",
        help="skip the repository scan for lost objects and leftovers (`repo check`)",
    )
    add_keyring_options(p, with_key=False)
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no table (the exit status says it all)"
    )
    p.set_defaults(func=lazy("check_commands", "cmd_check"))
    _nagios_errors(p)
