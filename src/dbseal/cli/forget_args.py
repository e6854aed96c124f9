"""The options of `dbseal forget` (kept apart from main.py; no heavy imports)."""

from __future__ import annotations

import argparse

UNITS = {
    "hourly": "hours",
    "daily": "days",
    "weekly": "ISO weeks",
    "monthly": "months",
    "yearly": "years",
}


def add_forget_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "backups",
        nargs="*",
        metavar="ID|NAME:latest",
        help="backups to delete; without them, delete by a retention policy",
    )
    p.add_argument(
        "--shred", action="store_true", help="with IDs: the key envelope is destroyed first"
    )
    g = p.add_argument_group(
        "retention policy (per source; without --keep-* options: [retention] in dbseal.toml)"
    )
    g.add_argument("--keep-last", type=int, metavar="N", help="the N newest backups")
    for unit, noun in UNITS.items():
        g.add_argument(
            f"--keep-{unit}",
            type=int,
            metavar="N",
            help=f"the newest backup in each of the N newest {noun} (UTC) that have one; -1: all",
        )
    g.add_argument(
        "--keep-within",
        metavar="DURATION",
        help="every backup started within DURATION (e.g. 14d) of the source's newest backup",
    )
    g.add_argument(
        "--keep-failed-within",
        metavar="DURATION",
        help="failed backups are removed once older than this (default 7d)",
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="show the plan; delete nothing")
    p.add_argument(
        "--prune",
        action="store_true",
        help="accepted for restic-style cron lines: forget always deletes unless --dry-run",
    )
    p.add_argument(
        "--lock-timeout",
        default="5m",
        metavar="DURATION",
        help="a repository lock seen unchanged this long is stale (default 5m); "
        "this forget refreshes its own every third of it",
    )
    p.add_argument("--json", action="store_true", help="the plan and result as one JSON document")
