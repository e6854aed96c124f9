"""`--wait-lock` and `--state-dir` (the per-source run lock), and taking that lock."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator


def add_runlock_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run lock (a named source is never backed up twice at once)")
    g.add_argument(
        "--wait-lock",
        metavar="DURATION",
        help="if another backup of this source is running, wait up to DURATION (e.g. 30m) "
        "for it to end instead of failing at once (exit 42 if it still runs by then)",
    )
    g.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where run locks live (default: [state] dir in dbseal.toml, $RUNTIME_DIRECTORY, "
        "/run/dbseal for root, else $XDG_RUNTIME_DIR/dbseal)",
    )


def state_dir(args: argparse.Namespace) -> str:
    """--state-dir, else ``[state] dir`` of dbseal.toml (relative to the file), else the default."""
    from dbseal.catalog.runlock import default_state_dir
    from dbseal.config.loader import find_config, load_config

    if getattr(args, "state_dir", None):
        return str(args.state_dir)
    path = find_config(getattr(args, "config", None))
    if path is not None:
        configured = load_config(path).get("state", {}).get("dir")
        if configured:
            return os.path.join(os.path.dirname(os.path.abspath(path)), configured)
    return default_state_dir()


@contextlib.contextmanager
def run_lock(args: argparse.Namespace, kind: str) -> Iterator[None]:
    """Hold ``kind``'s run lock for the named source (a URL-only run has no name: no lock)."""
    name = getattr(args, "backup_name", None)
    if not name:
        yield
        return
    from dbseal.catalog.runlock import RunLock
    from dbseal.cli.durations import parse_duration

    wait = getattr(args, "wait_lock", None)
    wait_s = parse_duration(wait).total_seconds() if wait else None
    with RunLock(state_dir(args), kind, name, wait_s):
        yield
