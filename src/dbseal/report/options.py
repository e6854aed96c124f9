"""What a report covers and the objectives it measures against."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

FACTS_VERSION = 1
DEFAULT_PERIOD = datetime.timedelta(days=365)
DEFAULT_MAX_AGE = datetime.timedelta(hours=26)


@dataclass(frozen=True)
class ReportOptions:
    """The period (``since`` <= started < ``until``), the sources, and the objectives.

    ``max_age``: a gap between two backups of a source longer than this is reported.
    ``rto``: the recovery-time objective restore times are measured against (None: none set).
    ``rotation_days``: a key version in use for new backups older than this is overdue.
    ``escrow``: age1... recipients that count as escrow; empty: any x25519 (offline age)
    recipient beside another recipient counts.
    """

    since: datetime.datetime
    until: datetime.datetime
    sources: tuple[str, ...] = ()
    max_age: datetime.timedelta = DEFAULT_MAX_AGE
    rto: datetime.timedelta | None = None
    rotation_days: int = 365
    escrow: tuple[str, ...] = field(default_factory=tuple)
