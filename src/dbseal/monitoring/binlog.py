"""The seam for binlog archiving (point-in-time recovery), which does not exist yet.

`dbseal check` asks a :class:`BinlogArchive` how far a source's archived binlogs
lag behind and whether they have gaps. Until archiving is implemented every
source gets :class:`NotConfigured`: the check says "not configured" and carries
no numbers (no lag, no gap count), so nothing fake reaches a dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dbseal.monitoring.status import Status


@dataclass(frozen=True)
class BinlogState:
    configured: bool = False
    reason: str = "binlog archiving not configured (point-in-time recovery is not available yet)"
    status: Status = Status.OK
    lag_s: float | None = None  # age of the newest archived event
    gaps: list[str] = field(default_factory=list)  # missing segments, e.g. "mysql-bin.000042"


class BinlogArchive(Protocol):
    """A source's archived binlogs, as `dbseal check` sees them."""

    def state(self, source: str, now: float) -> BinlogState: ...


class NotConfigured:
    def state(self, source: str, now: float) -> BinlogState:
        return BinlogState()
