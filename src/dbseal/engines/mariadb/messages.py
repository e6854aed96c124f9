"""A client program's standard error: collected by a thread, bounded, and read line by line.

Never trust an exit status alone: every line is classified as it arrives, so an error
in the middle of gigabytes of messages is still counted. Lines that start (after the
program name) with ``Warning`` are warnings; lines naming an error, a failure, a denial
or a lost connection are errors; anything else is an unrecognised message, counted as a
warning rather than ignored.

The first :data:`KEEP_HEAD` bytes are kept whole and then only the last
:data:`KEEP_TAIL` bytes, with a note of how much was left out in between.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Literal

KEEP_HEAD = 16 << 20
KEEP_TAIL = 1 << 20
FIRST_LINES = 5
_READ = 1 << 16
_PROGRAM = re.compile(
    rb"^(?:[\w./-]*(?:mysqldump|mariadb-dump|mariadb|mysql)[\w.-]*:\s*)?(?:--\s*)?"
)
_ERROR = re.compile(
    rb"\b(?:error|errno|couldn't|could not|can't|cannot|denied|failed|failure|lost connection|"
    rb"aborted|unknown|fatal)\b",
    re.IGNORECASE,
)
_WARNING = re.compile(rb"^(?:warning|note|deprecated)\b", re.IGNORECASE)

Kind = Literal["error", "warning"]


def classify(line: bytes) -> Kind | None:
    """``error``, ``warning`` or None (an empty line)."""
    line = line.strip()
    if not line:
        return None
    rest = _PROGRAM.sub(b"", line, count=1)
    if _WARNING.match(rest):
        return "warning"
    if _ERROR.search(rest):
        return "error"
    return "warning"


@dataclass(frozen=True)
class MessageSummary:
    errors: int
    warnings: int
    first_errors: tuple[str, ...]
    first_warnings: tuple[str, ...]
    dropped_bytes: int = 0


class StderrCollector:
    """Drains a pipe in a daemon thread; :meth:`finish` joins it and returns the bytes."""

    def __init__(
        self,
        pipe: IO[bytes],
        name: str = "dbseal-stderr",
        classify_line: Callable[[bytes], Kind | None] = classify,
    ) -> None:
        self._classify = classify_line
        self._fd = pipe.fileno()
        self._pipe = pipe  # keeps the file object (and so the descriptor) alive
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._partial = b""
        self._counts = {"error": 0, "warning": 0}
        self._first: dict[str, list[str]] = {"error": [], "warning": []}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while block := os.read(self._fd, _READ):
                with self._lock:
                    self._keep(block)
                    self._lines(self._partial + block)
        except OSError:
            pass
        finally:
            with self._lock:
                self._lines(self._partial + b"\n")

    def _keep(self, block: bytes) -> None:
        room = max(0, KEEP_HEAD - len(self._head))
        self._head += block[:room]
        self._tail += block[room:]
        if len(self._tail) > KEEP_TAIL:
            cut = len(self._tail) - KEEP_TAIL
            self._dropped += cut
            del self._tail[:cut]

    def _lines(self, data: bytes) -> None:
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > KEEP_TAIL:  # one absurdly long line: judge it now
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            kind = self._classify(line)
            if kind is None:
                continue
            self._counts[kind] += 1
            if len(self._first[kind]) < FIRST_LINES:
                self._first[kind].append(line.strip()[:500].decode("utf-8", "replace"))

    def finish(self, timeout: float | None = None) -> tuple[bytes, MessageSummary]:
        """Wait for the end of the pipe; the kept bytes and the summary of all lines."""
        self._thread.join(timeout)
        with self._lock:
            data = bytes(self._head)
            if self._dropped:
                data += b"\n[... %d bytes left out ...]\n" % self._dropped
            data += bytes(self._tail)
            summary = MessageSummary(
                errors=self._counts["error"],
                warnings=self._counts["warning"],
                first_errors=tuple(self._first["error"]),
                first_warnings=tuple(self._first["warning"]),
                dropped_bytes=self._dropped,
            )
        return data, summary
