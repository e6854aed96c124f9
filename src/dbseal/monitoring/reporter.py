"""Events from the library to whoever shows them (the library itself never prints).

An event is a kind plus fields, e.g. ``("progress", {"bytes": 123})``. Kinds
used so far: ``backup.start``, ``progress``, ``backup.end``, ``restore.start``,
``restore.phase``, ``restore.swap``, ``restore.replaced``, ``restore.end``, ``warning``,
``storage.retry`` (op, attempt,
delay, error: a transient storage failure about to be retried; see
:mod:`dbseal.monitoring.retries`).
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any, Protocol, TextIO


class Reporter(Protocol):
    def event(self, kind: str, **fields: Any) -> None: ...


class NullReporter:
    def event(self, kind: str, **fields: Any) -> None:
        return None


class JsonLinesReporter:
    """One JSON object per event and line, for machines (``--json``); events may come from
    several threads (storage retries of a part upload), lines never interleave."""

    def __init__(self, stream: TextIO, min_interval_bytes: int = 64 << 20) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._next_progress = 0
        self._step = min_interval_bytes

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "progress":
            if fields.get("bytes", 0) < self._next_progress:
                return
            self._next_progress = fields.get("bytes", 0) + self._step
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        line = json.dumps({"time": now, "event": kind, **fields}, default=str) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()
