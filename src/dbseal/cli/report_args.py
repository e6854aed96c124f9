"""The options of `dbseal report` (kept apart from main.py; no heavy imports)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dbseal.cli.args import add_keyring_options


def register_report(
    sub: Any,
    run: Callable[[argparse.Namespace], int],
    repo_opts: Callable[[argparse.ArgumentParser], None],
) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="a self-contained compliance report (HTML, PDF, --json facts); no key needed",
        description="Write an auditor's report of a repository: inventory, timeline, encryption, "
        "key lifecycle, restore evidence, transit and an integrity statement. Read-only; "
        "keyless unless a keyring is given (which adds key states and dates).",
    )
    repo_opts(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the HTML report here")
    p.add_argument("--pdf", metavar="FILE", help="also print it to PDF (needs Chromium)")
    p.add_argument(
        "--since",
        metavar="DATE",
        help="start of the period: YYYY-MM-DD or an ISO time, UTC (default: a year before --until)",
    )
    p.add_argument("--until", metavar="DATE", help="end of the period (default: now)")
    p.add_argument(
        "--source",
        dest="sources",
        action="append",
        metavar="NAME",
        help="only this source; repeatable (default: every source)",
    )
    g = p.add_argument_group("objectives (default: [check] in dbseal.toml, then the values shown)")
    g.add_argument(
        "--max-age",
        metavar="DURATION",
        help="a longer stretch without a good backup is a gap (default 26h)",
    )
    g.add_argument(
        "--rto", metavar="DURATION", help="recovery-time objective for restore tests (e.g. 30m)"
    )
    g.add_argument(
        "--rotation-days",
        type=int,
        metavar="N",
        help="key versions older than N days are overdue (default: the repository's "
        "max_key_age_days policy)",
    )
    g.add_argument(
        "--escrow",
        action="append",
        metavar="age1...",
        help="this recipient is the escrow key; repeatable (default: any age recipient "
        "beside another recipient)",
    )
    p.add_argument(
        "--events",
        dest="events_file",
        metavar="FILE",
        help="an event log (JSON lines, `dbseal --log-json`) to take lifecycle events from",
    )
    add_keyring_options(p, with_key=False)
    p.add_argument(
        "--json",
        action="store_true",
        help="the report's facts as one JSON document (with the written files' SHA-256)",
    )
    p.set_defaults(func=run)
