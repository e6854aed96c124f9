"""``-v``: events as human lines on standard error (phases, retries, hooks, pings)."""

from __future__ import annotations

import datetime
import threading
from typing import Any, TextIO

from dbseal.monitoring.redact import redact
from dbseal.monitoring.sizes import human_size

_SIZE_KEYS = ("bytes", "expected_bytes")


def describe(kind: str, fields: dict[str, Any]) -> str:
    """``backup.end id=20261207-... status=ok`` with sizes in IEC units and no secrets."""
    parts = [kind]
    for key, value in redact(fields).items():
        if value is None or value == [] or value == "":
            continue
        if key in _SIZE_KEYS and isinstance(value, int):
            value = human_size(value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return " ".join(parts)


class TextEventsReporter:
    """``dbseal: 22:48:53 backup.start id=...``; progress only from ``-vv`` on, every 64 MiB."""

    def __init__(self, stream: TextIO, verbosity: int = 1, step: int = 64 << 20) -> None:
        self._stream = stream
        self._verbosity = verbosity
        self._step = step
        self._next = 0
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "progress":
            n = fields.get("bytes", 0)
            if self._verbosity < 2 or n < self._next:
                return
            self._next = n + self._step
        now = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
        with self._lock:
            self._stream.write(f"dbseal: {now} {describe(kind, fields)}\n")
            self._stream.flush()
