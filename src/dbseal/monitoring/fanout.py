"""One reporter that hands every event to several (stdout JSON, the event log...)."""

from __future__ import annotations

from typing import Any

from dbseal.monitoring.reporter import NullReporter, Reporter


class FanOutReporter:
    """Each event to every reporter, in order; a reporter that is a NullReporter is skipped."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = [r for r in reporters if not isinstance(r, NullReporter)]

    def event(self, kind: str, **fields: Any) -> None:
        for reporter in self.reporters:
            reporter.event(kind, **fields)
