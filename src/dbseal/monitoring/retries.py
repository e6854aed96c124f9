"""Storage retries as ``storage.retry`` events, counted for the command's summary."""

from __future__ import annotations

import threading
from typing import Any

from dbseal.monitoring.reporter import Reporter


class StorageRetries:
    """Reports each retry of ``backend``'s retrier (if it has one) and counts them.

    Events: ``storage.retry`` with ``op``, ``attempt``, ``delay`` (seconds
    about to be waited) and ``error`` (the failure's one-line message). They may
    come from a worker thread (S3 part uploads).
    """

    def __init__(self, reporter: Reporter, backend: Any = None) -> None:
        self._reporter = reporter
        self._lock = threading.Lock()
        self.count = 0
        retrier = getattr(backend, "retrier", None)
        if retrier is not None and hasattr(retrier, "listen"):
            retrier.listen(self._on_retry)

    def _on_retry(self, op: str, attempt: int, delay: float, error: Any) -> None:
        with self._lock:
            self.count += 1
        message = getattr(error, "message", None) or str(error)
        self._reporter.event(
            "storage.retry", op=op, attempt=attempt, delay=round(delay, 3), error=message
        )

    def summary(self) -> str:
        """``", 3 storage retries"`` for a human summary line, or ``""`` when there were none."""
        n = self.count
        return f", {n} storage retr{'y' if n == 1 else 'ies'}" if n else ""
