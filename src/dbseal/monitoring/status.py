"""Check results: a status from the Nagios scale and a one-line reason.

:class:`Status` is ordered by severity as monitoring-plugins define it (0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN); the worst of several results is the one with
the highest value, except that a CRITICAL outranks UNKNOWN for the summary (a
known failure is more urgent than a check that could not run)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Status(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


_RANK = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status (OK for none); CRITICAL > UNKNOWN > WARNING > OK."""
    return max(statuses, key=_RANK.__getitem__, default=Status.OK)


@dataclass
class CheckResult:
    """One check of one source (or of the repository).

    ``configured`` False: the check has nothing to judge (no RTO set, escrow not
    required, binlog archiving not set up); its status is OK and it is left out of
    Nagios perfdata and the Prometheus status series. ``facts`` holds the measured
    values (timestamps as ISO 8601 UTC, durations in seconds, sizes in bytes)."""

    name: str
    status: Status
    reason: str
    configured: bool = True
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": self.status.name,
            "code": int(self.status),
            "reason": self.reason,
            "configured": self.configured,
            "facts": self.facts,
        }


def ok(name: str, reason: str, **facts: Any) -> CheckResult:
    return CheckResult(name, Status.OK, reason, True, facts)


def not_configured(name: str, reason: str, **facts: Any) -> CheckResult:
    return CheckResult(name, Status.OK, reason, False, facts)
