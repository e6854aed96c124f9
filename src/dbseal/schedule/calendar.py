"""When jobs run: hourly/daily/weekly/monthly, or an OnCalendar expression.

The keywords mean dbseal's own times, not systemd's midnight, so a night's jobs
follow each other (the randomized delay spreads hosts over the next half hour):

======== ============================ =========== =========== ===========
keyword  OnCalendar (HH below)         backup HH   verify HH   forget HH
======== ============================ =========== =========== ===========
hourly   ``*-*-* *:00:00``             \\-          \\-          \\-
daily    ``*-*-* HH:00:00``            01          03          05
weekly   ``Sun *-*-* HH:00:00``        01          03          05
monthly  ``*-*-01 HH:00:00``           01          03          05
======== ============================ =========== =========== ===========

Another value is an OnCalendar expression, checked with ``systemd-analyze calendar``
when that program exists, else it must be of the form ``[DOW[,DOW..]] *-*-DD|* HH:MM[:SS]``.
Cron lines take the keywords (the minute is derived from the source name, so hosts
spread out and a source keeps its minute) or a five-field cron expression.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

from dbseal.errors import UsageError

KEYWORDS = ("hourly", "daily", "weekly", "monthly")
HOURS = {"backup": 1, "verify": 3, "forget": 5}
_DOW = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_SUBSET = re.compile(
    rf"^(?:{_DOW}(?:[.,]{{1,2}}{_DOW})*\s+)?"
    r"(?:\*|\d{4})-(?:\*|\d{1,2})-(?:\*|\d{1,2})\s+(?:\*|\d{1,2}):\d{1,2}(?::\d{1,2})?$"
)
_CRON_FIELD = re.compile(r"^[0-9*,/-]+$")


def on_calendar(kind: str, value: str) -> str:
    """The OnCalendar= value for ``value`` (a keyword or a checked expression)."""
    hour = HOURS[kind]
    fixed = {
        "hourly": "*-*-* *:00:00",
        "daily": f"*-*-* {hour:02d}:00:00",
        "weekly": f"Sun *-*-* {hour:02d}:00:00",
        "monthly": f"*-*-01 {hour:02d}:00:00",
    }
    if value in fixed:
        return fixed[value]
    _check_expression(kind, value)
    return value


def _check_expression(kind: str, value: str) -> None:
    bad = UsageError(
        f"--{kind} {value!r} is neither hourly, daily, weekly, monthly nor a valid OnCalendar "
        "expression",
        hint="see `man systemd.time` (e.g. 'Mon..Fri *-*-* 02:30'); "
        "`systemd-analyze calendar EXPR` checks one",
    )
    if any(ord(c) < 32 for c in value) or not value.strip():
        raise bad
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if not _SUBSET.match(value.strip()):
            raise bad
        return
    try:
        proc = subprocess.run(
            [tool, "calendar", value], capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        proc = None
    if proc is None or proc.returncode != 0:
        raise bad


def cron_schedule(kind: str, value: str, source: str) -> str:
    """The five time fields of a cron line."""
    digest = hashlib.sha256(f"{source}\0{kind}".encode()).digest()
    minute, hour = digest[0] % 60, HOURS[kind]
    fixed = {
        "hourly": f"{minute} * * * *",
        "daily": f"{minute} {hour} * * *",
        "weekly": f"{minute} {hour} * * 0",
        "monthly": f"{minute} {hour} 1 * *",
    }
    if value in fixed:
        return fixed[value]
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise UsageError(
            f"--{kind} {value!r}: with --cron give hourly, daily, weekly, monthly or five "
            "cron fields",
            hint="e.g. --backup '30 2 * * *' (minute hour day-of-month month day-of-week)",
        )
    return " ".join(fields)
