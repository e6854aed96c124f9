"""An optional event log (JSON lines, `dbseal --log-json FILE`): what it adds to the report.

The log's exact schema is documented with the log itself (docs/events.md); the report
relies only on a timestamp (``time``, ``ts`` or ``timestamp``), an event name (``event``)
and, when present, ``command`` and ``status``: a ``command.end`` with status ``ok`` of a
command that rotates, rewraps, retires, destroys, re-encrypts or shreds is a lifecycle
event (other ``command.*`` lines are not; library events named so count too). Lines that are not JSON
objects are counted and skipped; a missing file is an error the CLI reports.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dbseal.errors import InputError
from dbseal.report.collect import parse_time

# words in an event's name or command -> the key lifecycle kind the report shows
_KINDS = (
    ("rotate", "rotation"),
    ("rewrap", "rewrap"),
    ("retire", "retired"),
    ("destroy", "destroyed"),
    ("reencrypt", "reencrypt"),
    ("shred", "shred"),
)


def read_events(path: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The lifecycle events found, and a summary of the whole log."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the event log {path!r}: {exc.strerror}") from None
    import json

    found, kinds, bad = [], Counter[str](), 0
    first = last = None
    for line in lines:
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not isinstance(doc, dict):
            bad += 1
            continue
        when = parse_time(doc.get("time") or doc.get("ts") or doc.get("timestamp"))
        name = str(doc.get("event") or "")
        kinds[name or "?"] += 1
        if when is None:
            continue
        first = min(filter(None, [first, when]))
        last = max(filter(None, [last, when]))
        status = str(doc.get("status") or "ok")
        if name.startswith("command.") and (name != "command.end" or status != "ok"):
            continue  # a command counts once, when it ended well
        words = str(doc.get("command") or "") if name == "command.end" else name
        for word, kind in _KINDS:
            if word in words.lower() and status in ("ok", "success"):
                detail = doc.get("detail") if isinstance(doc.get("detail"), dict) else {}
                key = str(doc.get("key") or (detail or {}).get("key") or "")
                what = f"`dbseal {words}`" if name == "command.end" else name
                found.append(
                    {
                        "date": when.isoformat(),
                        "kind": kind,
                        "key": key,
                        "detail": what,
                        "via": "event log",
                    }
                )
                break
    summary = {
        "file": path,
        "lines": len(lines),
        "unreadable_lines": bad,
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
        "events": dict(sorted(kinds.items())),
    }
    return found, summary
