"""What commands show, in one place: --json documents, -q, the reporter, sizes.

* ``--json``: the result is ONE JSON document on standard output; a failure too:
  ``{"error": {"exit_code": N, "class": "...", "message": "...", "hint": "..."}}``
  on standard output, the exit code the same, and the usual one-line error on
  standard error (progress events are JSON lines on standard error).
* ``-q/--quiet``: no progress and no success output (for cron); errors are still
  printed. With ``--json`` too, the JSON result is still printed (it was asked for).
* Sizes for people are IEC (:func:`human_size`); JSON has exact integer bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from dbseal.errors import DbsealError
from dbseal.monitoring.reporter import JsonLinesReporter, NullReporter, Reporter
from dbseal.monitoring.sizes import human_size

__all__ = [
    "emit",
    "error_document",
    "human_size",
    "make_reporter",
    "print_error",
    "quiet_stdout",
    "wants_json",
]


def make_reporter(args: argparse.Namespace) -> Reporter:
    """The command's events to its screen (:func:`screen_reporter`) and, when the run is
    observed (:mod:`dbseal.cli.events_run`), to the event log, syslog and pings too."""
    screen = screen_reporter(args)
    events = getattr(args, "events", None)
    if events is None:
        return screen
    from dbseal.monitoring.fanout import FanOutReporter

    return FanOutReporter(screen, events)


def screen_reporter(args: argparse.Namespace) -> Reporter:
    """JSON lines on stderr with --json, human lines with -v, a progress bar on a terminal,
    else nothing; nothing at all with -q."""
    if getattr(args, "quiet", False):
        return NullReporter()
    if getattr(args, "json", False):
        return JsonLinesReporter(sys.stderr)
    if getattr(args, "verbose", 0):
        from dbseal.monitoring.textevents import TextEventsReporter

        return TextEventsReporter(sys.stderr, args.verbose)
    if sys.stderr.isatty():
        from dbseal.monitoring.progress import ProgressReporter  # rich: only on a terminal

        return ProgressReporter()
    return NullReporter()


def emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    """A command's result: ``doc`` as one JSON document with --json, else ``text``."""
    print(json.dumps(doc, default=str) if getattr(args, "json", False) else text)


def wants_json(argv: Sequence[str]) -> bool:
    """--json among the options (before a ``--``): known even when parsing failed."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def error_document(exc: DbsealError) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "error": {
            "exit_code": exc.exit_code,
            "class": type(exc).__name__,
            "message": exc.message,
            "hint": exc.hint,
        }
    }
    failed = getattr(exc, "manifest", None)  # a failed backup: which one, and why
    if isinstance(failed, dict):
        doc["backup"] = {k: failed.get(k) for k in ("id", "status", "reasons")}
    return doc


def print_error(exc: DbsealError, as_json: bool, suffix: str = "") -> None:
    """The one-line error on stderr; with --json also the error document on stdout."""
    print(exc.one_line() + suffix, file=sys.stderr)
    if as_json:
        with contextlib.suppress(OSError):
            print(json.dumps(error_document(exc)), flush=True)


@contextlib.contextmanager
def quiet_stdout(args: argparse.Namespace) -> Iterator[None]:
    """With -q (and no --json) a reporting command's human output goes nowhere.

    Commands whose standard output is data (``unseal``, ``keygen`` without -o...) set
    ``reports=False`` and are never muted."""
    if not (getattr(args, "quiet", False) and getattr(args, "reports", True)) or getattr(
        args, "json", False
    ):
        yield
        return
    saved = sys.stdout
    with open(os.devnull, "w", encoding="utf-8") as null:
        sys.stdout = null
        try:
            yield
        finally:
            sys.stdout = saved
