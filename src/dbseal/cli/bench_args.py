"""The options of `dbseal bench` (kept apart from main.py; no heavy imports)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from dbseal.cli.args import add_mysql_options

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
DEFAULT_SAMPLE = "32M"


def parse_sample(text: str) -> int:
    """``64M``, ``500K``, ``1G``, ``1000000``: a byte count (binary units)."""
    m = re.fullmatch(r"(\d+)\s*([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if m is None or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 32M, 512K, 1G)")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def add_bench_command(sub: Any, lazy: Callable[[str, str], Any]) -> None:
    p = sub.add_parser(
        "bench",
        help="measure every codec on a sample of your own data (sealed in memory)",
        description="Seal a sample of a real dump (SOURCE: mysql://...) or of a file "
        "(FILE, or - for standard input) with each codec and level, unseal it again, and "
        "print size and throughput per codec, with a recommendation for the repository's "
        "default. The sample stays in memory: no plaintext is written to disk.",
    )
    p.add_argument(
        "input", metavar="SOURCE|FILE", help="mysql://USER@HOST[:PORT][/DB], a file, or -"
    )
    p.add_argument(
        "--sample",
        type=parse_sample,
        default=parse_sample(DEFAULT_SAMPLE),
        metavar="SIZE",
        help=f"bytes of the input to use (default {DEFAULT_SAMPLE})",
    )
    p.add_argument(
        "--codecs",
        metavar="LIST",
        help="comma-separated codec specs to measure (default: none, lz4, gzip and zstd "
        "at several levels)",
    )
    p.add_argument(
        "--min-speed",
        type=float,
        default=100.0,
        metavar="MB/S",
        help="recommend the smallest output among codecs sealing at least this fast (default 100)",
    )
    add_mysql_options(p, "", "source")
    p.set_defaults(func=lazy("bench_commands", "cmd_bench"))
