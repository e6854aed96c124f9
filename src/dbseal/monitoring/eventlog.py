"""The event log: versioned JSON lines for log shippers (the schema is docs/events.md).

:class:`EventRecorder` is a :class:`~dbseal.monitoring.reporter.Reporter`: it turns
every event (the library's and the CLI's own ``command.*``, ``hook.*``, ``ping.*``)
into one record with the common fields, redacts secrets, and hands the record to its
sinks: an :class:`AppendFile` (``--log-json``), a human console (``-v``), and an
in-memory tail (the last lines, for a failure ping's body).
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

from dbseal.monitoring.redact import redact

SCHEMA_VERSION = 1

# library field -> top-level record field; every other field goes into "detail"
_TOP = {
    "id": "backup_id",
    "backup_id": "backup_id",
    "bytes": "bytes",
    "status": "status",
    "source": "source",
    "duration_s": "duration_s",
    "exit_code": "exit_code",
    "error_class": "error_class",
    "error": "error",
    "hint": "hint",
}
_QUIET_KINDS = {"progress"}  # too many for a log: counted into the command's bytes instead

Sink = Callable[[dict[str, Any], str], None]


def utc_stamp() -> str:
    """``2026-12-07T22:48:53.123Z``"""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class AppendFile:
    """Lines appended to a file shared with other dbseal runs.

    Opened with ``O_APPEND`` and each line written with one ``write(2)``, so lines of
    concurrent runs never interleave; created ``0640`` (its directory ``0750``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o750, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o640)

    problem: str | None = None  # the first failed write (a full disk): later lines are dropped

    def write(self, line: str) -> None:
        """Never raises: an event log that cannot be written must not fail a backup."""
        if self.problem is not None:
            return
        try:
            os.write(self._fd, line.encode("utf-8"))
        except OSError as exc:
            self.problem = exc.strerror or str(exc)

    def close(self) -> None:
        os.close(self._fd)


class EventRecorder:
    """Every event of one command run as a versioned record (see the module doc)."""

    def __init__(self, command: str, tail_lines: int = 20) -> None:
        self.command = command
        self.run_id = secrets.token_hex(8)
        self.sinks: list[Sink] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self.backup_ids: list[str] = []
        self.source: str | None = None
        self.bytes: int | None = None
        self._progress = 0
        self._seq = 0
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        self._note(kind, fields)
        if kind in _QUIET_KINDS:
            return
        with self._lock:
            self._seq += 1
            record = self._record(self._seq, kind, fields)
            line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
            self.tail.append(line)
            for sink in self.sinks:
                sink(record, line)

    def _note(self, kind: str, fields: dict[str, Any]) -> None:
        """Facts for the command's summary: backup ids, source, bytes."""
        bid = fields.get("id") or fields.get("backup_id")
        known = isinstance(bid, str) and bid in self.backup_ids
        if (
            kind.startswith(("backup.", "restore.end", "verify.end"))
            and isinstance(bid, str)
            and not known
        ):
            self.backup_ids.append(bid)
        if kind == "progress" and isinstance(fields.get("bytes"), int):
            self._progress = max(self._progress, fields["bytes"])
        if kind == "backup.end" and isinstance(fields.get("bytes"), int):
            self.bytes = fields["bytes"]
        if kind == "backup.end" and isinstance(fields.get("source"), str):
            self.source = fields["source"]

    @property
    def summary_bytes(self) -> int | None:
        return self.bytes if self.bytes is not None else (self._progress or None)

    def _record(self, seq: int, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "seq": seq,
            "run": self.run_id,
            "time": utc_stamp(),
            "pid": os.getpid(),
            "command": self.command,
            "event": kind,
        }
        detail: dict[str, Any] = {}
        for key, value in fields.items():
            if value is None:
                continue
            top = _TOP.get(key)
            if top is not None and top not in record:
                record[top] = value
            else:
                detail[key] = value
        if detail:
            record["detail"] = detail
        out: dict[str, Any] = redact(record)
        return out
