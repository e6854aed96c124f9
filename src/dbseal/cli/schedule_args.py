"""The options of `dbseal schedule install|show|remove` (no heavy imports)."""

from __future__ import annotations

import argparse
from typing import Any


def _lazy(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from dbseal.cli import schedule_commands

        rc: int = getattr(schedule_commands, name)(args)
        return rc

    return run


def _where(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="a [sources.NAME] of the dbseal.toml")
    p.add_argument(
        "--unit-dir",
        default="/etc/systemd/system",
        metavar="DIR",
        help="where the units go (default /etc/systemd/system)",
    )
    p.add_argument("--cron", action="store_true", help="a cron.d file instead of systemd units")
    p.add_argument(
        "--cron-dir", default="/etc/cron.d", metavar="DIR", help="with --cron (default /etc/cron.d)"
    )


def _what(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "jobs: WHEN is hourly, daily, weekly, monthly or an OnCalendar expression "
        "(with --cron: five cron fields); docs/operations.md lists the times"
    )
    g.add_argument("--backup", metavar="WHEN", help="`dbseal backup SOURCE -q`")
    g.add_argument("--verify", metavar="WHEN", help="`dbseal verify --source SOURCE -q`")
    g.add_argument("--forget", metavar="WHEN", help="`dbseal forget --source SOURCE -q`")
    g.add_argument("--prune", action="store_true", help="the forget job runs with --prune")
    g.add_argument(
        "--verify-level",
        choices=("integrity", "decrypt", "restore"),
        help="the verify job's --level (default: verify's own, decrypt)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="the dbseal.toml the jobs use (default: the one dbseal finds now, else "
        "/etc/dbseal/dbseal.toml); it must name SOURCE",
    )
    p.add_argument(
        "--user", default="root", metavar="NAME", help="the jobs run as this user (default root)"
    )
    p.add_argument(
        "--dbseal",
        metavar="PATH",
        help="the dbseal executable the jobs run (default: the one running now)",
    )
    p.add_argument(
        "--randomized-delay",
        default="30m",
        metavar="DURATION",
        help="systemd RandomizedDelaySec= (default 30m; 0 for none)",
    )
    p.add_argument(
        "--rw-path",
        action="append",
        metavar="DIR",
        help="another path the jobs may write (the local repository and [state] dir are added "
        "by themselves); repeatable",
    )
    p.add_argument("--mailto", metavar="ADDR", help="with --cron: MAILTO= for failure mail")
    g = p.add_argument_group(
        "secret files, passed by path (systemd: LoadCredential=, read from $CREDENTIALS_DIRECTORY)"
    )
    g.add_argument("--passphrase-file", metavar="PATH", help="for backup and verify")
    g.add_argument("--keyring-passphrase-file", metavar="PATH", help="for backup and verify")
    g.add_argument(
        "--identity", metavar="PATH", help="identity file for verify (and a sealed password)"
    )
    g.add_argument("--password-file", metavar="PATH", help="the database password, for backup")


def add_schedule_commands(sub: Any) -> None:
    sched = sub.add_parser(
        "schedule", help="systemd timers (or cron lines) that back up, verify and forget"
    )
    ssub = sched.add_subparsers(dest="schedule_command", required=True, parser_class=type(sched))
    p = ssub.add_parser("install", help="write the units (or cron file) for one source")
    _where(p)
    _what(p)
    p.add_argument("-n", "--dry-run", action="store_true", help="show what would be written")
    p.add_argument("--force", action="store_true", help="replace files that differ")
    p.add_argument(
        "--enable",
        action="store_true",
        help="then run `systemctl daemon-reload` and `systemctl enable --now` the timers",
    )
    p.set_defaults(func=_lazy("cmd_schedule_install"))

    p = ssub.add_parser("show", help="print the units (or cron file) install would write")
    _where(p)
    _what(p)
    p.set_defaults(func=_lazy("cmd_schedule_show"))

    p = ssub.add_parser("remove", help="delete the files install wrote for one source")
    _where(p)
    p.add_argument(
        "--disable",
        action="store_true",
        help="first `systemctl disable --now` the timers (when systemd is running)",
    )
    p.set_defaults(func=_lazy("cmd_schedule_remove"))
