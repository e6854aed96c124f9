"""`dbseal check --nagios`: one status line as the monitoring-plugins guidelines want it.

``DBSEAL <STATUS> - <summary> | <perfdata>``; the exit status is the status's
value (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Perfdata items are
``label=value[UOM];warn;crit;min;max`` separated by spaces: ages and times in
seconds (``s``), sizes in bytes (``B``), counts without a unit; ``U`` when the
value is not known. Labels are ``SOURCE_WHAT`` with spaces, ``'`` and ``=``
replaced by ``_``. Checks that are not configured have no perfdata.
"""

from __future__ import annotations

import re

from dbseal.monitoring.status import CheckResult, Status

_BAD = re.compile(r"[\s'=|]")
MAX_PROBLEMS = 3


def label(source: str, what: str) -> str:
    return _BAD.sub("_", f"{source}_{what}")


def number(value: float | int | None) -> str:
    if value is None:
        return "U"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(int(value))


def perf(
    name: str,
    value: float | int | None,
    uom: str = "",
    warn: float | None = None,
    crit: float | None = None,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> str:
    v = number(value)
    if v == "U":
        uom = ""
    fields = [number(x) if x is not None else "" for x in (warn, crit, minimum, maximum)]
    return f"{name}={v}{uom};" + ";".join(fields).rstrip(";")


def status_line(
    status: Status, problems: list[tuple[str, CheckResult]], ok_text: str, perfdata: list[str]
) -> str:
    """``problems``: (source or "repository", result) of every check that is not OK."""
    if problems:
        shown = [
            (f"{who} {r.name}: {r.reason}" if who != r.name else f"{who}: {r.reason}")
            for who, r in problems[:MAX_PROBLEMS]
        ]
        more = len(problems) - MAX_PROBLEMS
        text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    else:
        text = ok_text
    text = text.replace("|", "/").replace("\n", " ")
    line = f"DBSEAL {status.name} - {text}"
    return line + (" | " + " ".join(perfdata) if perfdata else "")
