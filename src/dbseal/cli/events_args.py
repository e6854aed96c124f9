"""Options every command takes for its events: -v, -q, --log-json, --syslog (docs/events.md).

They are global (``dbseal -q backup ...``) and also accepted after the command
(``dbseal backup ... -v``). Light: the event machinery is imported only when the
command runs (:mod:`dbseal.cli.events_run`).
"""

from __future__ import annotations

import argparse
from typing import Any


def _add(p: argparse.ArgumentParser, top: bool) -> None:
    keep: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    have = p._option_string_actions
    if "-v" not in have and "--verbose" not in have:
        p.add_argument(
            "-v",
            "--verbose",
            action="count",
            dest="verbose" if top else "verbose_leaf",
            help="show events (phases, retries, hooks, pings) on stderr; -vv also progress",
            **({"default": 0} if top else keep),
        )
    if "--log-json" not in have:
        p.add_argument(
            "--log-json",
            metavar="FILE",
            help="append the events as JSON lines to FILE (docs/events.md; also [log] json)",
            **keep,
        )
    if "--syslog" not in have:
        p.add_argument(
            "--syslog",
            action="store_true",
            help="one summary line to syslog/journald (also [log] syslog = true)",
            **keep,
        )


def add_event_options(parser: argparse.ArgumentParser) -> None:
    """The options on the top-level parser and on every (sub)command."""
    _add(parser, top=True)
    parser.add_argument(
        "-q",
        "--quiet",
        dest="quiet_global",
        action="store_true",
        help="no progress and no success output (cron mails only failures)",
    )
    _leaves(parser)


def _leaves(parser: argparse.ArgumentParser) -> None:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in subs:
        for sub in dict.fromkeys(action.choices.values()):
            if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                _leaves(sub)
            else:
                _add(sub, top=False)


def observed(args: argparse.Namespace) -> None:
    """Merge the global and per-command -q/-v, and wrap the command function so its run
    is observed: start and end events, event log, syslog, hooks and pings."""
    args.verbose = getattr(args, "verbose", 0) + getattr(args, "verbose_leaf", 0)
    args.quiet = bool(getattr(args, "quiet", False) or getattr(args, "quiet_global", False))
    func = args.func

    def run(a: argparse.Namespace) -> int:
        from dbseal.cli.events_run import run_observed

        return run_observed(a, func)

    args.func = run
