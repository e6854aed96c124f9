"""Durations on the command line: 30m, 24h, 7d, 2w."""

from __future__ import annotations

import datetime
import re

from dbseal.errors import UsageError

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> datetime.timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise UsageError(f"invalid duration {text!r}", hint="write e.g. 30m, 24h, 7d or 2w")
    return datetime.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
