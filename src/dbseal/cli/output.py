"""What commands show: the event reporter chosen by --json / a terminal."""

from __future__ import annotations

import argparse
import sys

from dbseal.monitoring.progress import ProgressReporter
from dbseal.monitoring.reporter import JsonLinesReporter, NullReporter, Reporter


def make_reporter(args: argparse.Namespace) -> Reporter:
    """JSON lines on stderr with --json, a progress bar on a terminal, else nothing."""
    if getattr(args, "json", False):
        return JsonLinesReporter(sys.stderr)
    if sys.stderr.isatty():
        return ProgressReporter()
    return NullReporter()
